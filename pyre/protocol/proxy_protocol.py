"""The HAProxy PROXY protocol header, versions 1 (text) and 2 (binary), sans-IO.

A proxy that relays a TCP connection (HAProxy ``send-proxy``/``send-proxy-v2``, AWS
NLB, GCP load balancers, ...) sends one header before the first byte of the relayed
stream, saying who the real client was. :func:`parse_proxy_header` reads it from the
first bytes of a connection: it returns ``None`` while more bytes are needed, a
:class:`ProxyHeader` once the header is complete (``consumed`` says how many bytes it
took; the rest belongs to the relayed protocol), and raises :class:`ProxyProtocolError`
as soon as the bytes cannot be a valid header. Call it again with everything received
so far when more bytes arrive: it keeps no state.

The version is decided by the first byte: ``P`` starts version 1 (``PROXY ``), CR
starts version 2 (its 12-byte signature). Every byte is checked against the
signature as it arrives, so an HTTP request, a TLS ClientHello or random bytes are
rejected at once instead of after 107 bytes or a timeout.

Strictness (for the documentation):

- Version 1: at most 107 bytes including CRLF; US-ASCII printable text; fields
  separated by exactly one space; ``TCP4`` with dotted-quad addresses (no leading
  zeros), ``TCP6`` with IPv6 addresses (no zone ``%``), the family of both addresses
  matching the keyword; ports decimal 0-65535 without leading zeros; a lone CR or
  LF is an error. ``PROXY UNKNOWN`` accepts anything printable before CRLF and means
  "use the real connection's addresses".
- Version 2: version nibble 2; command LOCAL (0) or PROXY (1). LOCAL (the proxy's
  own health check) ignores the family and the address block: the real addresses
  apply. PROXY accepts the family/protocol bytes ``0x00`` (UNSPEC: the real
  addresses apply), ``0x11`` (TCP over IPv4), ``0x21`` (TCP over IPv6) and ``0x31``
  (UNIX stream); datagram protocols (UDP, UNIX dgram) and the other combinations are
  errors, since the connection carrying the header is a stream. Unassigned nibbles
  are errors for either command. The length after the fixed 16 bytes is at most
  :data:`V2_MAX_LENGTH` (4096) bytes, must hold the family's addresses, and is
  checked as soon as the fixed part is in. TLVs after the addresses of a PROXY
  header must tile the rest exactly (3-byte type/length, then the value); they are
  returned raw in ``tlvs`` and not interpreted (the CRC32C TLV is not verified, which
  the specification allows for receivers that do not support it).
"""

from __future__ import annotations

import socket
from typing import NamedTuple, Optional, Tuple, Union

__all__ = [
    "Address",
    "ProxyHeader",
    "ProxyProtocolError",
    "V1_MAX_LENGTH",
    "V2_MAX_LENGTH",
    "V2_SIGNATURE",
    "parse_proxy_header",
]

V1_PREFIX = b"PROXY "
V1_MAX_LENGTH = 107  # the specification's worst case, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_MAX_LENGTH = 4096  # bytes after the fixed 16: far above what real senders put there

# An address as socket.getpeername() gives it for the family: (host, port) for
# AF_INET/AF_INET6, the path for AF_UNIX; None when the real connection's apply.
Address = Union[Tuple[str, int], str, None]


class ProxyProtocolError(ValueError):
    """The bytes are not a valid PROXY protocol header; the connection must be dropped."""


class ProxyHeader(NamedTuple):
    """A complete PROXY protocol header.

    ``family`` is ``"AF_INET"``, ``"AF_INET6"``, ``"AF_UNIX"`` or ``"AF_UNSPEC"``
    (version 1 ``UNKNOWN``, version 2 UNSPEC, and every LOCAL header). ``source`` and
    ``destination`` are None when the real connection's addresses apply (LOCAL,
    UNKNOWN, UNSPEC). ``tlvs``: the version 2 TLVs as ``(type, value)`` pairs.
    """

    version: int
    command: str  # "PROXY" or "LOCAL"
    family: str
    source: Address
    destination: Address
    consumed: int
    tlvs: Tuple[Tuple[int, bytes], ...] = ()


