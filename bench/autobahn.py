#!/usr/bin/env python3
"""Run the Autobahn TestSuite WebSocket cases against Pyre, and print a results table.

The cases are the Autobahn TestSuite's own case files, driven by ``kosoku`` (a native
runner of them, ``pip install kosoku``, part of the ``test`` extra): its fuzzing client
opens one connection per case to an embedded Pyre server serving an echo application.

    python bench/autobahn.py                          # sections 1-7, 9, 10, 12, 13, every case
    python bench/autobahn.py --quick                  # the subset tests/e2e/test_autobahn.py runs
    python bench/autobahn.py --sections 6,7.7,12.2    # sections and subsections
    python bench/autobahn.py --port 9001 --report-dir /tmp/autobahn   # + Autobahn's HTML/JSON

The sections run one after another, each in one kosoku run (so a hang is pinned to a
section). The output is a markdown table: per section, the number of cases and how many
ended OK, NON-STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED or ERROR, then every case that
did not pass with what it expected and what the server did. A case passes when its
behavior is OK, NON-STRICT or INFORMATIONAL and its closing behavior is OK or
INFORMATIONAL; a case whose messages passed but whose closing handshake did not is
counted as FAILED. The exit status is 1 if any case did not pass (or a section timed
out), 0 otherwise.

The full sections 12 and 13 (permessage-deflate: 252 cases of 1000 messages each) take
several minutes; ``--quick`` runs only cases 1, 4 and 11 of each of their subsections
(16 B and 1 KiB messages whole, 8 KiB messages fragmented into 256-byte frames).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import pyre  # noqa: E402  (needs REPO on sys.path)
from pyre.loops import loop_factory  # noqa: E402

#: The sections run by default: everything but 8 (empty) and 11 (not in the suite).
DEFAULT_SECTIONS = ("1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13")
#: Sections 1-7, 9 and 10, every case: about 15 s.
CORE_CASES: Tuple[str, ...] = ("1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*")
#: Cases of each compression subsection in the quick run: 16 B and 1 KiB messages
#: (whole), 8 KiB messages auto-fragmented into 256-byte frames; 1000 of each.
QUICK_COMPRESSION_CASES = (1, 4, 11)
#: Subsections of sections 12 (payload kinds) and 13 (deflate parameters).
COMPRESSION_SUBSECTIONS = {"12": 5, "13": 7}

ACCEPTABLE = ("OK", "NON-STRICT", "INFORMATIONAL")
ACCEPTABLE_CLOSE = ("OK", "INFORMATIONAL")
COLUMNS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "ERROR")

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0


def compression_subset(section: str, subsection: Optional[int] = None) -> List[str]:
    """The quick run's case ids of section 12 or 13 (or of one of its subsections)."""
    subsections = [subsection] if subsection else range(1, COMPRESSION_SUBSECTIONS[section] + 1)
    return [f"{section}.{sub}.{case}" for sub in subsections for case in QUICK_COMPRESSION_CASES]


def quick_compression_cases() -> List[str]:
    return [case for section in COMPRESSION_SUBSECTIONS for case in compression_subset(section)]


# -- the application and the server --------------------------------------------------------


async def echo_app(scope: Dict[str, Any], receive: Callable, send: Callable) -> None:
    """Accept a WebSocket on any path and send every message back as it came."""
    if scope["type"] != "websocket":
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


class RunningServer:
    """``async with RunningServer(port=0, **config) as server``: an embedded Pyre server."""

    def __init__(self, port: int = 0, **config: Any) -> None:
        config.setdefault("lifespan", "off")
        config.setdefault("log_level", None)
        config.setdefault("timeout_graceful_shutdown", 5)  # a stuck case cannot stall the exit
        self.server = pyre.Server(pyre.Config(echo_app, host=HOST, port=port, **config))
        self.task: Optional[asyncio.Task] = None

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.server.bound_port}"

    async def __aenter__(self) -> "RunningServer":
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()  # raises the startup error
                raise RuntimeError("the server stopped before it started")
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self.task is not None
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), STOP_TIMEOUT)
        except asyncio.TimeoutError:
            self.server.force_exit = True
            await asyncio.wait_for(self.task, 5)
            raise RuntimeError(f"the server did not shut down within {STOP_TIMEOUT:g} s") from None


