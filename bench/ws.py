#!/usr/bin/env python3
"""WebSocket echo benchmark: messages/s and latency over many connections, per load shape.

Same method as ``bench/run.py`` (whose server definitions, process handling and CPU
accounting it reuses): every server runs the echo app ``bench.apps:ws_echo`` as ONE
process pinned with ``taskset -c 0``; the load client, ``bench/wsload.c`` (compiled
here with ``gcc -O2`` into a temporary directory), runs pinned with ``taskset -c 1``.
Rounds are interleaved with the server order rotated each round; every measurement
uses a fresh server that is verified first (a text and a binary message echoed back
exactly); results are medians over rounds, and the ratio to uvicorn is paired per
round.

    python bench/ws.py --servers pyre,uvicorn,hypercorn,granian --rounds 3 --duration 5
    python bench/ws.py --scenarios small,64k,deflate --in-flight 1,4
    python bench/ws.py --servers pyre --rounds 1 --profile /tmp/pyre-ws.raw

Load shapes (``--scenarios``, each run at every ``--in-flight`` count):

- ``small``: ``--size``-byte (default 32) text messages;
- ``64k``: 64 KiB text messages;
- ``deflate``: 1 KiB text messages compressed with permessage-deflate both ways (the
  client offers it; a server that does not negotiate it is reported, not measured).

``--in-flight N`` (default 1) is how many messages each connection keeps outstanding:
1 is the chat-like client, which sends one message and waits for its echo, and pays
every message's full round trip; more pipeline and hide that per-message cost.

The client keeps that many messages in flight on each of ``--connections``
connections and reports, for the measured window, the messages echoed per second,
the round-trip latency percentiles and its own CPU time; a row whose client used
more than 90% of its core is flagged *client-bound* (the client, not the server,
limited it).

The baseline, ``uvicorn``, is uvicorn as its users run it: no ``--ws`` option, so its
default ``--ws auto`` (websockets-sansio when websockets is installed); the legacy
``--ws websockets`` is ``uvicorn-websockets``. Every row names the server's version
and mode (for uvicorn, what ``--ws auto`` resolved to).

``--profile FILE`` adds one unmeasured run of Pyre with ``py-spy record --native``
attached to the server and prints where its time goes (by module and function);
``--profile-summary FILE`` only summarizes an existing py-spy raw (collapsed) file.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if sys.path[0] != str(REPO):
    # First, even when an editable install already lists it: the servers' run directory
    # (bench.run.run_dir) holds a partial ``bench`` package that must not shadow this one.
    sys.path.insert(0, str(REPO))

from bench.run import (  # noqa: E402  (needs REPO on sys.path)
    HOST,
    run_dir,
    PY,
    STARTUP_TIMEOUT,
    Scenario,
    Server,
    ServerProcess,
    _granian,
    _hypercorn,
    _pyre,
    _uvicorn,
    group_cpu_seconds,
    machine_busy_seconds,
    pyre_version,
    server_env,
)

CLIENT_SOURCE = BENCH_DIR / "wsload.c"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SCENARIO = Scenario("ws", "ws_echo", "WebSocket echo")
CLIENT_BOUND_PCT = 90.0  # client CPU above this: the row measured the client, not the server
DEFLATE_SIZE = 1024
LARGE_SIZE = 64 * 1024


@dataclass(frozen=True)
class Load:
    """One load shape: a message kind, its size, and messages in flight per connection."""

    kind: str  # a key of KINDS
    in_flight: int
    size: int
    deflate: bool = False

    @property
    def name(self) -> str:
        return f"{self.kind}, {self.in_flight} in flight"

    def describe(self) -> str:
        what = f"{self.size:,}-byte text messages"
        if self.deflate:
            what += " compressed with permessage-deflate"
        return f"{what}, {self.in_flight} in flight per connection"


KINDS = {
    "small": "--size-byte text messages (default 32)",
    "64k": "64 KiB text messages",
    "deflate": "1 KiB text messages, permessage-deflate both ways",
}


def loads(kinds: List[str], in_flight: List[int], size: int) -> List[Load]:
    """Every kind at every in-flight count, in that order."""
    out = []
    for kind in kinds:
        for depth in in_flight:
            if kind == "small":
                out.append(Load(kind, depth, size))
            elif kind == "64k":
                out.append(Load(kind, depth, LARGE_SIZE))
            else:
                out.append(Load(kind, depth, DEFLATE_SIZE, deflate=True))
    return out


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


def _pyre_ws(app: str, port: int, workers: int) -> List[str]:
    # Pyre's defaults (--ws auto, permessage-deflate offered): it compresses only when
    # the client asks, as in the deflate scenario.
    return _pyre(app, port, workers)


def _granian_ws(app: str, port: int, workers: int) -> List[str]:
    # bench/run.py gives granian --no-ws for HTTP; WebSocket needs it on.
    return ["--ws" if a == "--no-ws" else a for a in _granian(app, port, workers)]


def _raw_ws(app: str, port: int, workers: int) -> List[str]:
    return [PY, str(BENCH_DIR / "ws_raw.py"), "--host", HOST, "--port", str(port)]


@dataclass
class WSServer:
    server: Server  # bench.run's definition: name, description, argv builder, env
    needs: Tuple[str, ...] = ()  # modules it needs besides server.module and uvloop
    uvicorn_ws: Optional[str] = None  # uvicorn's --ws value ("auto": the option left out)

    def missing(self) -> Optional[str]:
        why = self.server.missing()
        if why:
            return why
        for mod in self.needs:
            if importlib.util.find_spec(mod) is None:
                return f"module {mod!r} is not installed"
        return None


WS_SERVERS: Dict[str, WSServer] = {
    s.server.name: s
    for s in [
        WSServer(Server("pyre", "Pyre, its defaults (--ws auto: its own frame layer and permessage-deflate, "
                                "wsproto for the rest), uvloop",
                        "pyre", ("pyre-server", "wsproto", "uvloop"), _pyre_ws, env={"PYRE_NO_EXTENSIONS": ""}),
                 ("wsproto",)),
        WSServer(Server("uvicorn", "uvicorn as its users run it: no --ws option (--ws auto), httptools, uvloop",
                        "uvicorn", ("uvicorn", "websockets", "httptools", "uvloop"), _uvicorn("httptools")),
                 (), "auto"),
        WSServer(Server("uvicorn-websockets", "uvicorn --ws websockets (the legacy implementation; httptools, uvloop)",
                        "uvicorn", ("uvicorn", "websockets", "httptools", "uvloop"),
                        _uvicorn("httptools", "--ws", "websockets")),
                 ("websockets",), "websockets"),
        WSServer(Server("uvicorn-sansio", "uvicorn --ws websockets-sansio (httptools, uvloop)", "uvicorn",
                        ("uvicorn", "websockets", "httptools", "uvloop"),
                        _uvicorn("httptools", "--ws", "websockets-sansio")),
                 ("websockets",), "websockets-sansio"),
        WSServer(Server("uvicorn-wsproto", "uvicorn --ws wsproto (httptools, uvloop)", "uvicorn",
                        ("uvicorn", "wsproto", "httptools", "uvloop"), _uvicorn("httptools", "--ws", "wsproto")),
                 ("wsproto",), "wsproto"),
        WSServer(Server("hypercorn", "Hypercorn (wsproto), uvloop worker, in-process (-w 0)", "hypercorn",
                        ("hypercorn", "wsproto", "uvloop"), _hypercorn), ("wsproto",)),
        WSServer(Server("granian", "Granian (Rust), ASGI interface, --ws, 1 worker, 1 runtime thread, uvloop",
                        "granian", ("granian", "uvloop"), _granian_ws)),
        WSServer(Server("raw", "raw uvloop Protocol: handshake, unmask, re-frame; no ASGI, no checks (a ceiling)",
                        "uvloop", ("uvloop",), _raw_ws)),
    ]
}
BASELINE = "uvicorn"
_UVICORN_WS_IMPLS = {"websockets_sansio_impl": "websockets-sansio", "websockets_impl": "websockets",
                     "wsproto_impl": "wsproto"}


def uvicorn_auto_ws() -> str:
    """What uvicorn's ``--ws auto`` resolves to in this environment (as its server runs)."""
    code = ("from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol as P; "
            "print(P.__module__.rsplit('.', 1)[-1] if P else 'none')")
    try:
        out = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=30, cwd=str(run_dir()),
                             env=server_env({}))
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    impl = out.stdout.strip()
    return _UVICORN_WS_IMPLS.get(impl, impl or f"unknown ({out.stderr.strip()[-120:]})")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def server_line(name: str, auto_ws: Optional[str] = None, pyre_line: Optional[str] = None) -> str:
    """The server's version and mode, for every row that names it."""
    ws = WS_SERVERS[name]
    pkgs = ws.server.packages
    if ws.server.module == "pyre":
        head = pyre_line or f"pyre-server {_version('pyre-server')}"
        rest = [p for p in pkgs if p != "pyre-server"]
    elif ws.uvicorn_ws is not None:
        impl = auto_ws if ws.uvicorn_ws == "auto" else ws.uvicorn_ws
        flag = "no --ws option (--ws auto)" if ws.uvicorn_ws == "auto" else f"--ws {ws.uvicorn_ws}"
        head = f"uvicorn {_version('uvicorn')}, {flag}: {impl}"
        rest = [p for p in pkgs if p != "uvicorn"]
    else:
        head = f"{pkgs[0]} {_version(pkgs[0])}"
        rest = list(pkgs[1:])
    return "; ".join([head] + [f"{p} {_version(p)}" for p in rest])


