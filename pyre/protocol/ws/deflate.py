"""permessage-deflate (RFC 7692), server side: the negotiation, and the compression of
whole messages with zlib, inflated with a bound.

``PerMessageDeflate.accept`` answers one client offer (or declines it); then
``deflate`` compresses a message the server sends and ``inflate`` inflates a message
received in one frame, at most ``max_size`` bytes of it: a compression bomb costs no
more than that before it is refused with 1009 (``InflateError``). The frame reader
(:mod:`pyre.protocol.ws.frames`) calls both for whole messages. A message in several
frames is wsproto's (the session hands the stream over): the ``Extension`` hooks below
serve it from the same zlib streams, so the contexts carry over.

Context takeover: the server keeps its compression context between messages unless
the client asked for ``server_no_context_takeover`` (then each message ends with a
full flush, which forgets the context, instead of a sync flush). The inflater keeps
its context always: a client that resets its own does not refer to the past, and a
32 KiB window reads a stream made with any smaller one.
"""

from __future__ import annotations

import zlib
from typing import Any, Optional, Tuple, Union

from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason, Opcode, RsvBits

__all__ = ["InflateError", "PerMessageDeflate"]

_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.2: removed by the sender, appended to inflate
# The compressor's window and memory level: a 4 KiB window and memLevel 5, as
# websockets (uvicorn's default) uses, are 32 KiB of zlib state per connection
# instead of 256 KiB for zlib's defaults (15, 8). A window smaller than the one
# negotiated needs no word to the client: the negotiated size is a maximum.
COMPRESS_WINDOW_BITS = 12
COMPRESS_MEM_LEVEL = 5
MESSAGE_TOO_BIG = 1009
INVALID_DATA = 1007
_NO_RSV = RsvBits(False, False, False)
_RSV1 = RsvBits(True, False, False)


class InflateError(Exception):
    """A compressed message cannot be taken: close with ``code`` (1009: too big after
    inflating; 1007: not a deflate stream, or text that is not UTF-8)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _window_bits(value: str) -> int:
    """An offer's window size (8-15, RFC 7692 §7.1.2), or -1 if it is not one."""
    value = value.strip('"')
    if not value.isdigit() or len(value) > 2 or not 8 <= int(value) <= 15:
        return -1
    return int(value)


