"""A throw-away PostgreSQL cluster with the TechEmpower schema, for the benchmark and its tests.

``initdb`` in a fresh temporary folder, the server listening only on a Unix socket in
that folder, the ``hello_world`` database with ``World`` (10,000 rows) and ``Fortune``
(TechEmpower's 12 rows), and ``pg_stat_statements`` loaded so that a verifier can count
the statements an app ran. ``stop()`` ends the server and removes the folder.

PostgreSQL refuses to run as root; as root (this machine and CI) the cluster's
programs run as the ``postgres`` system user that Debian's package creates, on a
folder that user owns. The binaries are found in ``$PYRE_PG_BIN`` or
``/usr/lib/postgresql/<version>/bin`` (15 preferred, as Debian 12 ships).

    with PostgresCluster() as db:
        print(db.dsn)                       # for asyncpg
        print(db.query("SELECT count(*) FROM world"))
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, List, Optional, Sequence

from bench.tfb.rules import FORTUNES, WORLD_ROWS

DB_NAME = "hello_world"
DB_USER = "benchmarkdbuser"
DB_PASSWORD = "benchmarkdbpass"
SUPERUSER = "postgres"
PORT = 5432  # names the socket file only: the server listens on no TCP address
PREFERRED_VERSION = "15"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

# TechEmpower's own setting for its PostgreSQL (its postgresql.conf); the rest are defaults.
SETTINGS = {
    "synchronous_commit": "off",
    "max_connections": "200",
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.track": "top",
}


class PostgresError(RuntimeError):
    """The cluster could not be created, started, queried or stopped (the message says why)."""


def find_bin_dir() -> Optional[Path]:
    """The folder holding ``initdb``, ``postgres`` and ``psql``, or None if PostgreSQL is absent."""
    env = os.environ.get("PYRE_PG_BIN")
    if env:
        return Path(env) if (Path(env) / "postgres").exists() else None
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                   key=lambda p: (p.parent.parent.name != PREFERRED_VERSION, -_major(p.parent.parent.name)))
    return found[0].parent if found else None


def _major(name: str) -> int:
    return int(name) if name.isdigit() else 0


def schema_sql() -> str:
    """TechEmpower's schema and data (``create-postgres.sql``), for the ``hello_world`` database."""
    fortunes = ",\n".join(f"  ({fid}, {_sql_string(message)})" for fid, message in FORTUNES)
    return f"""
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE World (
  id integer NOT NULL,
  randomNumber integer NOT NULL DEFAULT 0,
  PRIMARY KEY (id)
);
INSERT INTO World (id, randomNumber)
  SELECT x.id, least(floor(random() * {WORLD_ROWS} + 1), {WORLD_ROWS}) FROM generate_series(1, {WORLD_ROWS}) AS x(id);
CREATE TABLE Fortune (
  id integer NOT NULL,
  message varchar(2048) NOT NULL,
  PRIMARY KEY (id)
);
INSERT INTO Fortune (id, message) VALUES
{fortunes};
GRANT ALL PRIVILEGES ON World, Fortune TO {DB_USER};
ANALYZE;
"""


def _sql_string(text: str) -> str:
    quote = "'"
    return quote + text.replace(quote, quote * 2) + quote


