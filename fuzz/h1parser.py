"""Fuzz harness for the HTTP/1.1 request parser twins.

Invariant checked on every input: any bytes, split anyhow across ``feed()`` calls,
either parse or raise :class:`ParseError` (never another exception), and the Cython
twin (``pyre._speedups.h1parser``) and the pure twin (``pyre._pure.h1parser``) agree
exactly: the same events from every call (``repr`` equal, the shared
``END_OF_MESSAGE`` where the other has it), the same ``paused``/``closed``/
``buffered``/``trailing_data`` after every call, the same error status and reason.

Usage::

    python fuzz/h1parser.py --iterations 200000          # random-mutation loop
    python fuzz/h1parser.py --seconds 90                  # the same, for a time budget
    python fuzz/h1parser.py [libFuzzer args]              # atheris if importable, else 100000 iterations

Under atheris (coverage-guided; also forced with ``--atheris``) the fuzzer's bytes are
decoded into (limits, resume mask, split points, request bytes) by
``atheris.FuzzedDataProvider``. The random loop mutates a corpus of valid requests
(bit flips, inserted CR/LF/SP/NUL and header lines, deletions, duplications,
splices, truncations), cuts them at random points, sometimes uses tiny limits and
sometimes feeds while paused.
A failing input is written to ``fuzz/crashes/`` (or ``--crash-dir``) and reproduced by
``python fuzz/h1parser.py --replay FILE``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from pyre.protocol.h1.parsing import END_OF_MESSAGE, H1Limits, ParseError  # noqa: E402
from pyre._pure import h1parser as pure  # noqa: E402

try:
    from pyre._speedups import h1parser as compiled
except ImportError:  # pragma: no cover - the harness is about comparing both
    compiled = None

# -- seeds --------------------------------------------------------------------------

SEEDS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /hello?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value;x\r\nhello\r\n1 ; a=\"q\\\"x\"\r\n \r\nA\r\n0123456789\r\n"
    b"0\r\nX-Trailer: t1\r\nContent-Length: 99\r\n\r\n",
    b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
    b"GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /4 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.0\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET http://b.example:8080/x/y?q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"\r\n\r\nGET / HTTP/1.1\r\nHost: [::1]:80\r\nX:  \t a \t b\t \r\nY:\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
    b"PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Foo: caf\xe9\r\nCookie: a=b; c=d\r\n\r\n",
]

INTERESTING = [
    b"\r", b"\n", b"\r\n", b"\r\n\r\n", b" ", b"\t", b":", b";", b",", b"=", b'"', b"\\",
    b"\x00", b"\x7f", b"\xff", b"0", b"1", b"9", b"f", b"F", b"?", b"/", b"*", b"#", b"@",
    b"Transfer-Encoding: chunked\r\n", b"Content-Length: 5\r\n", b"Content-Length: 0\r\n",
    b"Host: b\r\n", b"Connection: close\r\n", b"Connection: upgrade\r\n", b"Upgrade: h2c\r\n",
    b"0\r\n\r\n", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"chunked", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b" \r\n", b"fffffffffffffff", b"1000000000000000", b"99999999999999999999", b"\r\n ",
]


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
        op = rng.randrange(8)
        at = rng.randint(0, len(buf))
        if op == 0 and buf:  # flip bits
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # random byte
            buf[at:at] = bytes([rng.randrange(256)])
        elif op == 2 and buf:  # delete a range
            j = min(len(buf), at + rng.choice((1, 1, 2, 4, 16)))
            del buf[at:j]
        elif op == 3:  # interesting token
            buf[at:at] = rng.choice(INTERESTING)
        elif op == 4 and buf:  # overwrite with an interesting byte
            i = rng.randrange(len(buf))
            buf[i] = rng.choice(b"\r\n \t:;,=\"\\\x000aAzZ9/?*")
        elif op == 5 and buf:  # duplicate a slice
            j = min(len(buf), at + rng.randint(1, 40))
            buf[at:at] = buf[at:j]
        elif op == 6:  # splice another seed
            other = rng.choice(SEEDS)
            k = rng.randint(0, len(other))
            buf[at:] = other[k:] if rng.random() < 0.5 else other[:k] + bytes(buf[at:])
        elif op == 7 and buf:  # truncate
            del buf[rng.randint(0, len(buf)) :]
    return bytes(buf)


def random_input(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.05:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    if r < 0.15:
        return rng.choice(SEEDS)
    data = rng.choice(SEEDS)
    if rng.random() < 0.2:
        data += rng.choice(SEEDS)
    return mutate(data, rng)


def random_limits(rng: random.Random) -> H1Limits:
    if rng.random() < 0.6:
        return H1Limits()
    return H1Limits(
        max_request_line=rng.choice((8, 16, 20, 30, 64, 8192)),
        max_header_size=rng.choice((4, 16, 32, 64, 100, 65536)),
        max_headers=rng.choice((1, 2, 3, 5, 100)),
        max_body_size=rng.choice((0, 0, 1, 3, 10, 100)),
        max_chunk_extensions=rng.choice((1, 4, 10, 4096)),
    )


def random_splits(data: bytes, rng: random.Random) -> list:
    r = rng.random()
    if r < 0.25 or len(data) < 2:
        return [data]
    if r < 0.35:
        return [data[i : i + 1] for i in range(len(data))]
    k = rng.randint(1, min(len(data) - 1, 10))
    cuts = sorted(rng.sample(range(1, len(data)), k))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


# -- the invariant --------------------------------------------------------------------


def describe(event) -> tuple:
    return (type(event).__name__, repr(event), event is END_OF_MESSAGE)


def trace(module, limits: H1Limits, pieces: list, resume_mask: int) -> list:
    """Everything observable while feeding ``pieces``; resumes as a server would.

    ``resume_mask`` bit i set means "after feed i, do not resume yet" (bytes then
    arrive while paused).
    """
    parser = module.RequestParser(limits)
    out: list = []

    def state():
        return (parser.paused, parser.closed, parser.buffered, parser.trailing_data)

    def call(fn, *args):
        try:
            events = fn(*args)
        except ParseError as exc:
            out.append(("error", exc.status, exc.reason, state()))
            return False
        out.append(("events", [describe(e) for e in events], state()))
        return True

    for i, piece in enumerate(pieces + [b""]):
        if not call(parser.feed, piece):
            # The error is sticky: the next calls raise the same status.
            call(parser.feed, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            call(parser.resume)
            return out
        if (resume_mask >> i) & 1:
            continue
        for _ in range(64):
            if not (parser.paused and not parser.closed):
                break
            if not call(parser.resume):
                return out
            if not out[-1][1]:
                break
    return out


class Discrepancy(AssertionError):
    pass


def check(data: bytes, pieces: list, limits: H1Limits, resume_mask: int = 0) -> None:
    """Raise if either twin raises something other than ParseError, or they differ."""
    assert b"".join(pieces) == data
    py = trace(pure, limits, pieces, resume_mask)
    if compiled is None:
        return
    c = trace(compiled, limits, pieces, resume_mask)
    if py != c:
        for n, (a, b) in enumerate(zip(py, c)):
            if a != b:
                raise Discrepancy(f"step {n}:\n  pure:   {a!r}\n  cython: {b!r}")
        raise Discrepancy(f"different lengths: pure {len(py)} vs cython {len(c)}")


# -- drivers ----------------------------------------------------------------------------


def save_crash(crash_dir: Path, data: bytes, pieces: list, limits: H1Limits, resume_mask: int) -> Path:
    crash_dir.mkdir(parents=True, exist_ok=True)
    path = crash_dir / f"crash-{int(time.time() * 1000)}.py"
    lim = {s: getattr(limits, s) for s in H1Limits.__slots__}
    path.write_text(f"data = {data!r}\npieces = {pieces!r}\nlimits = {lim!r}\nresume_mask = {resume_mask!r}\n")
    return path


def replay(path: str) -> int:
    ns: dict = {}
    exec(Path(path).read_text(), ns)  # noqa: S102 - our own crash files
    check(ns["data"], ns["pieces"], H1Limits(**ns["limits"]), ns["resume_mask"])
    print("no discrepancy")
    return 0


def random_loop(iterations: int, seconds: float, seed: int, crash_dir: Path) -> int:
    rng = random.Random(seed)
    start = time.monotonic()
    n = 0
    while (iterations <= 0 or n < iterations) and (seconds <= 0 or time.monotonic() - start < seconds):
        data = random_input(rng)
        pieces = random_splits(data, rng)
        limits = random_limits(rng)
        mask = rng.getrandbits(len(pieces) + 1) if rng.random() < 0.2 else 0
        try:
            check(data, pieces, limits, mask)
        except Exception:  # noqa: BLE001 - any failure is a finding
            path = save_crash(crash_dir, data, pieces, limits, mask)
            traceback.print_exc()
            print(f"FAILED after {n} inputs; saved to {path}", file=sys.stderr)
            return 1
        n += 1
        if n % 20000 == 0:
            print(f"{n} inputs, {time.monotonic() - start:.0f}s", file=sys.stderr)
    elapsed = time.monotonic() - start
    print(f"ok: {n} inputs in {elapsed:.1f}s, both twins agree (seed {seed})")
    return 0


def atheris_main(argv: list) -> int:  # pragma: no cover - needs atheris
    import atheris

    def test_one_input(raw: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(raw)
        small = fdp.ConsumeBool()
        limits = (
            H1Limits(
                max_request_line=fdp.ConsumeIntInRange(1, 64),
                max_header_size=fdp.ConsumeIntInRange(1, 128),
                max_headers=fdp.ConsumeIntInRange(1, 8),
                max_body_size=fdp.ConsumeIntInRange(0, 64),
                max_chunk_extensions=fdp.ConsumeIntInRange(1, 32),
            )
            if small
            else H1Limits()
        )
        resume_mask = fdp.ConsumeIntInRange(0, 255)
        cuts = [fdp.ConsumeIntInRange(0, 255) for _ in range(fdp.ConsumeIntInRange(0, 6))]
        data = fdp.ConsumeBytes(fdp.remaining_bytes())
        points = sorted({c for c in cuts if 0 < c < len(data)})
        pieces = [data[a:b] for a, b in zip([0] + points, points + [len(data)])]
        check(data, pieces, limits, resume_mask)

    atheris.instrument_all()
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
    return 0


def _atheris_available() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=0, help="inputs to try (0: no limit)")
    ap.add_argument("--seconds", type=float, default=0, help="time budget (0: no limit)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--crash-dir", type=Path, default=HERE / "crashes")
    ap.add_argument("--replay", metavar="FILE")
    ap.add_argument("--atheris", action="store_true", help="coverage-guided fuzzing with atheris")
    args, rest = ap.parse_known_args(argv)
    if compiled is None:
        print("warning: pyre._speedups.h1parser is not built; checking the pure twin only", file=sys.stderr)
    if args.replay:
        return replay(args.replay)
    random_mode = args.iterations > 0 or args.seconds > 0
    if args.atheris or (not random_mode and _atheris_available()):
        return atheris_main([sys.argv[0]] + rest)
    if not random_mode:
        args.iterations = 100_000
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    return random_loop(args.iterations, args.seconds, seed, args.crash_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