class PerMessageDeflate(Extension):
    """The server's permessage-deflate for one connection (see the module)."""

    name = "permessage-deflate"

    def __init__(self, max_size: int, level: int = zlib.Z_DEFAULT_COMPRESSION) -> None:
        self.max_size = max_size
        self.level = level
        self.server_no_context_takeover = False
        self.client_no_context_takeover = False
        self.server_max_window_bits = 15
        self._enabled = False
        self._compressor: Any = None  # zlib streams, made on first use
        self._decompressor: Any = None
        # wsproto's side (a message in several frames): the message is compressed, the
        # current frame is a data frame, and the bytes inflated so far.
        self._inbound_compressed: Optional[bool] = None
        self._inbound_data = False
        self._inflated = 0

    # -- the negotiation -------------------------------------------------------------

    def enabled(self) -> bool:
        return self._enabled

    def offer(self) -> Union[bool, str]:
        return False  # a server answers offers, it makes none

    def accept(self, offer: str) -> Optional[str]:
        """The answer's parameters to one offer (``""``: none), or ``None`` to decline it
        (RFC 7692 §7.1: an unknown, repeated or invalid parameter; a server window
        under 9 bits, which zlib cannot make)."""
        seen = set()
        server_nct = client_nct = False
        server_bits = 0
        client_bits: Optional[int] = None
        for param in offer.split(";")[1:]:
            key, eq, value = param.partition("=")
            key = key.strip().lower()
            value = value.strip()
            if not key or key in seen:
                return None
            seen.add(key)
            if key in ("server_no_context_takeover", "client_no_context_takeover"):
                if eq:
                    return None
                if key[0] == "s":
                    server_nct = True
                else:
                    client_nct = True
            elif key == "server_max_window_bits":
                server_bits = _window_bits(value)
                if server_bits < 9:
                    return None
            elif key == "client_max_window_bits":
                client_bits = 15 if not eq else _window_bits(value)
                if client_bits < 0:
                    return None
            else:
                return None
        params = []
        if client_nct:
            params.append("client_no_context_takeover")
        if server_nct:
            params.append("server_no_context_takeover")
        if client_bits is not None:
            params.append(f"client_max_window_bits={client_bits}")
        if server_bits:
            params.append(f"server_max_window_bits={server_bits}")
            self.server_max_window_bits = server_bits
        self.server_no_context_takeover = server_nct
        self.client_no_context_takeover = client_nct
        self._enabled = True
        return "; ".join(params)

    # -- whole messages --------------------------------------------------------------

    def deflate(self, data: bytes) -> Optional[bytes]:
        """One message's payload compressed (RFC 7692 §7.2.1), or None: send it as it is.

        A message at least the compressor's window long that deflate does not shrink
        (random or already compressed data) goes uncompressed, as RFC 7692 §6 allows, so
        its frame is never longer than the message: a client checks a frame's length
        against its own size limit before inflating it (websockets' ``max_size``)."""
        bits = min(self.server_max_window_bits, COMPRESS_WINDOW_BITS)  # the compressor's window
        compressor = self._compressor
        if compressor is None:
            compressor = self._compressor = zlib.compressobj(self.level, zlib.DEFLATED, -bits, COMPRESS_MEM_LEVEL)
        out = compressor.compress(data)
        out += compressor.flush(zlib.Z_FULL_FLUSH if self.server_no_context_takeover else zlib.Z_SYNC_FLUSH)
        if len(out) - 4 >= len(data) >= 1 << bits:
            # The client never sees this message compressed, so the next one must not
            # refer to it; the compressor's whole window holds it, so starting a new one
            # loses nothing else.
            if not self.server_no_context_takeover:
                self._compressor = None
            return None
        return out[:-4]  # the flush ends with the empty stored block 00 00 ff ff

    def inflate(self, payload: Any, text: bool) -> Union[str, bytes]:
        """A message received in one compressed frame, inflated (``str`` if ``text``).
        Raises ``InflateError``: beyond ``max_size`` bytes (found out without inflating
        more than that), not a deflate stream, invalid UTF-8."""
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = self._decompressor = zlib.decompressobj(-15)
        try:
            out = decompressor.decompress(payload + _TAIL, self.max_size + 1)
        except zlib.error:
            raise InflateError(INVALID_DATA, "invalid compressed data") from None
        if decompressor.unconsumed_tail or len(out) > self.max_size:
            raise InflateError(MESSAGE_TOO_BIG, "message too big")
        if decompressor.eof:
            self._decompressor = None  # a final block (BFINAL) ended the stream: start anew
        if text:
            try:
                return out.decode("utf-8")
            except UnicodeDecodeError:
                raise InflateError(INVALID_DATA, "invalid UTF-8") from None
        return out

    # -- wsproto's hooks, for a message in several frames ----------------------------------

    def frame_inbound_header(self, proto: Any, opcode: Opcode, rsv: RsvBits,
                             payload_length: int) -> Union[CloseReason, RsvBits]:
        if rsv.rsv1 and (opcode.iscontrol() or opcode is Opcode.CONTINUATION):
            return CloseReason.PROTOCOL_ERROR
        self._inbound_data = not opcode.iscontrol()
        if self._inbound_data and self._inbound_compressed is None:
            self._inbound_compressed = rsv.rsv1
            self._inflated = 0
        return _RSV1

    def frame_inbound_payload_data(self, proto: Any, data: bytes) -> Union[bytes, CloseReason]:
        if not self._inbound_compressed or not self._inbound_data:
            return data
        return self._inflate_part(data)

    def frame_inbound_complete(self, proto: Any, fin: bool) -> Union[bytes, CloseReason, None]:
        if not fin or not self._inbound_data:
            return None
        compressed = self._inbound_compressed
        self._inbound_compressed = None
        if not compressed:
            return None
        out = self._inflate_part(_TAIL)
        if not isinstance(out, CloseReason) and self._decompressor.eof:
            self._decompressor = None
        return out

    def _inflate_part(self, data: bytes) -> Union[bytes, CloseReason]:
        if self._decompressor is None:
            self._decompressor = zlib.decompressobj(-15)
        try:
            out = self._decompressor.decompress(bytes(data), self.max_size - self._inflated + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(out)
        if self._decompressor.unconsumed_tail or self._inflated > self.max_size:
            return CloseReason.MESSAGE_TOO_BIG
        return out

    def frame_outbound(self, proto: Any, opcode: Opcode, rsv: RsvBits, data: bytes,
                       fin: bool) -> Tuple[RsvBits, bytes]:
        # The session writes data frames itself (with ``deflate``): wsproto sends only
        # control frames, never compressed.
        if opcode.iscontrol():
            return rsv, data
        raise RuntimeError("the session sends messages without wsproto")