class PostgresCluster:
    """One PostgreSQL server in a temporary folder, reachable on a Unix socket there."""

    def __init__(self, bin_dir: Optional[Path] = None, cpu: Optional[str] = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise PostgresError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres; "
                                "apt-get install postgresql, or set PYRE_PG_BIN)")
        self.bin_dir = Path(found)
        self.cpu = cpu  # a taskset CPU list for the server and its backends, or None
        self.base: Optional[Path] = None
        self.proc: Optional[subprocess.Popen] = None
        self._log: Optional[IO[bytes]] = None
        self._user = self._run_as()

    # -- where things are -----------------------------------------------------------------

    @property
    def socket_dir(self) -> str:
        if self.base is None:
            raise PostgresError("the cluster is not started")
        return str(self.base)

    @property
    def dsn(self) -> str:
        """The app's connection string (asyncpg and libpq read ``host`` as the socket folder)."""
        return f"postgresql://{DB_USER}:{DB_PASSWORD}@/{DB_NAME}?host={self.socket_dir}&port={PORT}"

    @property
    def pid(self) -> int:
        """The postmaster's PID; its backends are its children (each in a session of its own)."""
        if self.proc is None:
            raise PostgresError("the cluster is not started")
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return Path(self.socket_dir) / "postgres.log"

    def version(self) -> str:
        out = subprocess.run([str(self.bin_dir / "postgres"), "--version"], capture_output=True, text=True)
        return out.stdout.strip() or out.stderr.strip()

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> "PostgresCluster":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """initdb, start the server, wait until it answers, create the TFB database."""
        if self.proc is not None:
            raise PostgresError("the cluster is already started")
        self.base = Path(tempfile.mkdtemp(prefix="pyre-tfb-pg-"))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        assert self.base is not None
        data = self.base / "data"
        if self._user is not None:
            os.chown(self.base, self._user.pw_uid, self._user.pw_gid)
        # Others may pass through to the socket; the data folder itself is initdb's (0700).
        os.chmod(self.base, 0o755)
        self._as_owner([str(self.bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                        "--locale=C", "--no-sync", "--no-instructions"], "initdb")
        settings = {"listen_addresses": "''", "port": str(PORT), "unix_socket_directories": f"'{self.base}'",
                    **SETTINGS}
        with open(data / "postgresql.conf", "a") as conf:
            conf.write("\n# pyre bench/tfb\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        self._log = open(self.log_path, "ab")
        pin = ["taskset", "-c", self.cpu] if self.cpu else []
        self.proc = subprocess.Popen(
            [*pin, str(self.bin_dir / "postgres"), "-D", str(data)], cwd=str(self.base), stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, **self._owner_kwargs())
        self._wait_ready()
        self.query(f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}'", db="postgres")
        self.query(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER} ENCODING 'UTF8' TEMPLATE template0", db="postgres")
        self.query(schema_sql())

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PostgresError(f"postgres exited with code {self.proc.returncode}: {self.log_tail()}")
            try:
                self.query("SELECT 1", db="postgres")
                return
            except PostgresError as exc:
                last = str(exc)
                time.sleep(0.1)
        raise PostgresError(f"postgres did not answer within {START_TIMEOUT:.0f}s ({last}): {self.log_tail()}")

    def stop(self) -> None:
        """Stop the server (fast shutdown, then harder) and remove its folder. Idempotent."""
        proc, self.proc = self.proc, None
        try:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGQUIT)  # "immediate" shutdown
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        proc.kill()  # its backends exit when they see the postmaster gone
                        proc.wait(5)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
            if self.base is not None:
                shutil.rmtree(self.base, ignore_errors=True)
                self.base = None

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except (OSError, PostgresError):
            return "(no log)"
        return " | ".join(text[-lines:])

    # -- queries --------------------------------------------------------------------------

    def query(self, sql: str, db: str = DB_NAME) -> List[List[str]]:
        """Run SQL as the superuser with psql; the rows of the last statement, as text fields."""
        cmd = [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
               "-h", self.socket_dir, "-p", str(PORT), "-U", SUPERUSER, "-d", db, "-f", "-"]
        try:
            out = subprocess.run(cmd, input=sql, capture_output=True, encoding="utf-8", timeout=60,
                                 env={**os.environ, "PGCONNECT_TIMEOUT": "5", "PGCLIENTENCODING": "UTF8"})
        except subprocess.TimeoutExpired:
            raise PostgresError(f"psql did not finish within 60 s: {sql[:80]!r}") from None
        if out.returncode != 0:
            raise PostgresError(f"psql: {out.stderr.strip() or out.stdout.strip()}")
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    # -- running as the postgres user -----------------------------------------------------

    @staticmethod
    def _run_as() -> Optional[pwd.struct_passwd]:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresError("PostgreSQL refuses to run as root and there is no 'postgres' system user "
                                "(Debian's postgresql package creates it)") from None

    def _owner_kwargs(self) -> dict:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": [],
                "env": {**os.environ, "HOME": self._user.pw_dir, "USER": "postgres", "LOGNAME": "postgres"}}

    def _as_owner(self, cmd: Sequence[str], what: str) -> None:
        out = subprocess.run(list(cmd), cwd=str(self.base), capture_output=True, text=True, timeout=120,
                             **self._owner_kwargs())
        if out.returncode != 0:
            raise PostgresError(f"{what} failed (exit {out.returncode}): {_tail(out.stderr or out.stdout)}")


def _tail(text: str, lines: int = 6) -> str:
    return " | ".join(re.sub(r"\s+", " ", ln).strip() for ln in text.strip().splitlines()[-lines:])