def parse_proxy_header(data: Union[bytes, bytearray, memoryview], max_v2_length: int = V2_MAX_LENGTH
                       ) -> Optional[ProxyHeader]:
    """Parse the header at the start of ``data`` (everything received so far).

    Returns None if the bytes are a valid beginning of a header but it is not complete.
    """
    if not data:
        return None
    first = data[0]
    if first == 0x50:  # "P"
        return _parse_v1(data)
    if first == 0x0D:
        return _parse_v2(data, max_v2_length)
    raise ProxyProtocolError("not a PROXY protocol header")


# -- version 1 -------------------------------------------------------------------------------

_PRINTABLE = bytes(range(0x20, 0x7F))
_V1_PROTOCOLS = (b"TCP4", b"TCP6", b"UNKNOWN")


def _parse_v1(data: Union[bytes, bytearray, memoryview]) -> Optional[ProxyHeader]:
    n = len(data)
    if n < 6:
        if bytes(data) != V1_PREFIX[:n]:
            raise ProxyProtocolError("not a PROXY protocol header")
        return None
    if bytes(data[:6]) != V1_PREFIX:
        raise ProxyProtocolError("not a PROXY protocol header")
    end = bytes(data[:V1_MAX_LENGTH]).find(b"\r\n", 6)
    if end < 0:
        if n >= V1_MAX_LENGTH:
            raise ProxyProtocolError("version 1 header without CRLF in its first 107 bytes")
        line = bytes(data[6:])
        if line.endswith(b"\r"):
            line = line[:-1]  # the LF may follow
        _check_text(line)
        keyword, space, _ = line.partition(b" ")
        if space:
            if keyword not in _V1_PROTOCOLS:
                raise ProxyProtocolError("version 1: unknown protocol " + repr(keyword))
        elif not any(p.startswith(keyword) for p in _V1_PROTOCOLS):
            raise ProxyProtocolError("version 1: unknown protocol " + repr(keyword))
        return None
    line = bytes(data[6:end])
    _check_text(line)
    consumed = end + 2
    keyword, space, rest = line.partition(b" ")
    if keyword == b"UNKNOWN":
        return ProxyHeader(1, "PROXY", "AF_UNSPEC", None, None, consumed)
    if keyword == b"TCP4":
        family, address = "AF_INET", _ipv4_text
    elif keyword == b"TCP6":
        family, address = "AF_INET6", _ipv6_text
    else:
        raise ProxyProtocolError("version 1: unknown protocol " + repr(keyword))
    fields = rest.split(b" ")
    if not space or len(fields) != 4:
        raise ProxyProtocolError("version 1: expected two addresses and two ports, single spaces between")
    src, dst, sport, dport = fields
    return ProxyHeader(1, "PROXY", family, (address(src), _port(sport)), (address(dst), _port(dport)), consumed)


def _check_text(line: bytes) -> None:
    if line.translate(None, _PRINTABLE):
        raise ProxyProtocolError("version 1: a control or non-ASCII byte (or a lone CR/LF) in the line")


def _ipv4_text(text: bytes) -> str:
    parts = text.split(b".")
    if len(parts) != 4:
        raise ProxyProtocolError("version 1: invalid IPv4 address " + repr(text))
    for part in parts:
        if not (0 < len(part) <= 3 and part.isdigit()) or (part[0] == 0x30 and len(part) > 1) or int(part) > 255:
            raise ProxyProtocolError("version 1: invalid IPv4 address " + repr(text))
    return text.decode("ascii")


_IPV6_CHARS = b"0123456789abcdefABCDEF:."


def _ipv6_text(text: bytes) -> str:
    # inet_pton: groups of 1-4 hex digits, at most one "::", a dotted IPv4 tail; no
    # zone ("%"), which the character check also excludes. Written back canonical.
    if not 2 <= len(text) <= 45 or text.translate(None, _IPV6_CHARS):
        raise ProxyProtocolError("version 1: invalid IPv6 address " + repr(text))
    try:
        packed = socket.inet_pton(socket.AF_INET6, text.decode("ascii"))
    except OSError:
        raise ProxyProtocolError("version 1: invalid IPv6 address " + repr(text)) from None
    return socket.inet_ntop(socket.AF_INET6, packed)