def run_with_loop(coro: Any, loop: str = "auto") -> Any:
    """``asyncio.run`` on the event loop Pyre's ``--loop`` would choose."""
    factory = loop_factory(loop)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)
    event_loop = factory()  # pragma: no cover - Python 3.10
    try:
        asyncio.set_event_loop(event_loop)
        return event_loop.run_until_complete(coro)
    finally:
        asyncio.set_event_loop(None)
        event_loop.close()


# -- running the cases ---------------------------------------------------------------------


def _uncompressed_messages_as_bytes() -> None:
    """Fix a gap in kosoku 0.1.0's port of the Python 2 case files: 12.x and 13.x hash
    every echoed message as bytes, but kosoku hands them a message that came
    uncompressed (RSV1 clear, which RFC 7692 §6 allows on a permessage-deflate
    connection) as ``str``: text decoded, binary one character per byte. Those cases
    then end in ERROR ("Strings must be encoded before hashing") before they compare
    anything. Pyre sends a message uncompressed when deflate would make it longer. The
    bytes go back as they came, and the case still checks length and SHA-1."""
    from kosoku._caseindex import initialize_shims

    initialize_shims()
    import case12_x_x  # the vendored case file; importable once the shims are set up

    on_message = case12_x_x.onMessage
    if getattr(on_message, "takes_bytes", False):
        return

    def on_bytes(case: Any, msg: Any, binary: bool) -> Any:
        if isinstance(msg, str):
            msg = msg.encode("latin-1" if binary else "utf-8")
        return on_message(case, msg, binary)

    on_bytes.takes_bytes = True  # type: ignore[attr-defined]
    case12_x_x.onMessage = on_bytes
    for case in case12_x_x.Case12_X_X + case12_x_x.Case13_X_X:
        case.onMessage = on_bytes


async def run_cases(
    url: str,
    cases: Sequence[str],
    exclude: Optional[Sequence[str]] = None,
    concurrency: int = 2,
    timeout: Optional[float] = None,
) -> list:
    """kosoku's results for ``cases`` (ids or ``*`` globs), passing or not, in case order."""
    from kosoku import FailureError, run_fuzzingclient

    _uncompressed_messages_as_bytes()
    try:
        return await asyncio.wait_for(
            run_fuzzingclient(url, list(cases), list(exclude) if exclude else None, concurrency=concurrency),
            timeout,
        )
    except FailureError as failure:  # raised when any case did not pass; it holds every result
        return list(failure.results)


def verdict(result: Any) -> str:
    """One word per case: its behavior, or FAILED if only its closing handshake failed."""
    behavior = result.behavior.value
    if behavior in ACCEPTABLE and result.behavior_close.value not in ACCEPTABLE_CLOSE:
        return "FAILED"
    return behavior


def passed(result: Any) -> bool:
    return result.behavior.value in ACCEPTABLE and result.behavior_close.value in ACCEPTABLE_CLOSE


def failures(results: Sequence[Any]) -> List[Any]:
    return [result for result in results if not passed(result)]


def describe(result: Any) -> str:
    """A failing case: id, verdicts, what was sent and expected, what the server did."""
    lines = [
        f"{result.case_id}: behavior={result.behavior.value} behaviorClose={result.behavior_close.value}",
        f"    description: {_oneline(result.description)}",
        f"    expectation: {_oneline(result.expectation)}",
        f"    result:      {_oneline(result.result)}",
        f"    close:       {_oneline(result.result_close)} (server sent close code "
        f"{result.remote_close_code}, reason {result.remote_close_reason!r}; "
        f"kosoku sent {result.local_close_code}; clean={result.was_clean}"
        + (f", {result.was_not_clean_reason}" if result.was_not_clean_reason else "")
        + ")",
    ]
    expected_close = result.expected_close or {}
    if expected_close:
        lines.append(
            f"    expected close: codes {expected_close.get('closeCode')}, "
            f"closed by {'kosoku' if expected_close.get('closedByMe') else 'the server'}, "
            f"clean required: {expected_close.get('requireClean')}"
        )
    received = result.received
    if received:
        shown = [_event(event) for event in received[:5]]
        more = f" ... ({len(received)} events)" if len(received) > 5 else ""
        lines.append(f"    received:    {', '.join(shown)}{more}")
    return "\n".join(lines)


