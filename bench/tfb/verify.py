"""Check a running server against the TechEmpower test types' output rules.

Used by the benchmark's pre-flight (``bench/tfb/run.py`` measures no server that fails it)
and by the tests (tests/bench/test_tfb.py). Every check returns a list of problems, one
readable line each; an empty list means the server follows the rules.

- Every response: status 200, a ``Server`` header, a valid ``Date`` that changes between
  requests seconds apart, the test type's ``Content-Type``, ``Content-Length`` or chunked.
- json: exactly ``{"message": "Hello, World!"}``; plaintext: ``Hello, World!``, also with
  16 requests pipelined on one connection.
- db, queries, updates: World objects ``{"id", "randomNumber"}`` with both in 1..10000,
  an array for queries and updates, ``queries`` clamped to 1..500 (missing, empty,
  ``foo``, 0 and -1 give one row, 501 gives 500).
- fortunes: an HTML table of the 12 rows plus the one added at request time, sorted by
  message, the ``<script>`` row escaped, the Japanese row intact, UTF-8.
- With the database at hand (``db``, a ``PostgresCluster``): the rows returned are the
  rows stored; updates are persisted; and ``pg_stat_statements`` shows one statement per
  World row read (no ``WHERE id IN``), one row written per update, one fortune query.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple
from urllib.parse import parse_qs, urlsplit

from bench.run import HOST, verify_pipeline
from bench.tfb.rules import (
    ADDITIONAL_FORTUNE,
    CONTENT_TYPES,
    FORTUNES,
    JSON_MESSAGE,
    PIPELINE_DEPTH,
    PLAINTEXT_BODY,
    WORLD_ROWS,
    expected_fortunes,
    queries_count,
)

DATE_GAP = 1.1  # seconds between the two requests whose Date headers must differ
DATE_RETRY = 1.0  # one more wait if they did not (a server refreshing its Date on a timer)
_IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                          r"\d{4} \d{2}:\d{2}:\d{2} GMT$")
# (query string, rows expected): TechEmpower's verifier cases plus the empty value.
CLAMP_CASES: Tuple[Tuple[str, int], ...] = (("", 1), ("?queries=", 1), ("?queries=foo", 1), ("?queries=0", 1),
                                            ("?queries=-1", 1), ("?queries=501", 500), ("?queries=1", 1),
                                            ("?queries=20", 20))
COUNTED_QUERIES = 20  # the request whose statements are counted


class Database(Protocol):
    """What the verifier needs of the database: SQL as the superuser, rows as text fields."""

    def query(self, sql: str) -> List[List[str]]: ...


@dataclass
class Reply:
    target: str
    status: int
    headers: Dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    at: float = field(default_factory=time.monotonic)


class Client:
    """One keep-alive HTTP/1.1 connection to the server, reopened if the server closes it."""

    def __init__(self, port: int, host: str = HOST, timeout: float = 15.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._conn: Optional[http.client.HTTPConnection] = None

    def get(self, target: str) -> Reply:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request("GET", target)
                response = self._conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
                continue
            headers: Dict[str, str] = {}
            for name, value in response.getheaders():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            if response.will_close:
                self.close()
            return Reply(target, response.status, headers, body)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# One response
# --------------------------------------------------------------------------------------------


def check_headers(reply: Reply, kind: str) -> List[str]:
    """Status 200, Server, a valid Date, the kind's Content-Type, Content-Length or chunked."""
    where = reply.target
    problems = []
    if reply.status != 200:
        problems.append(f"{where}: status {reply.status}, expected 200 (body {reply.body[:120]!r})")
    if not reply.headers.get("server"):
        problems.append(f"{where}: no Server header")
    date = reply.headers.get("date")
    if not date:
        problems.append(f"{where}: no Date header")
    elif not _IMF_FIXDATE.match(date):
        problems.append(f"{where}: Date {date!r} is not an IMF-fixdate (e.g. 'Sun, 06 Nov 1994 08:49:37 GMT')")
    content_type = reply.headers.get("content-type")
    if content_type is None:
        problems.append(f"{where}: no Content-Type header")
    elif not re.match(CONTENT_TYPES[kind], content_type):
        problems.append(f"{where}: Content-Type {content_type!r} does not match {CONTENT_TYPES[kind]!r}")
    if "content-length" not in reply.headers and "chunked" not in reply.headers.get("transfer-encoding", ""):
        problems.append(f"{where}: neither Content-Length nor chunked Transfer-Encoding")
    return problems


