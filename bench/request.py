#!/usr/bin/env python3
"""Per-request cost of ``pyre.web``'s lazy request, in nanoseconds per operation.

    python bench/request.py                 # the module pyre.web.request imports
    python bench/request.py --module pyre.web._request_c   # another build of it

Operations, each on a fresh request over a typical browser scope (12 headers):
construct and read ``method``/``path``; + ``headers.get`` of one header (the last
one, the worst case of the scan); + ``query.get`` of one parameter; + ``cookies``.
Bounded: ``--number`` loops (default 100,000) times ``--repeat`` (default 5), best kept.
"""

from __future__ import annotations

import argparse
import importlib
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", default="pyre.web.request")
    parser.add_argument("--number", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    Request = importlib.import_module(args.module).Request
    scope = SCOPE
    cases = {
        "construct + method/path": lambda: (lambda r: (r.method, r.path))(Request(scope, _receive)),
        "construct + headers.get (last header)": lambda: Request(scope, _receive).headers.get("x-request-id"),
        "construct + headers.get (first header)": lambda: Request(scope, _receive).headers.get("host"),
        "construct + query.get": lambda: Request(scope, _receive).query.get("sort"),
        "construct + cookies['session']": lambda: Request(scope, _receive).cookies["session"],
        "construct + url": lambda: str(Request(scope, _receive).url),
    }
    print(f"{args.module}: best of {args.repeat} x {args.number:,} loops, ns per operation")
    for name, case in cases.items():
        best = min(timeit.repeat(case, number=args.number, repeat=args.repeat))
        print(f"  {name:42s} {best / args.number * 1e9:8.0f}")


if __name__ == "__main__":
    main()