# --------------------------------------------------------------------------------------------
# Verification: one handshake, a text and a binary message echoed exactly (stdlib only)
# --------------------------------------------------------------------------------------------


def _frame(opcode: int, payload: bytes, mask: bytes = b"\x11\x22\x33\x44", rsv1: bool = False) -> bytes:
    n = len(payload)
    head = bytes([0x80 | (0x40 if rsv1 else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def need(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed by the server ({len(self.buf)} of {n} bytes)")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head

    def frame(self) -> Tuple[int, bytes]:
        opcode, payload, _ = self.frame_rsv()
        return opcode, payload

    def frame_rsv(self) -> Tuple[int, bytes, bool]:
        """(opcode, payload, RSV1 set)"""
        b0, b1 = self.need(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self.need(2), "big")
        elif n == 127:
            n = int.from_bytes(self.need(8), "big")
        if b1 & 0x80:
            raise ValueError("the server sent a masked frame")
        if not b0 & 0x80:
            raise ValueError("the server fragmented a small message")
        return b0 & 0x0F, self.need(n), bool(b0 & 0x40)


def _deflate(data: bytes) -> bytes:
    """A message compressed as RFC 7692 says: raw deflate, sync flush, the 00 00 ff ff tail cut."""
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if out.endswith(b"\x00\x00\xff\xff") else out


def verify(port: int, deflate: bool = False) -> Optional[str]:
    """One handshake, a text and a binary message echoed exactly, then the closing handshake.
    With ``deflate``, permessage-deflate is offered and must be negotiated; both messages go
    compressed and the echoes are inflated (compressed or not, as the server chooses)."""
    key = base64.b64encode(os.urandom(16))
    expected = base64.b64encode(hashlib.sha1(key + GUID).digest())
    text = "verify ✓ pyre".encode()
    binary = bytes(range(256))
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
                  % (HOST.encode(), port, key, b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else b""))
        r = _Reader(s)
        head = r.head()
        status = head.split(b"\r\n", 1)[0]
        if not status.startswith(b"HTTP/1.1 101"):
            return f"handshake answered {status[:100]!r}"
        m = re.search(rb"\r\nsec-websocket-accept:[ \t]*([^\r\n]*?)[ \t]*(\r\n|$)", head, re.I)
        if not m or m.group(1) != expected:
            return f"wrong Sec-WebSocket-Accept {m.group(1) if m else None!r}, expected {expected!r}"
        extensions = re.search(rb"\r\nsec-websocket-extensions:[ \t]*([^\r\n]*)", head, re.I)
        if not deflate and extensions:
            return "the server negotiated an extension nobody offered"
        if deflate:
            if not extensions or b"permessage-deflate" not in extensions.group(1).lower():
                return "did not negotiate permessage-deflate (its compressed messages cannot be measured)"
            inflater = zlib.decompressobj(wbits=-15)
            s.sendall(_frame(1, _deflate(text), rsv1=True) + _frame(2, _deflate(binary), rsv1=True))
            got = []
            for _ in range(2):
                opcode, payload, compressed = r.frame_rsv()
                got.append((opcode, inflater.decompress(payload + b"\x00\x00\xff\xff") if compressed else payload))
        else:
            s.sendall(_frame(1, text) + _frame(2, binary))
            got = [r.frame(), r.frame()]
        if got != [(1, text), (2, binary)]:
            return f"echo mismatch: sent text {text!r} and 256 binary bytes, got {[(o, p[:40]) for o, p in got]}"
        s.sendall(_frame(8, (1000).to_bytes(2, "big")))
        try:
            opcode, payload = r.frame()
        except (OSError, ValueError):
            return None  # closing without a close frame is the server's business, not the echo's
        if opcode != 8:
            return f"expected a close frame after ours, got opcode {opcode}"
    return None


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


def build_client(outdir: Path) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if not gcc:
        raise SystemExit("error: gcc is needed to compile bench/wsload.c")
    exe = outdir / "wsload"
    subprocess.run([gcc, "-O2", "-Wall", "-o", str(exe), str(CLIENT_SOURCE), "-lz"], check=True)
    return exe


def client_cmd(exe: Path, port: int, args, load: Load, duration: float, warmup: float) -> List[str]:
    """The wsload command line for one measurement."""
    return ["taskset", "-c", args.client_cpu, str(exe), HOST, str(port), "/", str(args.connections),
            str(load.in_flight), str(duration), str(load.size), str(warmup), "1" if load.deflate else "0"]


_current_client: Optional[subprocess.Popen] = None


def run_client(exe: Path, port: int, args, load: Load, duration: float, warmup: float,
               on_start=None) -> Tuple[Dict[str, object], List[str], str]:
    """Run one bounded wsload; call on_start() when its measured window opens.

    Returns (its JSON result, or {} if none, the command, its stderr).
    """
    global _current_client
    cmd = client_cmd(exe, port, args, load, duration, warmup)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    _current_client = proc
    # wsload has its own hard deadline (alarm); this watchdog is the second line.
    watchdog = threading.Timer(duration + warmup + 40, proc.kill)
    watchdog.start()
    result: Dict[str, object] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("event") == "start":
                if on_start:
                    on_start()
            else:
                result = d
        proc.wait()
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _current_client = None
    if proc.returncode not in (0, 1):
        err += f"\n[ws] wsload exited with code {proc.returncode}"
    return result, cmd, err.strip()


# --------------------------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------------------------


def start_server(ws: WSServer, args, logdir: Path) -> Tuple[Optional[ServerProcess], Optional[str]]:
    sp: Optional[ServerProcess] = None
    err: Optional[str] = None
    for attempt in range(3):
        sp = ServerProcess(ws.server, SCENARIO, args.server_cpu, logdir)
        sp.start()
        err = sp.wait_listening(STARTUP_TIMEOUT)
        if err and "in use" in err.lower() and attempt < 2:
            sp.stop()  # lost the race for the free port: try another one
            continue
        break
    return sp, err


def measure(ws: WSServer, load: Load, args, exe: Path, logdir: Path, round_no: int) -> Dict[str, object]:
    server = ws.server
    rec: Dict[str, object] = {"round": round_no, "server": server.name, "case": load.name, "ok": False}
    sp: Optional[ServerProcess] = None
    try:
        sp, err = start_server(ws, args, logdir)
        rec["server_cmd"] = shlex.join(sp.cmd)
        if err:
            rec["error"] = f"failed to start: {err}"
            return rec
        try:
            err = verify(sp.port, load.deflate)
        except (OSError, ValueError) as exc:
            err = f"{type(exc).__name__}: {exc}"
        if err:
            rec["error"] = f"verification failed: {err}"
            if "permessage-deflate" in err:
                rec["unsupported"] = True
            return rec
        marks: Dict[str, float] = {}

        def on_start() -> None:
            marks["busy0"], _ = machine_busy_seconds()
            marks["cpu0"], marks["w0"] = group_cpu_seconds(sp.proc.pid), time.monotonic()

        result, cmd, stderr = run_client(exe, sp.port, args, load, args.duration, args.warmup, on_start)
        cpu1, w1 = group_cpu_seconds(sp.proc.pid), time.monotonic()
        busy1, _ = machine_busy_seconds()
        rec["client_cmd"] = shlex.join(cmd)
        rec["client"] = result
        if stderr:
            rec["client_stderr"] = stderr[-500:]
        if not result or "w0" not in marks:
            rec["error"] = "wsload produced no result: " + (stderr[-300:] or "no output")
            return rec
        wall = w1 - marks["w0"]
        server_cpu = cpu1 - marks["cpu0"]
        client_cpu = float(result.get("cpu_s", 0.0))
        rec.update(
            mps=float(result["messages_per_s"]),
            p50_ms=float(result["p50_ms"]),
            p90_ms=float(result["p90_ms"]),
            p99_ms=float(result["p99_ms"]),
            errors=int(result["errors"]),
            server_cpu_pct=round(100 * server_cpu / wall, 1),
            client_cpu_pct=float(result.get("cpu_pct", 0.0)),
            other_cpu_pct=round(max(0.0, 100 * ((busy1 - marks["busy0"]) - server_cpu - client_cpu) / wall), 1),
        )
        if server_cpu > 0:
            rec["msgs_per_cpu_s"] = rec["mps"] * wall / server_cpu
        if load.deflate:
            rec["compressed_frames"] = int(result.get("compressed_frames", 0))
        if not sp.alive():
            rec["error"] = f"server died during the measurement: {sp.log_tail()}"
        elif not result.get("messages"):
            rec["error"] = f"no message echoed: {json.dumps(result)[:300]}"
        elif load.deflate and int(result.get("deflate_connections", 0)) < int(result.get("connections_open", 0)):
            rec["error"] = (f"permessage-deflate on {result.get('deflate_connections')} of "
                            f"{result.get('connections_open')} connections only")
        else:
            rec["ok"] = True
        return rec
    finally:
        if sp is not None:
            rec["stop"] = sp.stop()
            log = _log_summary(sp)
            if log:
                rec["server_log"] = log


def _log_summary(sp: ServerProcess) -> Optional[str]:
    """What the server logged, without uvicorn's deprecation warning for --ws websockets."""
    try:
        lines = sp.log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return None
    lines = [ln for ln in lines if "DeprecationWarning" not in ln and ln.strip() != "warnings.warn("]
    if not lines:
        return None
    return f"{len(lines)} log line(s): " + " | ".join(ln.strip()[:200] for ln in lines[:3])


# --------------------------------------------------------------------------------------------
# Profile (py-spy)
# --------------------------------------------------------------------------------------------


def profile_pyre(args, load: Load, exe: Path, logdir: Path, out: Path) -> Optional[str]:
    """One unmeasured Pyre run with py-spy attached to the server during the window."""
    if not shutil.which("py-spy"):
        return "py-spy is not on PATH"
    sp, err = start_server(WS_SERVERS["pyre"], args, logdir)
    try:
        if err:
            return f"pyre failed to start: {err}"
        err = verify(sp.port, load.deflate)
        if err:
            return f"verification failed: {err}"
        spy: Dict[str, subprocess.Popen] = {}
        dur = max(1, int(args.duration))

        def on_start() -> None:
            # py-spy shares the client's core, so that the server keeps core 0 to itself.
            cmd = ["taskset", "-c", args.client_cpu, "py-spy", "record", "-p", str(sp.proc.pid), "-d", str(dur),
                   "-r", str(args.profile_rate), "-f", "raw", "-o", str(out), "--idle", "--full-filenames"]
            # --native needs py-spy to stop the server for every sample; on this kind of VM the
            # stops land mostly at system-call exits, which inflates read/write/getpid. The
            # default is therefore --nonblocking: Python frames only, no pauses, no such bias.
            cmd.append("--native" if args.profile_native else "--nonblocking")
            spy["p"] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        result, _cmd, stderr = run_client(exe, sp.port, args, load, dur + 1, args.warmup, on_start)
        p = spy.get("p")
        if p is None:
            return "the client never opened its window: " + stderr[-300:]
        try:
            _, perr = p.communicate(timeout=dur + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            _, perr = p.communicate()
        print(f"[ws] profiled run: {result.get('messages_per_s', 0):,.0f} msg/s under py-spy "
              f"(client CPU {result.get('cpu_pct', 0):.0f}%)", file=sys.stderr)
        if p.returncode != 0 or not out.exists():
            return f"py-spy failed ({p.returncode}): {perr.strip()[-300:]}"
        return None
    finally:
        if sp is not None:
            sp.stop()


_FRAME_RE = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_LIBC_FUNCS = {"write", "writev", "read", "readv", "send", "sendmsg", "recv", "recvmsg", "epoll_wait",
               "epoll_pwait", "epoll_ctl", "getpid", "clock_gettime", "__libc_write", "__libc_read"}
_UV_SOURCES = {"loop.c", "core.c", "linux.c", "stream.c", "uv-common.c", "tcp.c", "timer.c", "async.c", "signal.c",
               "poll.c", "loop-watcher.c", "queue.h", "internal.h"}
# Owners: a sample is charged to the innermost frame that belongs to one of these.
_OWNERS = ("wsproto", "pyre", "app", "asyncio", "uvloop", "kernel/libc")


def _category(func: str, file: str) -> str:
    """Which part of the server a frame belongs to (py-spy raw frames, --full-filenames)."""
    f = file.replace("\\", "/")
    base = f.rsplit("/", 1)[-1]
    if "/wsproto/" in f or f.startswith("wsproto/"):
        return "wsproto"
    m = re.search(r"(?:^|/)(pyre/[^:]*)$", f)
    if m:
        return m.group(1)
    if f.endswith("bench/apps.py"):
        return "app"
    if "/asyncio/" in f or f.startswith("asyncio/") or base == "_asynciomodule.c":
        return "asyncio"
    if "uvloop" in f or "libuv" in f or base in _UV_SOURCES:
        return "uvloop"
    if base.startswith(("libc.so", "libc-", "ld-linux", "libpthread")) or func in _LIBC_FUNCS or f.startswith("0x"):
        return "kernel/libc"
    if f.startswith("<frozen "):
        return "stdlib"
    if f == "<string>":
        return "generated (dataclass __init__, ...)"
    if re.search(r"/lib/python3\.\d+/", f):
        return "stdlib"
    if base.endswith((".h", ".c")) or base.startswith(("libpython", "python")):
        return "CPython runtime"
    return base or "?"


_LOOP_C = "uvloop C code: epoll_wait (idle included), read(), dispatch (profile without --native)"


def _owner(cat: str) -> Optional[str]:
    if cat.startswith("pyre/"):
        return cat
    return cat if cat in _OWNERS else None


def summarize_profile(path: Path, top: int = 20) -> str:
    """Where the server's time goes, from a py-spy raw (collapsed) file recorded with --idle.

    Three views: the share charged to each part of the server (a sample goes to the innermost
    frame that is wsproto, a pyre module, the app, asyncio, uvloop or a libc/kernel call;
    stdlib helpers, generated dataclass code and CPython internals are charged to their
    caller); the share of samples inside each part at any depth (inclusive); and the top
    functions by self time.
    """
    charged: Dict[str, int] = defaultdict(int)
    incl: Dict[str, int] = defaultdict(int)
    self_fn: Dict[Tuple[str, str], int] = defaultdict(int)
    incl_fn: Dict[Tuple[str, str], int] = defaultdict(int)
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = []
        for fr in stack.split(";"):
            m = _FRAME_RE.match(fr)
            if m:
                frames.append((m.group("func"), _category(m.group("func"), m.group("file"))))
            elif fr.startswith("0x"):
                frames.append((fr.split(" ", 1)[0], "kernel/libc"))
        if not frames:
            continue
        total += n
        leaf_fn, leaf_cat = frames[-1]
        if leaf_fn in ("epoll_wait", "epoll_pwait") or (leaf_cat == "uvloop" and leaf_fn == "uv__io_poll"):
            idle += n
            charged["idle (epoll_wait)"] += n
            continue
        if leaf_cat == "asyncio" and leaf_fn == "Runner.run":
            # Python frames only (no --native): the loop's own C code is running, not a callback.
            charged[_LOOP_C] += n
            self_fn[(leaf_fn + " (in uvloop's C code)", leaf_cat)] += n
            continue
        owner = next((_owner(c) for _fn, c in reversed(frames) if _owner(c)), leaf_cat)
        if owner == "kernel/libc":
            owner = f"kernel/libc: `{leaf_fn}`" if leaf_fn in _LIBC_FUNCS else "kernel/libc: other"
        charged[owner] += n
        self_fn[(leaf_fn, leaf_cat)] += n
        seen_cats = set()
        for fn, c in frames:
            key = "pyre (all modules)" if c.startswith("pyre/") else c
            seen_cats.add(key)
            if c.startswith("pyre/"):
                seen_cats.add(c)
        for c in seen_cats:
            incl[c] += n
        for key in set(frames):
            incl_fn[key] += n
    if not total:
        return f"(no samples in {path})\n"

    def pct(k: int) -> str:
        return f"{100 * k / total:.1f}%"

    busy = total - idle
    L = [f"{total:,} py-spy samples" + (f", {pct(idle)} of them idle in epoll_wait." if idle else "."), "",
         "| part of the server | charged (self + helpers) | inside it, at any depth (not shown for the event loop, "
         "which runs everything) |", "|---|---:|---:|"]
    small = [p for p, k in charged.items() if p.startswith("kernel/libc: `") and k < total / 200]
    for p in small:  # fold the crumbs (< 0.5%) into one row
        charged["kernel/libc: other"] += charged.pop(p)
    for part, k in sorted(charged.items(), key=lambda kv: -kv[1]):
        inside = pct(incl[part]) if part in incl and part not in ("uvloop", "asyncio") else ""
        L.append(f"| {part} | {pct(k)} | {inside} |")
    if "pyre (all modules)" in incl:
        L.append(f"| pyre (all modules) | {pct(sum(k for p, k in charged.items() if p.startswith('pyre/')))} | "
                 f"{pct(incl['pyre (all modules)'])} |")
    if charged.get(_LOOP_C):
        L += ["", "Without `--native`, time in C (system calls included) is charged to the Python function "
              "that called it: `transport.write()`'s `write()` to the function that flushes, and the event loop's "
              "`epoll_wait()`/`read()` to the row above."]
    L += ["", f"Busy samples: {busy:,}. Top functions by self time (the sampled leaf frame):", "",
          "| function | part | self | inclusive |", "|---|---|---:|---:|"]
    for (fn, cat), k in sorted(self_fn.items(), key=lambda kv: -kv[1])[:top]:
        L.append(f"| `{fn}` | {cat} | {pct(k)} | {pct(incl_fn[(fn, cat)])} |")
    py = sorted(((k, v) for k, v in incl_fn.items() if k[1].startswith(("pyre/", "wsproto", "app"))),
                key=lambda kv: -kv[1])
    py = [kv for kv in py if kv[1] < total][:top]
    L += ["", "| Python function, by inclusive time | part | inclusive | self |", "|---|---|---:|---:|"]
    for (fn, cat), k in py:
        L.append(f"| `{fn}` | {cat} | {pct(k)} | {pct(self_fn.get((fn, cat), 0))} |")
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------------------------
# Summary and report
# --------------------------------------------------------------------------------------------


def _median(xs: List[float]) -> Optional[float]:
    return statistics.median(xs) if xs else None


def summarize(runs: List[Dict[str, object]], servers: List[str],
              case: Optional[str] = None) -> Dict[str, Dict[str, object]]:
    """Per server, the medians over its runs (of one load, ``case``; servers not run at all
    count for every load) and the ratio to the baseline, paired within each round."""
    runs = [r for r in runs if case is None or r.get("skipped") or r.get("case") == case]
    out: Dict[str, Dict[str, object]] = {}
    for sv in servers:
        rs = [r for r in runs if r["server"] == sv]
        ok = [r for r in rs if r.get("ok")]
        s: Dict[str, object] = {"runs": len([r for r in rs if not r.get("skipped")]), "ok_runs": len(ok)}
        skipped = [r for r in rs if r.get("skipped")]
        if skipped:
            s["skipped"] = skipped[0]["error"]
        if rs and all(r.get("unsupported") for r in rs):
            s["unsupported"] = str(rs[0]["error"])
        errs = sorted({str(r["error"]) for r in rs if r.get("error") and not r.get("skipped")})
        if errs:
            s["errors_text"] = errs
        if ok:
            for k in ("mps", "p50_ms", "p90_ms", "p99_ms", "server_cpu_pct", "client_cpu_pct", "other_cpu_pct",
                      "msgs_per_cpu_s"):
                vals = [float(r[k]) for r in ok if r.get(k) is not None]
                if vals:
                    s[k] = statistics.median(vals)
            mps = [float(r["mps"]) for r in ok]
            s["mps_min"], s["mps_max"] = min(mps), max(mps)
            s["client_cpu_pct_max"] = max(float(r["client_cpu_pct"]) for r in ok)
            s["client_bound"] = s["client_cpu_pct_max"] >= CLIENT_BOUND_PCT
            s["ws_errors"] = sum(int(r["errors"]) for r in ok)
            if any("compressed_frames" in r for r in ok):
                s["compressed_frames"] = sum(int(r.get("compressed_frames", 0)) for r in ok)
            logs = [str(r["server_log"]) for r in rs if r.get("server_log")]
            if logs:
                s["server_logs"] = logs
            kills = sorted({str(r["stop"]) for r in rs if "SIGKILL" in str(r.get("stop", ""))})
            if kills:
                s["kills"] = kills
        out[sv] = s
    base = out.get(BASELINE, {})
    for sv, s in out.items():
        if "mps" not in s or "mps" not in base:
            continue
        paired = []
        for rnd in sorted({int(r["round"]) for r in runs}):
            a = [r for r in runs if r["round"] == rnd and r["server"] == sv and r.get("ok")]
            b = [r for r in runs if r["round"] == rnd and r["server"] == BASELINE and r.get("ok")]
            if a and b:
                paired.append(float(a[0]["mps"]) / float(b[0]["mps"]))
        if paired:
            s["ratio"] = statistics.median(paired)
            s["ratio_min"], s["ratio_max"] = min(paired), max(paired)
        if s.get("p99_ms") and base.get("p99_ms"):
            s["p99_ratio"] = s["p99_ms"] / base["p99_ms"]
    return out


def _fmt(v: Optional[float], spec: str, suffix: str = "") -> str:
    return "—" if v is None else format(v, spec) + suffix


def facts(servers: List[str]) -> Dict[str, object]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {p: _version(p) for p in sorted({p for s in servers for p in WS_SERVERS[s].server.packages}
                                                | {"uvloop"})}
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = []
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()
    auto_ws = uvicorn_auto_ws() if any(WS_SERVERS[s].uvicorn_ws == "auto" for s in servers) else None
    pyre_line = None
    if any(WS_SERVERS[s].server.module == "pyre" for s in servers):
        pyre_line = pyre_version(server_env(WS_SERVERS["pyre"].server.env))
    out = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "loadavg_at_start": load,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": versions,
        "server_lines": {s: server_line(s, auto_ws, pyre_line) for s in servers},
        "gcc": gcc[0] if gcc else "unknown",
    }
    try:
        git = ["git", "-C", str(REPO)]
        out["pyre_commit"] = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                            timeout=10).stdout.strip()
        # Pyre's own code may have uncommitted changes: say which files, and a digest of the diff.
        dirty = subprocess.run(git + ["diff", "--name-only", "HEAD", "--", "pyre"], capture_output=True, text=True,
                               timeout=10).stdout.split()
        if dirty:
            diff = subprocess.run(git + ["diff", "HEAD", "--", "pyre"], capture_output=True, timeout=10).stdout
            out["pyre_uncommitted"] = f"{', '.join(dirty)} (diff sha1 {hashlib.sha1(diff).hexdigest()[:10]})"
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def render_case(load: Load, summary: Dict[str, Dict[str, object]], servers: List[str],
                lines: Dict[str, str]) -> List[str]:
    """One load's table: every row names the server's version and mode."""
    L = [f"## {load.name}: {load.describe()}", "",
         f"| server | version and mode | messages/s | vs {BASELINE} (min–max) | p50 ms | p99 ms | server CPU "
         "| client CPU | other CPU | msgs per server CPU-s | errors | runs ok |",
         "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    notes: List[str] = []
    for sv in servers:
        s = summary[sv]
        mode = lines.get(sv, "")
        if "mps" not in s:
            why = s.get("skipped") or s.get("unsupported") or "; ".join(s.get("errors_text", [])) or "no result"
            L.append(f"| {sv} | {mode} | — | | | | | | | | | {s['ok_runs']}/{s['runs']} |")
            notes.append(f"- **{sv}**: {why[:400]}")
            continue
        ratio = "—"
        if s.get("ratio") is not None:
            ratio = f"{s['ratio']:.2f}×"
            if s["ok_runs"] > 1:
                ratio += f" ({s['ratio_min']:.2f}–{s['ratio_max']:.2f})"
        name = f"**{sv}**" if sv == "pyre" else sv
        client = f"{s['client_cpu_pct']:.0f}% (max {s['client_cpu_pct_max']:.0f}%)"
        if s.get("client_bound"):
            client += " **client-bound**"
            notes.append(f"- **{sv}**: client-bound: the client used up to {s['client_cpu_pct_max']:.0f}% of its "
                         f"core, so this row measures the client as much as the server (a lower bound)")
        L.append(f"| {name} | {mode} | {s['mps']:,.0f} | {ratio} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
                 f"{s['server_cpu_pct']:.0f}% | {client} | {_fmt(s.get('other_cpu_pct'), '.0f', '%')} | "
                 f"{_fmt(s.get('msgs_per_cpu_s'), ',.0f')} | {s['ws_errors']} | {s['ok_runs']}/{s['runs']} |")
        if load.deflate and not s.get("compressed_frames"):
            notes.append(f"- **{sv}**: negotiated permessage-deflate but sent its echoes uncompressed")
        if s.get("server_logs"):
            notes.append(f"- **{sv}**: server wrote to its log in {len(s['server_logs'])} run(s): "
                         f"{s['server_logs'][0]}")
        if s.get("errors_text"):
            notes.append(f"- **{sv}**: some rounds failed: {'; '.join(s['errors_text'])[:400]}")
        if s.get("kills"):
            notes.append(f"- **{sv}**: had to be killed: {s['kills']}")
    L.append("")
    if notes:
        L += ["Notes:", ""] + notes + [""]
    return L


def render(meta: Dict[str, object], summaries: Dict[str, Dict[str, Dict[str, object]]], load_list: List[Load],
           servers: List[str]) -> str:
    f, c = meta["facts"], meta["config"]
    lines = f.get("server_lines", {})
    L = ["# WebSocket echo benchmark", "",
         f"- Command: `{meta['command']}`",
         f"- Date: {f['date']}; {f['cpu_model']}, {f['cores']} cores, kernel {f['kernel']}, "
         f"load average at start {' '.join(f['loadavg_at_start'])}",
         f"- Python: {f['python']}; client compiled with {f['gcc']}",
         "- Versions: " + ", ".join(f"{k} {v}" for k, v in f["versions"].items())
         + (f"; pyre at commit {f['pyre_commit']}" if f.get("pyre_commit") else "")
         + (f", with uncommitted changes to {f['pyre_uncommitted']}" if f.get("pyre_uncommitted") else ""),
         f"- Method: each server one process pinned with `taskset -c {c['server_cpu']}`, app `bench.apps:ws_echo`; "
         f"`bench/wsload.c` pinned with `taskset -c {c['client_cpu']}`, {c['connections']} connections; "
         f"{c['warmup']} s warm-up then {c['duration']} s measured; {c['rounds']} interleaved round(s), server "
         f"order rotated; a fresh, verified server per measurement. Medians over rounds; the ratio is paired "
         f"(same-round), vs **{BASELINE}** (uvicorn without a --ws option, as its users run it).",
         ]
    if meta.get("interrupted"):
        L.append(f"- **Interrupted** ({meta['interrupted']}): only what was measured before is reported.")
    L.append("")
    for load in load_list:
        L += render_case(load, summaries[load.name], servers, lines)
    L += ["server CPU = CPU time of the server's process group over the measured window (100% = one core); "
          f"client CPU = wsload's own CPU time over the same window; above {CLIENT_BOUND_PCT:.0f}% the row is "
          "flagged client-bound (the client, not the server, was the bottleneck). other CPU = everything else on "
          "the machine over the window (100% = one core): other work competing for the cores makes a round noisy. "
          "msgs per server CPU-s = messages/s divided by the server's CPU share. "
          "errors = connection, handshake, close, framing and inflate errors seen by the client.", ""]
    return "\n".join(L)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def _int_list(text: str) -> List[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"messages in flight must be >= 1: {text!r}")
    return list(dict.fromkeys(values))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="WebSocket echo benchmark (see bench/README.md).")
    p.add_argument("--servers", default="pyre,uvicorn,uvicorn-wsproto,hypercorn,granian",
                   help=f"comma-separated, from: {', '.join(WS_SERVERS)} (default: %(default)s)")
    p.add_argument("--scenarios", default="small",
                   help=f"comma-separated load shapes, from: {', '.join(KINDS)} (default: %(default)s)")
    p.add_argument("--in-flight", "--depth", dest="in_flight", type=_int_list, default=[1], metavar="N[,N...]",
                   help="messages in flight per connection; 1 (the default) is a chat-like client that sends "
                        "one message and waits for its echo; a list runs each scenario at each count")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    p.add_argument("--duration", type=float, default=5, help="measured seconds per run (default: 5)")
    p.add_argument("--warmup", type=float, default=1, help="seconds of load before the window (default: 1)")
    p.add_argument("--connections", type=int, default=64, help="WebSocket connections (default: 64)")
    p.add_argument("--size", type=int, default=32,
                   help="message size in bytes of the small scenario, text frames (default: 32)")
    p.add_argument("--server-cpu", default="0", help="taskset CPU list for the server (default: 0)")
    p.add_argument("--client-cpu", default="1", help="taskset CPU list for the client (default: 1)")
    p.add_argument("--out", type=Path, help="write the Markdown report here too")
    p.add_argument("--json", type=Path, help="write every run's raw result here")
    p.add_argument("--profile", type=Path, metavar="RAW",
                   help="after the rounds, profile one Pyre run (of the first load) with py-spy into this raw file")
    p.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second (default: 200)")
    p.add_argument("--profile-native", action="store_true",
                   help="py-spy --native (C frames too; pauses the server per sample, which biases the samples "
                        "towards system calls) instead of the default --nonblocking")
    p.add_argument("--profile-summary", type=Path, metavar="RAW",
                   help="only summarize an existing py-spy raw file and exit")
    p.add_argument("--keep-logs", action="store_true", help="keep the server logs and the client binary")
    args = p.parse_args(argv)
    args.workers = 1
    if args.profile_summary:
        return args
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    bad = [s for s in servers if s not in WS_SERVERS]
    if bad or not servers:
        p.error(f"unknown server(s) {bad}; choose from {', '.join(WS_SERVERS)}")
    args.servers = list(dict.fromkeys(servers))
    kinds = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        p.error(f"unknown scenario(s) {bad}; choose from {', '.join(KINDS)}")
    args.scenarios = list(dict.fromkeys(kinds))
    if args.rounds < 0 or args.duration <= 0 or args.warmup < 0 or args.connections < 1 or args.size < 0:
        p.error("--rounds >= 0, --duration > 0, --warmup >= 0, --connections >= 1, --size >= 0")
    args.loads = loads(args.scenarios, args.in_flight, args.size)
    if BASELINE not in args.servers:
        print(f"[ws] note: {BASELINE!r} is not in --servers; no ratios", file=sys.stderr)
    return args


class _Terminated(Exception):
    pass


def _on_sigterm(signum, frame):  # pragma: no cover - signal path
    raise _Terminated(f"signal {signum}")


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.profile_summary:
        print(summarize_profile(args.profile_summary))
        return 0
    if not shutil.which("taskset"):
        print("error: 'taskset' is not on PATH", file=sys.stderr)
        return 2
    servers: List[str] = args.servers
    load_list: List[Load] = args.loads
    command = shlex.join([Path(sys.executable).name, os.path.relpath(__file__)]
                         + (sys.argv[1:] if argv is None else argv))
    tmp = Path(tempfile.mkdtemp(prefix="pyre-ws-bench-"))
    logdir = tmp / "logs"
    logdir.mkdir()
    exe = build_client(tmp)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "loads"}
    config["loads"] = [load.name for load in load_list]
    meta: Dict[str, object] = {"command": command, "facts": facts(servers), "config": config}
    for sv in servers:
        print(f"[ws] {sv}: {meta['facts']['server_lines'][sv]}", file=sys.stderr)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)
    runs: List[Dict[str, object]] = []
    missing = {s: WS_SERVERS[s].missing() for s in servers}
    for sv, why in missing.items():
        if why:
            runs.append({"round": 0, "server": sv, "ok": False, "skipped": True, "error": f"not run: {why}"})
    todo = [s for s in servers if not missing[s]]
    unsupported: Dict[Tuple[str, str], str] = {}  # (server, case) found not to support a load: not retried
    total = len(todo) * args.rounds * len(load_list)
    est = total * (args.duration + args.warmup + 4)
    print(f"[ws] {len(todo)} server(s) x {len(load_list)} load(s) x {args.rounds} round(s): {total} measurements, "
          f"about {est / 60:.1f} min", file=sys.stderr)
    interrupted = None
    done = 0
    try:
        for rnd in range(1, args.rounds + 1):
            for load in load_list:
                k = (rnd - 1) % max(1, len(todo))
                for sv in todo[k:] + todo[:k]:
                    done += 1
                    print(f"[ws] round {rnd}/{args.rounds} {load.name:<22} {sv:<18} ({done}/{total}) ...", end="",
                          file=sys.stderr, flush=True)
                    if (sv, load.name) in unsupported:
                        runs.append({"round": rnd, "server": sv, "case": load.name, "ok": False,
                                     "unsupported": True, "error": unsupported[(sv, load.name)]})
                        print(" not supported", file=sys.stderr)
                        continue
                    rec = measure(WS_SERVERS[sv], load, args, exe, logdir, rnd)
                    runs.append(rec)
                    if rec.get("unsupported"):
                        unsupported[(sv, load.name)] = str(rec["error"])
                    if rec.get("mps") is not None:
                        print(f" {rec['mps']:>10,.0f} msg/s  p50 {rec['p50_ms']:.2f} ms  p99 {rec['p99_ms']:.2f} ms  "
                              f"cpu: server {rec['server_cpu_pct']:.0f}% client {rec['client_cpu_pct']:.0f}% "
                              f"other {rec['other_cpu_pct']:.0f}%"
                              + (f"  errors {rec['errors']}" if rec["errors"] else "")
                              + ("" if rec["ok"] else f"  FAILED: {rec.get('error')}"), file=sys.stderr)
                    else:
                        print(f" FAILED: {str(rec.get('error'))[:300]}", file=sys.stderr)
        if args.profile:
            print(f"[ws] profiling pyre with py-spy into {args.profile} ...", file=sys.stderr)
            err = profile_pyre(args, load_list[0], exe, logdir, args.profile)
            meta["profile"] = err or str(args.profile)
            if err:
                print(f"[ws] profile failed: {err}", file=sys.stderr)
    except (KeyboardInterrupt, _Terminated) as exc:
        interrupted = type(exc).__name__
        print(f"\n[ws] interrupted ({interrupted}); servers stopped; reporting what was measured", file=sys.stderr)
    finally:
        if _current_client is not None and _current_client.poll() is None:
            _current_client.kill()
            _current_client.wait()
    meta["interrupted"] = interrupted
    summaries = {load.name: summarize(runs, servers, load.name) for load in load_list}
    md = (render(meta, summaries, load_list, servers) if args.rounds
          else f"# WebSocket echo benchmark\n\n- Command: `{command}`\n")
    if args.profile and meta.get("profile") == str(args.profile):
        how = "--native" if args.profile_native else "--nonblocking"
        md += (f"\n## Where Pyre's server time goes (py-spy {how}, one extra run of {load_list[0].name})\n\n"
               + summarize_profile(args.profile))
    print(md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(md)
        print(f"[ws] wrote {args.out}", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "summary": summaries, "runs": runs}, indent=2, default=str))
        print(f"[ws] wrote {args.json}", file=sys.stderr)
    if args.keep_logs:
        print(f"[ws] server logs and the client binary kept in {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    if interrupted:
        return 130
    return 0 if any(r.get("ok") for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