def check_date_changes(first: Reply, second: Reply) -> List[str]:
    d1, d2 = first.headers.get("date"), second.headers.get("date")
    if d1 is None or d2 is None:
        return []  # already reported by check_headers
    if d1 == d2:
        return [f"Date did not change between requests {second.at - first.at:.1f} s apart ({d1!r}): "
                "it must be live, not cached"]
    try:
        skew = abs(email.utils.parsedate_to_datetime(d2).timestamp() - time.time())
    except (TypeError, ValueError):
        return []
    if skew > 120:
        return [f"Date {d2!r} is {skew:.0f} s away from this machine's clock"]
    return []


def check_json(reply: Reply) -> List[str]:
    problems = check_headers(reply, "json")
    try:
        value = json.loads(reply.body)
    except ValueError:
        return problems + [f"{reply.target}: body is not JSON: {reply.body[:120]!r}"]
    if value != JSON_MESSAGE:
        problems.append(f"{reply.target}: body is {value!r}, expected exactly {JSON_MESSAGE!r}")
    return problems


def check_plaintext(reply: Reply) -> List[str]:
    problems = check_headers(reply, "plaintext")
    if reply.body != PLAINTEXT_BODY:
        problems.append(f"{reply.target}: body is {reply.body[:120]!r}, expected {PLAINTEXT_BODY!r}")
    return problems


def check_world(value: Any, where: str) -> List[str]:
    """One World object: exactly ``id`` and ``randomNumber``, integers in 1..10000."""
    if not isinstance(value, dict):
        return [f"{where}: expected a World object, got {value!r:.80}"]
    if set(value) != {"id", "randomNumber"}:
        return [f"{where}: World object has keys {sorted(value)}, expected ['id', 'randomNumber']"]
    problems = []
    for key in ("id", "randomNumber"):
        number = value[key]
        if type(number) is not int:
            problems.append(f"{where}: {key} is {number!r}, not an integer")
        elif not 1 <= number <= WORLD_ROWS:
            problems.append(f"{where}: {key} {number} is outside 1..{WORLD_ROWS}")
    return problems


def check_db(reply: Reply) -> Tuple[List[str], List[Dict[str, int]]]:
    """The db test: one World object (not an array). Returns (problems, [the object])."""
    problems = check_headers(reply, "json")
    try:
        value = json.loads(reply.body)
    except ValueError:
        return problems + [f"{reply.target}: body is not JSON: {reply.body[:120]!r}"], []
    found = check_world(value, reply.target)
    return problems + found, [] if found else [value]


def check_worlds(reply: Reply, expected: int) -> Tuple[List[str], List[Dict[str, int]]]:
    """queries and updates: an array of ``expected`` World objects. Returns (problems, worlds)."""
    problems = check_headers(reply, "json")
    try:
        value = json.loads(reply.body)
    except ValueError:
        return problems + [f"{reply.target}: body is not JSON: {reply.body[:120]!r}"], []
    if not isinstance(value, list):
        return problems + [f"{reply.target}: expected a JSON array of World objects, got {value!r:.80}"], []
    if len(value) != expected:
        problems.append(f"{reply.target}: {len(value)} World objects, expected {expected}")
    bad = [p for i, item in enumerate(value) for p in check_world(item, f"{reply.target} [{i}]")]
    problems += bad[:5] + ([f"{reply.target}: ... and {len(bad) - 5} more"] if len(bad) > 5 else [])
    return problems, [] if bad else value


