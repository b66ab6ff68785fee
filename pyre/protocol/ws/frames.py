"""WebSocket frames without wsproto (RFC 6455 §5): the common client frames read, a
server's frames written, payloads unmasked.

``FrameReader`` reads whole, unfragmented, masked text and binary frames and pings
from the front of a buffer, and stops at the first frame it leaves to wsproto (a
fragment, a close or pong, reserved bits or opcodes, an unmasked or oversized frame,
a non-minimal length, invalid UTF-8); ``write_frame`` appends a server's frame
(final, unmasked) for a message; ``unmask`` XORs a payload with its mask. With
permessage-deflate the reader also reads compressed frames (RSV1) through its
``inflate`` and the writer compresses through its ``compress`` argument (both from
:mod:`pyre.protocol.ws.deflate`, passed in, so this module knows no zlib).
``frame_message`` gives the same frame as one ``bytes``, for a reply written at once.

A pure-mode twin: this module is the pure-Python twin, and setup.py (PURE_MODE)
compiles it as ``pyre.protocol.ws._frames_c``, typed by ``_frames_c.pxd``;
pyre/_accel.py chooses. The only difference in behaviour is speed: the compiled
twin unmasks eight bytes at a time in C, the pure one with one big-integer XOR.
"""

from __future__ import annotations

from typing import Any, List, Tuple, Union

try:
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]

    COMPILED: bool = cython.compiled
except ImportError:  # Cython is needed to build, never to run
    COMPILED = False

__all__ = ["FrameReader", "frame_message", "unmask", "write_frame"]

_TEXT, _BINARY, _PING = 0x1, 0x2, 0x9