def _oneline(text: Optional[str]) -> str:
    return " ".join((text or "").split())


def _event(event: Sequence[Any]) -> str:
    kind = event[0]
    if kind == "message" and len(event) > 2:
        payload = event[1]
        return f"{'binary' if event[2] else 'text'} message of {len(payload)} {'bytes' if event[2] else 'chars'}"
    if kind in ("ping", "pong"):
        return f"{kind} of {len(event[1])} bytes"
    return str(tuple(event))


# -- the table ------------------------------------------------------------------------------


@dataclass
class SectionRun:
    section: str
    cases: List[str]
    results: list = field(default_factory=list)
    seconds: float = 0.0
    error: Optional[str] = None


def _category(section: str) -> str:
    try:
        from kosoku._report_assets import CaseCategories  # the report's section titles
    except ImportError:  # pragma: no cover - a kosoku without it
        return ""
    return CaseCategories.get(section.split(".")[0], "")


def table(runs: Sequence[SectionRun]) -> str:
    columns = list(COLUMNS)  # and any verdict a newer kosoku may add
    columns += sorted({verdict(r) for run in runs for r in run.results} - set(columns))
    head = ["Section", "Title", "Cases", *columns, "Time (s)"]
    rows = [head, ["---", "---"] + ["---:"] * (len(head) - 2)]
    totals = dict.fromkeys(columns, 0)
    total_cases = 0
    total_seconds = 0.0
    for run in runs:
        counts = dict.fromkeys(columns, 0)
        for result in run.results:
            counts[verdict(result)] += 1
            totals[verdict(result)] += 1
        total_cases += len(run.results)
        total_seconds += run.seconds
        title = _category(run.section) + (f" ({run.error})" if run.error else "")
        rows.append([run.section, title, str(len(run.results)), *(str(counts[c]) for c in columns), f"{run.seconds:.1f}"])
    rows.append(["**all**", "", f"**{total_cases}**", *(f"**{totals[c]}**" for c in columns), f"**{total_seconds:.1f}**"])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def failure_list(runs: Sequence[SectionRun]) -> str:
    results = [result for run in runs for result in run.results]
    parts = []
    for name in ("NON-STRICT", "INFORMATIONAL"):
        ids = [result.case_id for result in results if passed(result) and result.behavior.value == name]
        if ids:
            parts.append(f"{name} (passed): {', '.join(ids)}")
    parts += [f"Section {run.section} did not run to the end: {run.error}" for run in runs if run.error]
    failing = failures(results)
    if failing:
        parts += [f"{len(failing)} case(s) did not pass:", ""]
        parts += [describe(result) for result in failing]
    elif results:
        parts.append(f"All {len(results)} cases passed.")
    return "\n".join(parts)


# -- the command ----------------------------------------------------------------------------


def parse_sections(text: str) -> List[str]:
    """``1-7,9,10,12.2`` -> ``["1", ..., "7", "9", "10", "12.2"]``."""
    sections: List[str] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        if "-" in item:
            first, _, last = item.partition("-")
            if not (first.isdigit() and last.isdigit()) or int(first) > int(last):
                raise argparse.ArgumentTypeError(f"bad section range {item!r}")
            sections += [str(n) for n in range(int(first), int(last) + 1) if str(n) in DEFAULT_SECTIONS]
        elif all(part.isdigit() for part in item.split(".")):
            sections.append(item)
        else:
            raise argparse.ArgumentTypeError(f"bad section {item!r} (expected e.g. 1-7,9,12.2)")
    return sections