def _port(text: bytes) -> int:
    if not (0 < len(text) <= 5 and text.isdigit()) or (text[0] == 0x30 and len(text) > 1):
        raise ProxyProtocolError("version 1: invalid port " + repr(text))
    port = int(text)
    if port > 65535:
        raise ProxyProtocolError("version 1: invalid port " + repr(text))
    return port


# -- version 2 -------------------------------------------------------------------------------

_LOCAL = 0x0
_PROXY = 0x1
_FAMILIES = ("AF_UNSPEC", "AF_INET", "AF_INET6", "AF_UNIX")
# Family/protocol byte of a PROXY command -> bytes of addresses (and ports).
_ADDRESS_LENGTH = {0x00: 0, 0x11: 12, 0x21: 36, 0x31: 216}


def _parse_v2(data: Union[bytes, bytearray, memoryview], max_length: int) -> Optional[ProxyHeader]:
    n = len(data)
    if n < 12:
        if bytes(data) != V2_SIGNATURE[:n]:
            raise ProxyProtocolError("not a PROXY protocol header")
        return None
    if bytes(data[:12]) != V2_SIGNATURE:
        raise ProxyProtocolError("not a PROXY protocol header")
    if n < 13:
        return None
    version_command = data[12]
    if version_command >> 4 != 2:
        raise ProxyProtocolError(f"version 2: unsupported version {version_command >> 4}")
    command = version_command & 0x0F
    if command > _PROXY:
        raise ProxyProtocolError(f"version 2: unknown command {command}")
    if n < 14:
        return None
    family_protocol = data[13]
    if family_protocol >> 4 > 3 or family_protocol & 0x0F > 2:
        raise ProxyProtocolError(f"version 2: unknown address family or protocol {family_protocol:#04x}")
    if command == _PROXY and family_protocol not in _ADDRESS_LENGTH:
        raise ProxyProtocolError(f"version 2: unsupported family/protocol {family_protocol:#04x} (not a stream)")
    if n < 16:
        return None
    length = data[14] << 8 | data[15]
    if length > max_length:
        raise ProxyProtocolError(f"version 2: header length {length} over the limit of {max_length}")
    total = 16 + length
    if command == _LOCAL:
        return None if n < total else ProxyHeader(2, "LOCAL", "AF_UNSPEC", None, None, total)
    need = _ADDRESS_LENGTH[family_protocol]
    if length < need:
        raise ProxyProtocolError(f"version 2: address block of {length} bytes, {need} needed")
    if n < total:
        return None
    if family_protocol == 0x00:
        return ProxyHeader(2, "PROXY", "AF_UNSPEC", None, None, total)
    block = bytes(data[16:total])
    family = _FAMILIES[family_protocol >> 4]
    if family == "AF_INET":
        source: Address = (socket.inet_ntop(socket.AF_INET, block[0:4]), block[8] << 8 | block[9])
        destination: Address = (socket.inet_ntop(socket.AF_INET, block[4:8]), block[10] << 8 | block[11])
    elif family == "AF_INET6":
        source = (socket.inet_ntop(socket.AF_INET6, block[0:16]), block[32] << 8 | block[33])
        destination = (socket.inet_ntop(socket.AF_INET6, block[16:32]), block[34] << 8 | block[35])
    else:  # AF_UNIX: two NUL-padded 108-byte paths (an abstract name reads as "")
        source = block[0:108].partition(b"\0")[0].decode("utf-8", "surrogateescape")
        destination = block[108:216].partition(b"\0")[0].decode("utf-8", "surrogateescape")
    return ProxyHeader(2, "PROXY", family, source, destination, total, _tlvs(block, need))


def _tlvs(block: bytes, offset: int) -> Tuple[Tuple[int, bytes], ...]:
    tlvs = []
    end = len(block)
    while offset < end:
        if end - offset < 3:
            raise ProxyProtocolError("version 2: truncated TLV")
        value_end = offset + 3 + (block[offset + 1] << 8 | block[offset + 2])
        if value_end > end:
            raise ProxyProtocolError("version 2: TLV longer than the header")
        tlvs.append((block[offset], block[offset + 3:value_end]))
        offset = value_end
    return tuple(tlvs)
