#!/usr/bin/env python3
"""Per-request cost of ``pyre.web``'s lazy request, in nanoseconds per operation, for
the pure-Python and the compiled twins (``Request`` and ``pyre.web.parsing``, see pyre/_accel.py).

    python bench/request.py              # both builds side by side, with the gain
    PYRE_NO_EXTENSIONS=1 python bench/request.py --one   # only the twins _accel chooses

Operations, each on a fresh request over a typical browser scope (12 headers):
construct and read ``method``/``path``; + ``headers.get`` of the first and of the last
header (the worst case of the scan); + ``query.get``; + a cookie; + ``str(url)``.
Bounded: ``--number`` loops (default 50,000) times ``--repeat`` (default 3) per build,
builds alternating for ``--rounds`` (default 2), best kept: about 10 seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import timeit

SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "server": ("127.0.0.1", 8000),
    "client": ("127.0.0.1", 51000),
    "scheme": "http",
    "method": "GET",
    "root_path": "",
    "path": "/items/42",
    "raw_path": b"/items/42",
    "query_string": b"page=2&sort=name&q=hello+world",
    "headers": [
        (b"host", b"example.com"),
        (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"),
        (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        (b"accept-language", b"en-US,en;q=0.5"),
        (b"accept-encoding", b"gzip, deflate, br"),
        (b"connection", b"keep-alive"),
        (b"cookie", b"session=abc123; theme=dark; lang=en"),
        (b"upgrade-insecure-requests", b"1"),
        (b"sec-fetch-dest", b"document"),
        (b"sec-fetch-mode", b"navigate"),
        (b"sec-fetch-site", b"none"),
        (b"x-request-id", b"7f8e9d0c"),
    ],
}


async def _receive() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


CASES = {
    "construct + method/path": "r = Request(SCOPE, receive); r.method; r.path",
    "construct + headers.get (first header)": "Request(SCOPE, receive).headers.get('host')",
    "construct + headers.get (last header)": "Request(SCOPE, receive).headers.get('x-request-id')",
    "construct + query.get": "Request(SCOPE, receive).query.get('sort')",
    "construct + cookies['session']": "Request(SCOPE, receive).cookies['session']",
    "construct + str(url)": "str(Request(SCOPE, receive).url)",
}


def measure(number: int, repeat: int) -> "dict[str, float]":
    """ns per operation of each case, with the twins pyre._accel chooses."""
    from pyre import _accel

    names = {"Request": _accel.Request, "SCOPE": SCOPE, "receive": _receive}
    return {
        name: min(timeit.repeat(stmt, number=number, repeat=repeat, globals=names)) / number * 1e9
        for name, stmt in CASES.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--number", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one", action="store_true", help="only the twins chosen in this process, as JSON")
    args = parser.parse_args()
    if args.one:
        from pyre import _accel

        modes = _accel.modes()
        print(json.dumps({"modes": {"parsing": modes["parsing"], "request": modes["request"]}, "ns": measure(args.number, args.repeat)}))
        return
    # The builds alternate, best of the rounds kept: a shared machine's noise hits both.
    results: "dict[str, dict]" = {}
    for _ in range(args.rounds):
        for label, no_extensions in (("pure", "1"), ("compiled", "0")):
            command = [sys.executable, __file__, "--one", "--number", str(args.number), "--repeat", str(args.repeat)]
            env = dict(os.environ, PYRE_NO_EXTENSIONS=no_extensions)
            run = json.loads(subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout)
            if label in results:
                run["ns"] = {name: min(ns, results[label]["ns"][name]) for name, ns in run["ns"].items()}
            results[label] = run
    print(f"best of {args.rounds} x {args.repeat} x {args.number:,} loops, ns per operation; twins used: "
          f"pure {results['pure']['modes']}, compiled {results['compiled']['modes']}")
    print(f"  {'':42s} {'pure':>8s} {'compiled':>9s} {'gain':>7s}")
    for name in CASES:
        pure, compiled = results["pure"]["ns"][name], results["compiled"]["ns"][name]
        print(f"  {name:42s} {pure:8.0f} {compiled:9.0f} {(pure - compiled) / pure * 100:6.1f}%")


if __name__ == "__main__":
    main()
