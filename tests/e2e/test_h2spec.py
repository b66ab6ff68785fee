"""h2spec (the HTTP/2 conformance suite, 146 cases) against Pyre, over h2c and over TLS.

h2spec is built in CI by ``../shared/tools/h2spec/build.sh`` (see ``.ci/run``); on a
failure the test prints h2spec's own report of the failing cases."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from typing import List, Tuple

import pytest

from tests.e2e.test_tls import pki, tls_settings  # noqa: F401 (pki: a fixture)
from tests.e2e.tools import require_tool, run_tool

CASES = 146
# In --http auto, a cleartext connection speaks HTTP/1.1 until the client's HTTP/2
# preface arrives: an invalid preface is an invalid HTTP/1.1 request line, answered
# 400 (RFC 9112), which h2spec takes for a missing GOAWAY. With --http h2 it passes.
HTTP1_FIRST = {"http2/3.5/2"}


async def app(scope, receive, send):
    """What h2spec requests: any path, a body of at least 5 bytes."""
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello from pyre\n"})


def results(report: str) -> Tuple[int, List[str]]:
    """(number of cases, ids of those that did not pass) from h2spec's JUnit report."""
    cases, failed = 0, []
    for suite in ElementTree.parse(report).getroot().iter("testsuite"):
        for number, case in enumerate(suite.iter("testcase"), 1):
            cases += 1
            if case.find("failure") is not None or case.find("error") is not None or case.find("skipped") is not None:
                failed.append(f"{suite.get('package')}/{number}")
    return cases, failed


async def run_h2spec(port: int, tmp_path, *flags: str) -> Tuple[int, List[str], str]:
    h2spec = require_tool("h2spec")
    report = str(tmp_path / "h2spec.xml")
    code, out, err = await run_tool(h2spec, "-h", "127.0.0.1", "-p", str(port), "-o", "5", "-j", report, *flags,
                                    timeout=600)
    text = out.decode(errors="replace") + err.decode(errors="replace")
    failures = text[text.find("Failures:"):] if "Failures:" in text else text[-5000:]
    cases, failed = results(report)
    return cases, failed, failures


@pytest.mark.parametrize("http", ["h2", "auto"])
async def test_h2spec_over_h2c(serve, tmp_path, http):
    server = await serve(app, http=http, access_log=False)
    cases, failed, report = await run_h2spec(server.bound_port, tmp_path)
    assert cases == CASES, report
    expected = HTTP1_FIRST if http == "auto" else set()
    assert set(failed) == expected, report


async def test_h2spec_over_tls(serve, tmp_path, pki):
    server = await serve(app, access_log=False, **tls_settings(pki))
    cases, failed, report = await run_h2spec(server.bound_port, tmp_path, "--tls", "--insecure")
    assert (cases, failed) == (CASES, []), report
