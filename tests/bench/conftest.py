"""A throw-away PostgreSQL with the TFB schema for the whole session, and TFB apps on Pyre."""

from __future__ import annotations

import os
import re
from typing import Callable

import pytest

from bench.tfb.common import DSN_ENV, POOL_SIZE_ENV
from bench.tfb.database import PostgresCluster, find_bin_dir
from tests.e2e.cli import Running, start_cli  # noqa: F401  (start_cli is a fixture)


@pytest.fixture(scope="session")
def tfb_database():
    """PostgreSQL started for the tests (initdb in a temporary folder, a Unix socket there,
    run as the postgres user under root) and stopped at the end."""
    if find_bin_dir() is None:
        if os.environ.get("REQUIRE_TEST_TOOLS"):
            pytest.fail("PostgreSQL is not installed (apt-get install postgresql) and REQUIRE_TEST_TOOLS is set")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    cluster = PostgresCluster()
    cluster.start()
    pid, folder = cluster.pid, cluster.base
    try:
        yield cluster
    finally:
        cluster.stop()
    assert not os.path.exists(f"/proc/{pid}") and folder is not None and not folder.exists(), \
        "PostgreSQL was not stopped and removed"


@pytest.fixture
def serve_tfb(start_cli, tfb_database) -> Callable[..., "TFBServer"]:
    """``serve_tfb("bench.tfb.apps.bare:app", *pyre_args)``: the app on Pyre, on the test database."""

    def serve(app: str, *args: str) -> TFBServer:
        running = start_cli(app, "--port", "0", "--no-access-log", *args,
                            env={DSN_ENV: tfb_database.dsn, POOL_SIZE_ENV: "4"})
        return TFBServer(running)

    return serve


class TFBServer:
    def __init__(self, running: Running) -> None:
        self.running = running
        match = re.search(r":(\d+)$", running.url or "")
        assert match, f"no port in {running.url!r}"
        self.port = int(match.group(1))

    def stop(self) -> None:
        assert self.running.stop() == 0, "".join(self.running.output)