class _FortuneTable(HTMLParser):
    """The title and the table rows of a fortunes page, as (cell text, tag) pairs, unescaped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.rows: List[List[Tuple[str, str]]] = []
        self._row: Optional[List[Tuple[str, str]]] = None
        self._cell: Optional[List[str]] = None
        self._cell_tag = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell, self._cell_tag = [], tag

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(("".join(self._cell).strip(), tag))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._cell is not None:
            self._cell.append(data)


def check_fortunes(reply: Reply) -> List[str]:
    where = reply.target
    problems = check_headers(reply, "html")
    try:
        page = reply.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return problems + [f"{where}: body is not UTF-8 ({exc})"]
    if "<script>" in page:
        problems.append(f"{where}: the <script> fortune is not HTML-escaped")
    if not page.lstrip().lower().startswith("<!doctype html>"):
        problems.append(f"{where}: the page does not start with <!DOCTYPE html>")
    table = _FortuneTable()
    table.feed(page)
    table.close()
    if table.title.strip() != "Fortunes":
        problems.append(f"{where}: title is {table.title.strip()!r}, expected 'Fortunes'")
    rows = table.rows
    if not rows or rows[0] != [("id", "th"), ("message", "th")]:
        problems.append(f"{where}: the table does not start with the header row <th>id</th><th>message</th>")
    else:
        rows = rows[1:]
    got = [(cells[0][0], cells[1][0]) if len(cells) == 2 and all(t == "td" for _, t in cells) else ("?", repr(cells))
           for cells in rows]
    want = [(str(fid), message) for fid, message in expected_fortunes()]
    if got != want:
        missing = [row for row in want if row not in got]
        extra = [row for row in got if row not in want]
        japanese = (str(FORTUNES[-1][0]), FORTUNES[-1][1])
        if japanese in missing:
            problems.append(f"{where}: the Japanese fortune is missing or altered")
        if (str(ADDITIONAL_FORTUNE[0]), ADDITIONAL_FORTUNE[1]) in missing:
            problems.append(f"{where}: the fortune added at request time is missing")
        if missing or extra:
            problems.append(f"{where}: rows differ from the {len(want)} expected: missing {missing[:3]}, "
                            f"unexpected {extra[:3]}")
        else:
            problems.append(f"{where}: rows are not sorted by message: {[m[:12] for _, m in got]}")
    return problems


def check_reply(reply: Reply) -> List[str]:
    """The rules of whatever test type ``reply.target`` names (its path and ``queries``)."""
    url = urlsplit(reply.target)
    if url.path == "/json":
        return check_json(reply)
    if url.path == "/plaintext":
        return check_plaintext(reply)
    if url.path == "/db":
        return check_db(reply)[0]
    if url.path in ("/queries", "/updates"):
        values = parse_qs(url.query, keep_blank_values=True).get("queries")
        return check_worlds(reply, queries_count(values[0] if values else None))[0]
    if url.path == "/fortunes":
        return check_fortunes(reply)
    raise ValueError(f"no TechEmpower test type is served at {reply.target!r}")


def check_pipelined_plaintext(port: int, depth: int = PIPELINE_DEPTH) -> List[str]:
    problem = verify_pipeline(port, depth, "/plaintext", PLAINTEXT_BODY)
    return [f"/plaintext, {depth} pipelined: {problem}"] if problem else []


# --------------------------------------------------------------------------------------------
# The database side
# --------------------------------------------------------------------------------------------


class Statements:
    """What the app's database user ran, from ``pg_stat_statements``: (calls, rows) per
    ``(command, table)``, e.g. ``("select", "world")``."""

    def __init__(self, db: Database, user: str = "benchmarkdbuser") -> None:
        self.db = db
        self.user = user

    def reset(self) -> None:
        self.db.query("SELECT pg_stat_statements_reset()")

    def counts(self) -> Dict[Tuple[str, str], Tuple[int, int]]:
        rows = self.db.query("SELECT s.query, s.calls, s.rows FROM pg_stat_statements s "
                             f"JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = '{self.user}'")
        out: Dict[Tuple[str, str], Tuple[int, int]] = {}
        for sql, calls, nrows in rows:
            text = sql.lower()
            command = text.split(None, 1)[0] if text.strip() else ""
            for table in ("world", "fortune"):
                if re.search(rf'\b{table}\b', text):
                    c, r = out.get((command, table), (0, 0))
                    out[(command, table)] = (c + int(calls), r + int(nrows))
        return out


def stored_numbers(db: Database, ids: Sequence[int]) -> Dict[int, int]:
    if not ids:
        return {}
    rows = db.query(f"SELECT id, randomnumber FROM world WHERE id IN ({','.join(str(int(i)) for i in set(ids))})")
    return {int(i): int(n) for i, n in rows}


def check_stored(db: Database, worlds: List[Dict[str, int]], where: str) -> List[str]:
    """The numbers returned are the numbers stored (read back from PostgreSQL)."""
    stored = stored_numbers(db, [w["id"] for w in worlds])
    last = {w["id"]: w["randomNumber"] for w in worlds}  # an id returned twice: its last value was written last
    wrong = [(i, n, stored.get(i)) for i, n in last.items() if stored.get(i) != n]
    if wrong:
        return [f"{where}: {len(wrong)} of {len(last)} rows differ from PostgreSQL "
                f"(id, returned, stored): {wrong[:3]}"]
    return []


# --------------------------------------------------------------------------------------------
# A whole server
# --------------------------------------------------------------------------------------------


def verify_server(port: int, db: Optional[Database] = None) -> List[str]:
    """Every rule of every test type against the server on the loopback ``port``; [] if it follows them.

    With ``db`` (the server's database, queried as the superuser, with no other client
    using it meanwhile) the stored data and the statements run are checked too.
    """
    problems: List[str] = []
    with Client(port) as client:
        first = client.get("/plaintext")
        problems += check_plaintext(first)
        problems += check_json(client.get("/json"))
        problems += check_pipelined_plaintext(port)
        problems += _verify_db(client, db)
        for path in ("/queries", "/updates"):
            for query, expected in CLAMP_CASES:
                problems += check_worlds(client.get(path + query), expected)[0]
        problems += _verify_counted(client, db)
        problems += check_fortunes(client.get("/fortunes"))
        if db is not None:
            statements = Statements(db)
            statements.reset()
            problems += check_fortunes(client.get("/fortunes"))
            calls, rows = statements.counts().get(("select", "fortune"), (0, 0))
            if (calls, rows) != (1, len(FORTUNES)):
                problems.append(f"/fortunes: expected one query reading the {len(FORTUNES)} Fortune rows, "
                                f"PostgreSQL counted {calls} quer(ies) returning {rows} row(s)")
        time.sleep(max(0.0, first.at + DATE_GAP - time.monotonic()))
        second = client.get("/plaintext")
        if second.headers.get("date") == first.headers.get("date"):
            time.sleep(DATE_RETRY)
            second = client.get("/plaintext")
        problems += check_date_changes(first, second)
    return problems


def _verify_db(client: Client, db: Optional[Database]) -> List[str]:
    reply = client.get("/db")
    problems, worlds = check_db(reply)
    if db is not None and worlds:
        problems += check_stored(db, worlds, reply.target)
    return problems


def _verify_counted(client: Client, db: Optional[Database]) -> List[str]:
    """queries=20 and updates=20: the rows match PostgreSQL, updates persist, one query per row."""
    if db is None:
        return []
    n = COUNTED_QUERIES
    statements = Statements(db)
    problems, _, _ = _counted(client, statements, f"/queries?queries={n}", n)

    before = {int(i): int(v) for i, v in db.query("SELECT id, randomnumber FROM world")}
    target = f"/updates?queries={n}"
    found, worlds, counted = _counted(client, statements, target, n)
    problems += found
    written = counted.get(("update", "world"), (0, 0))[1]
    if written != n:
        problems.append(f"{target}: PostgreSQL counted {written} World row(s) updated, expected {n}")
    if worlds:
        changed = sum(1 for w in worlds if before.get(w["id"]) != w["randomNumber"])
        if changed < 0.9 * n:
            problems.append(f"{target}: only {changed} of {n} rows got a new randomNumber")
    return problems


def _counted(client: Client, statements: Statements, target: str,
             n: int) -> Tuple[List[str], List[Dict[str, int]], Dict[Tuple[str, str], Tuple[int, int]]]:
    """One request for ``n`` World rows, with the statements it ran counted: (problems, worlds, counts)."""
    statements.reset()
    reply = client.get(target)
    problems, worlds = check_worlds(reply, n)
    counted = statements.counts()
    problems += _expect_reads(counted, n, target)
    if worlds:
        problems += check_stored(statements.db, worlds, target)
    return problems, worlds, counted


def _expect_reads(counted: Dict[Tuple[str, str], Tuple[int, int]], n: int, where: str) -> List[str]:
    calls, rows = counted.get(("select", "world"), (0, 0))
    if calls != n or rows != n:
        return [f"{where}: expected {n} queries reading one World row each, PostgreSQL counted {calls} "
                f"quer(ies) returning {rows} row(s) (every row must be its own query)"]
    return []