def selection(section: str, quick: bool) -> List[str]:
    major, _, sub = section.partition(".")
    if quick and major in COMPRESSION_SUBSECTIONS and sub.count(".") == 0:
        return compression_subset(major, int(sub) if sub else None)
    return [f"{section}.*"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run the Autobahn TestSuite cases (through kosoku) against Pyre and print a results table.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--sections", type=parse_sections, default=",".join(DEFAULT_SECTIONS),
        help="comma-separated sections, ranges or subsections (e.g. 1-7,9,12.2)",
    )
    parser.add_argument("--quick", action="store_true", help="only cases 1, 4 and 11 of each subsection of 12 and 13")
    parser.add_argument("--exclude", action="append", metavar="CASE", help="case id or * glob to skip (repeatable)")
    parser.add_argument("--port", type=int, default=0, help="port of the Pyre server (0: a free one)")
    parser.add_argument("--concurrency", type=int, default=2, help="cases kosoku runs in parallel")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto", help="event loop")
    parser.add_argument("--ws-max-size", type=int, default=16 * 1024 * 1024, help="the server's --ws-max-size")
    parser.add_argument(
        "--no-per-message-deflate", dest="per_message_deflate", action="store_false",
        help="serve without permessage-deflate (sections 12 and 13 are then UNIMPLEMENTED)",
    )
    parser.add_argument("--section-timeout", type=float, default=1800.0, help="seconds one section may take")
    parser.add_argument("--log-level", default="warning", help="the server's log level")
    parser.add_argument("--markdown", type=Path, help="also write the table and the failures to this file")
    parser.add_argument(
        "--report-dir", type=Path,
        help="also write kosoku's Autobahn-format report (index.html, per-case JSON/HTML) there",
    )
    return parser


async def run_sections(args: argparse.Namespace) -> List[SectionRun]:
    runs: List[SectionRun] = []
    async with RunningServer(
        port=args.port,
        log_level=args.log_level,
        ws_max_size=args.ws_max_size,
        ws_per_message_deflate=args.per_message_deflate,
    ) as server:
        print(f"Pyre {pyre.__version__} on {server.url}; kosoku {_kosoku_version()}", file=sys.stderr)
        for section in args.sections:
            run = SectionRun(section, selection(section, args.quick))
            started = time.monotonic()
            try:
                try:
                    run.results = await run_cases(
                        server.url, run.cases, args.exclude, concurrency=args.concurrency, timeout=args.section_timeout
                    )
                except ValueError:  # kosoku: no case matches; "2.1" is a case id, not a subsection
                    if "." not in section or run.cases == [section]:
                        raise
                    run.cases = [section]
                    run.results = await run_cases(
                        server.url, run.cases, args.exclude, concurrency=args.concurrency, timeout=args.section_timeout
                    )
            except asyncio.TimeoutError:
                run.error = f"timed out after {args.section_timeout:g} s"
            except ValueError as error:  # kosoku: no such case / no case matches
                run.error = str(error)
            run.seconds = time.monotonic() - started
            print(
                f"section {section}: {len(run.results)} cases, {len(failures(run.results))} not passed, "
                f"{run.seconds:.1f} s" + (f" ({run.error})" if run.error else ""),
                file=sys.stderr,
            )
            runs.append(run)
    return runs


def _kosoku_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kosoku")
    except PackageNotFoundError:  # pragma: no cover
        return "?"


def write_report(runs: Sequence[SectionRun], directory: Path) -> None:
    try:
        from kosoku._report import write_reports  # what `kosoku -o DIR` uses
    except ImportError:  # pragma: no cover - a kosoku without it
        print("this kosoku cannot write reports; --report-dir ignored", file=sys.stderr)
        return
    write_reports([result for run in runs for result in run.results], str(directory))
    print(f"Autobahn report: {directory / 'index.html'}", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import kosoku  # noqa: F401
    except ImportError:
        print("kosoku is not installed: pip install kosoku (or pip install -e '.[test]')", file=sys.stderr)
        return 2
    runs = run_with_loop(run_sections(args), args.loop)
    text = table(runs) + "\n\n" + failure_list(runs) + "\n"
    print(text, end="")
    if args.markdown:
        args.markdown.write_text(text)
    if args.report_dir:
        write_report(runs, args.report_dir)
    failed = any(run.error or failures(run.results) for run in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