def _unmasked(buf: Any, start: int, end: int, mask_at: int) -> Any:
    """The payload ``buf[start:end]`` XORed with the 4-byte mask at ``buf[mask_at]``, as a new
    bytearray (compiled) or bytes (pure)."""
    n = end - start
    if n <= 0:
        return b""
    if COMPILED:
        key8 = 0
        out = bytearray(n)
        raw_src = buf  # the buffers' memory (char* coercions in the compiled twin)
        raw_dst = out
        src = cython.cast(cython.p_uchar, raw_src) + start
        dst = cython.cast(cython.p_uchar, raw_dst)
        key = cython.cast(cython.p_uchar, raw_src) + mask_at
        wide = cython.cast(cython.p_uchar, cython.address(key8))
        for i in range(8):
            wide[i] = key[i & 3]
        words = n >> 3
        src8 = cython.cast(cython.pointer(cython.ulonglong), src)
        dst8 = cython.cast(cython.pointer(cython.ulonglong), dst)
        for i in range(words):
            dst8[i] = src8[i] ^ key8
        for i in range(words << 3, n):
            dst[i] = src[i] ^ key[i & 3]
        return out
    mask = bytes(buf[mask_at : mask_at + 4])
    key_bytes = (mask * ((n + 3) // 4))[:n]
    return (int.from_bytes(buf[start:end], "little") ^ int.from_bytes(key_bytes, "little")).to_bytes(n, "little")


def _unmask_in_place(buf: Any, start: int, end: int, mask_at: int) -> None:
    """XOR ``buf[start:end]`` with the 4-byte mask at ``buf[mask_at]``, in place (done
    twice, the payload is masked again)."""
    if COMPILED:
        n = end - start
        key8 = 0
        raw = buf  # the buffer's memory (a char* coercion in the compiled twin)
        src = cython.cast(cython.p_uchar, raw) + start
        key = cython.cast(cython.p_uchar, raw) + mask_at
        wide = cython.cast(cython.p_uchar, cython.address(key8))
        for i in range(8):
            wide[i] = key[i & 3]
        src8 = cython.cast(cython.pointer(cython.ulonglong), src)
        words = n >> 3
        for i in range(words):
            src8[i] ^= key8
        for i in range(words << 3, n):
            src[i] ^= key[i & 3]
        return
    if end > start:
        buf[start:end] = _unmasked(buf, start, end, mask_at)


def unmask(data: bytes, mask: bytes) -> bytes:
    """``data`` XORed with the repeated 4-byte ``mask`` (RFC 6455 §5.3)."""
    if len(mask) != 4:
        raise ValueError("a WebSocket mask is 4 bytes")
    buf = bytearray(mask)
    buf += data
    return bytes(_unmasked(buf, 4, len(buf), 0))


class FrameReader:
    """Reads the common client frames from the front of a buffer (see the module)."""

    __slots__ = ("max_size", "stopped", "inflate")

    def __init__(self, max_size: int, inflate: Any = None) -> None:
        self.max_size = max_size
        # A frame was found that this reader leaves to wsproto: it reads no more.
        self.stopped = False
        # permessage-deflate: ``inflate(payload, text)`` gives a compressed (RSV1)
        # message's data, or raises (the caller closes); None: RSV1 is wsproto's error.
        self.inflate = inflate

    def read(self, buf: bytearray, limit: int, messages: List[Union[str, bytes]], out: bytearray,
             answer: bool) -> int:
        """Read frames from the start of ``buf``: each message's data (``str`` for text,
        ``bytes`` for binary) is appended to ``messages``, and each ping answered in
        ``out`` with a pong (if ``answer``). Stops after ``limit`` messages (``limit`` < 0:
        no limit), at an incomplete frame, or at a frame for wsproto (``stopped`` is then
        set). Returns how many bytes of ``buf`` were read; the caller removes them (their
        payloads are left unmasked: each is unmasked where it lies). What
        ``inflate`` raises goes to the caller, with ``messages`` holding those before."""
        if self.stopped:
            return 0
        size = len(buf)
        pos = 0
        produced = 0
        while True:
            if 0 <= limit <= produced:
                return pos
            if size - pos < 2:
                return pos
            first = buf[pos]
            second = buf[pos + 1]
            opcode = first & 0x0F
            if not second & 0x80 or (opcode != _TEXT and opcode != _BINARY and opcode != _PING):
                break
            compressed = first & 0xF0 == 0xC0  # FIN and RSV1: a whole compressed message
            if first & 0xF0 != 0x80 and not (compressed and opcode != _PING and self.inflate is not None):
                break
            length = second & 0x7F
            head = pos + 2
            if length == 126:
                if size - pos < 4:
                    return pos
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = pos + 4
                if length < 126:
                    break
            elif length == 127:
                if size - pos < 10:
                    return pos
                if buf[pos + 2] & 0x80:
                    break  # RFC 6455 §5.2: the most significant bit must be 0
                length = 0
                for i in range(pos + 2, pos + 10):
                    length = (length << 8) | buf[i]
                head = pos + 10
                if length < 65536:
                    break
            if length > self.max_size or (opcode == _PING and length > 125):
                break
            end = head + 4 + length
            if size < end:
                return pos
            if compressed:
                messages.append(self.inflate(_unmasked(buf, head + 4, end, head), opcode == _TEXT))
                produced += 1
                pos = end
                continue
            # Unmasked where it lies (the caller drops the bytes read), and taken from
            # there: no copy of the payload but the message itself.
            _unmask_in_place(buf, head + 4, end, head)
            raw = buf  # (a char* into the buffer in the compiled twin: slices are bytes)
            if opcode == _TEXT:
                try:
                    text = raw[head + 4 : end].decode("utf-8")
                except UnicodeDecodeError:
                    _unmask_in_place(buf, head + 4, end, head)  # masked again, as wsproto expects it
                    break
                messages.append(text)
                produced += 1
            elif opcode == _BINARY:
                messages.append(bytes(raw[head + 4 : end]))
                produced += 1
            elif answer:  # a ping: a pong with the same payload
                out.append(0x8A)
                out.append(length)
                out += raw[head + 4 : end]
            pos = end
        self.stopped = True
        return pos


def _first_and_payload(data: Union[str, bytes], compress: Any) -> Tuple[int, bytes]:
    """A server frame's first byte (FIN, RSV1 if compressed, the opcode: text for
    ``str``, binary for bytes) and its payload: the message's UTF-8 or bytes, through
    ``compress`` (permessage-deflate) unless that gives None."""
    if type(data) is str:
        text = data  # (typed str in the compiled twin: the encoder is called directly)
        payload = text.encode("utf-8")
        first = 0x81
    else:
        payload = data if type(data) is bytes else bytes(data)
        first = 0x82
    if compress is not None:
        packed = compress(payload)
        if packed is not None:
            payload = packed
            first |= 0x40
    return first, payload


def write_frame(out: bytearray, data: Union[str, bytes], compress: Any = None) -> None:
    """Append a server's frame for one message to ``out``: final, unmasked (RFC 6455 §5.2),
    text for ``str``, binary for bytes; with ``compress`` (permessage-deflate), its
    payload is ``compress(payload)`` with RSV1 set, unless that is None (sent as it is)."""
    first, payload = _first_and_payload(data, compress)
    n = len(payload)
    out.append(first)
    if n < 126:
        out.append(n)
    elif n < 65536:
        out.append(126)
        out.append(n >> 8)
        out.append(n & 0xFF)
    else:
        out.append(127)
        for shift in range(56, -8, -8):
            out.append((n >> shift) & 0xFF)
    out += payload


def frame_message(data: Union[str, bytes], compress: Any = None) -> bytes:
    """The frame ``write_frame`` would append for one message, as ``bytes``: for a
    reply written at once, without a buffer to append to and copy out of."""
    if COMPILED:
        if compress is None and type(data) is str:
            text = data
            if PyUnicode_IS_ASCII(text):  # no encoding: its characters are its bytes
                return _frame_of(0x81, cython.cast(cython.p_char, PyUnicode_DATA(text)), PyUnicode_GET_LENGTH(text))
        first, payload = _first_and_payload(data, compress)
        return _frame_of(first, payload, len(payload))
    out = bytearray()
    write_frame(out, data, compress)
    return bytes(out)


def _frame_of(first: int, payload: Any, n: int) -> bytes:
    """The compiled twin's frame: a final frame's header (``first``: FIN, RSV1 and the
    opcode) and the ``n`` bytes at ``payload``, in one new ``bytes``."""
    head = 2 if n < 126 else 4 if n < 65536 else 10
    frame = PyBytes_FromStringAndSize(cython.NULL, head + n)
    dst = cython.cast(cython.p_uchar, PyBytes_AS_STRING(frame))
    dst[0] = first
    if n < 126:
        dst[1] = n
    elif n < 65536:
        dst[1] = 126
        dst[2] = n >> 8
        dst[3] = n & 0xFF
    else:
        dst[1] = 127
        for i in range(8):
            dst[2 + i] = (n >> (56 - 8 * i)) & 0xFF
    memcpy(dst + head, payload, n)
    return frame
