"""The Autobahn TestSuite's WebSocket cases, run by kosoku against an embedded server.

kosoku's fuzzing client drives the Autobahn case files against a Pyre server serving an
echo application (``bench/autobahn.py``, which also prints the full results table).
Every case must end OK, NON-STRICT or INFORMATIONAL, and close OK or INFORMATIONAL.

- Sections 1-7 (framing, pings, reserved bits, opcodes, fragmentation, UTF-8, closing),
  9 (limits, up to 16 MiB messages) and 10: every case, about 15 s.
- Sections 12 and 13 (permessage-deflate over five payload kinds and seven parameter
  sets: 252 cases of 1000 messages each) take 10-15 minutes in full, so here each of
  their 12 subsections runs cases 1, 4 and 11 (16 B and 1 KiB messages whole, 8 KiB
  messages fragmented into 256-byte frames), about 25 s. The full sections:
  ``python bench/autobahn.py --sections 12,13``.

The tests are synchronous: each drives its own event loop (uvloop when installed, as
``--loop auto`` does) so pytest-asyncio's auto mode leaves them alone and they run once,
not once per loop factory.
"""

from __future__ import annotations

import asyncio

import pytest

from bench.autobahn import (
    CORE_CASES,
    RunningServer,
    describe,
    failures,
    quick_compression_cases,
    run_cases,
    run_with_loop,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    # kosoku's vendored Autobahn case files (12.x, 13.x) open their test data without closing it.
    pytest.mark.filterwarnings("ignore:unclosed file .*autobahntestsuite.testdata:ResourceWarning"),
]

#: A bound for one kosoku run, far above the time it takes, below the pytest timeout.
RUN_TIMEOUT = 240.0


def run_autobahn(cases, **config):
    """kosoku's result for every case, from a fresh server with ``config``."""

    async def main():
        async with RunningServer(**config) as server:
            try:
                return await run_cases(server.url, cases, concurrency=2, timeout=RUN_TIMEOUT)
            except asyncio.TimeoutError:
                return None

    results = run_with_loop(main())
    if results is None:
        pytest.fail(
            f"kosoku did not finish {list(cases)} within {RUN_TIMEOUT:g} s: a case hangs "
            f"(find which with: python bench/autobahn.py --sections ...)"
        )
    return results


def assert_all_pass(results, sections):
    ran = {result.case_id.split(".")[0] for result in results}
    assert ran == set(sections), f"sections run: {sorted(ran, key=int)}, expected {sorted(sections, key=int)}"
    failing = failures(results)
    assert not failing, f"{len(failing)} of {len(results)} Autobahn cases did not pass:\n" + "\n".join(
        describe(result) for result in failing
    )


def test_autobahn_protocol_sections():
    results = run_autobahn(CORE_CASES)
    assert_all_pass(results, [pattern.split(".")[0] for pattern in CORE_CASES])
    assert len(results) >= 300  # 301 in kosoku 0.1.0


def test_autobahn_compression_sections():
    cases = quick_compression_cases()
    results = run_autobahn(cases)
    assert_all_pass(results, ["12", "13"])
    assert sorted(result.case_id for result in results) == sorted(cases)
