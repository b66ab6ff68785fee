"""Trusted proxy headers: the client address and scheme a trusted proxy reports.

:class:`ProxyHeadersMiddleware` is made only when ``proxy_headers`` is on, so a
server without it pays nothing; the server's connections apply it to the scopes they
build (:meth:`ProxyHeadersMiddleware.apply`) rather than awaiting it, and as an ASGI
middleware it does the same to a copy. It acts only when the direct peer
(``scope["client"]``) is in ``forwarded_allow_ips``; otherwise the scope reaches the
app as it is. Headers are never removed or rewritten.

The rules, in order:

- Entries (:func:`parse_trusted`): IPv4/IPv6 addresses, networks (``10.0.0.0/8``,
  ``fd00::/8``; host bits must be zero), ``*`` (everyone, Unix-socket peers included)
  and ``unix:`` (peers on a Unix socket, whose ``scope["client"]`` is None; untrusted
  unless listed, as in uvicorn). IPv4-mapped IPv6 (``::ffff:10.0.0.1``) is the same
  as IPv4, in peers, entries and hops. Blank entries are ignored; anything else is
  a ConfigError.
- Source: RFC 7239 ``Forwarded`` when it has at least one element, else
  ``X-Forwarded-For`` with ``X-Forwarded-Proto``. Never a mix of the two. Several
  fields of a header are one list, in order. So the trusted proxy must set (or
  strip) ``Forwarded`` even when it writes only X-Forwarded-For; ``source`` can
  restrict the middleware to one of the two.
- Client: the hops are walked from the right, skipping trusted addresses; the first
  untrusted address is the client. If every address is trusted, the left-most is.
  A hop that is not an IP address (``unknown``, ``_obfuscated``, no ``for=``, a bad
  port, a malformed element) stops the walk and the client stays the peer. The port
  is the hop's (Forwarded, or ``X-Forwarded-For``'s ``1.2.3.4:5`` / ``[::1]:5``
  form), 0 if it gives none or an obfuscated one. The host is in canonical form.
- Forwarded elements are split at every comma, even a quoted one (proxies write no
  commas in values): an element so split is malformed. Then nothing a client puts on
  the left (an unterminated quote, say) can hide what proxies appended on its right,
  and the work stays linear in the header size.
- Scheme: the ``proto=`` of the element the walk stopped on; with X-Forwarded-For,
  the X-Forwarded-Proto value at the same position when both headers have as many
  values, else the right-most (which also counts without X-Forwarded-For). Only
  ``http``/``https`` (any case) count, as ``ws``/``wss`` in a websocket scope;
  anything else leaves the scheme alone.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Any, Awaitable, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from pyre.trusted_hosts import LOOPBACK, UNIX, TrustedHosts, parse_trusted

__all__ = ["ProxyHeadersMiddleware", "TrustedHosts", "UNIX", "parse_trusted"]

Scope = Dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

_CACHE_SIZE = 1024


class ProxyHeadersMiddleware:
    """Sets ``client`` and ``scheme`` from proxy headers sent by a trusted peer.

    ``trusted`` is a :class:`TrustedHosts` or entries for :func:`parse_trusted`.
    ``source``: ``"auto"`` (Forwarded if present, else X-Forwarded-*),
    ``"forwarded"`` or ``"x-forwarded"`` (read only that one).
    """

    __slots__ = ("app", "trusted", "header_names", "_wanted")

    def __init__(
        self,
        app: ASGIApp,
        trusted: Union[TrustedHosts, str, Iterable[str]] = LOOPBACK,
        *,
        source: str = "auto",
    ) -> None:
        if source not in _SOURCES:
            raise ValueError(f"source: expected one of {', '.join(_SOURCES)}, got {source!r}")
        self.app = app
        self.trusted = trusted if isinstance(trusted, TrustedHosts) else parse_trusted(trusted)
        self._wanted = _SOURCES[source]
        # The headers read (a request with none of them keeps its client and scheme).
        self.header_names = frozenset(self._wanted)

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            if self.trusts(scope.get("client")):
                scope = self._forwarded(scope, kind)
        return await self.app(scope, receive, send)

    def trusts(self, client: Optional[_Address]) -> bool:
        """Whether the headers of a peer at ``client`` (None: a Unix socket) are read."""
        return (client[0] if client else None) in self.trusted

    def apply(self, scope: Scope) -> None:
        """What this middleware does to an ``http`` or ``websocket`` scope, done in place
        (the server's connections call it instead of wrapping the app: see
        :class:`~pyre.transport.context.ServerContext`)."""
        if self.trusts(scope.get("client")):
            _update(scope, *self.resolve(scope["headers"], scope["type"]))

    def _forwarded(self, scope: Scope, kind: str) -> Scope:
        """The scope, or a copy with the forwarded client and scheme; one header pass."""
        address, scheme = self.resolve(scope["headers"], kind)
        if address is None and scheme is None:
            return scope
        scope = dict(scope)
        _update(scope, address, scheme)
        return scope

    def forwarded(self, client: Optional[_Address], scheme: str, headers: List[Tuple[bytes, bytes]],
                  kind: str) -> Tuple[Optional[_Address], str]:
        """``(client, scheme)`` as this middleware would set them in a scope with those
        values and headers (the native path's: :mod:`pyre.asgi.native`)."""
        if self.trusts(client):
            address, forwarded_scheme = self.resolve(headers, kind)
            if address is not None:
                client = address
            if forwarded_scheme is not None:
                scheme = forwarded_scheme
        return client, scheme

    def client_text(self, peer: str, headers: List[Tuple[bytes, bytes]]) -> str:
        """The access log's client: ``host:port`` of the forwarded client when the peer
        (``peer``, as ``host:port`` or ``-``) is trusted and the headers name one, else
        ``peer`` (the same rules as the scope's)."""
        host: Optional[str] = peer.rpartition(":")[0] if peer != "-" else None
        if host not in self.trusted:
            return peer
        address = self.resolve(headers, "http")[0]
        return f"{address[0]}:{address[1]}" if address is not None else peer

    def resolve(self, headers: List[Tuple[bytes, bytes]], kind: str) -> Tuple[Optional[_Address], Optional[str]]:
        """(client, scheme) from a trusted peer's headers, each None when they give none."""
        wanted = self._wanted
        found: Dict[int, List[bytes]] = {}
        for name, value in headers:
            slot = wanted.get(name)
            if slot is not None:
                values = found.get(slot)
                if values is None:
                    found[slot] = [value]
                else:
                    values.append(value)
        if not found:
            return None, None
        hop: Optional[_Hop] = None
        fields = found.get(_FORWARDED)
        if fields is not None:
            hop = self._walk(_forwarded_hops(fields))
        if hop is None:
            hop = self._walk(_x_forwarded_hops(found.get(_XFF), found.get(_XFP)))
            if hop is None:
                return None, None
        address, proto = hop
        scheme = None
        if proto is not None:
            proto = proto.lower()
            if proto == "https":
                scheme = "wss" if kind == "websocket" else "https"
            elif proto == "http":
                scheme = "ws" if kind == "websocket" else "http"
        return address, scheme

    def _walk(self, hops: Iterator[_Hop]) -> Optional[_Hop]:
        """From the right: the first hop that is not a trusted address, else the
        left-most; None if there are no hops."""
        trusted = self.trusted
        hop = None
        for hop in hops:
            address = hop[0]
            if address is None or address[0] not in trusted:
                return hop
        return hop


_Address = Tuple[str, int]
_Hop = Tuple[Optional[_Address], Optional[str]]  # (client address or None, proto or None)


def _update(scope: Scope, address: Optional[_Address], scheme: Optional[str]) -> None:
    if address is not None:
        scope["client"] = address
    if scheme is not None:
        scope["scheme"] = scheme


def _forwarded_hops(fields: List[bytes]) -> Iterator[_Hop]:
    """The elements of ``Forwarded`` fields from the right, parsed as the walk reaches them.

    Elements are split at every comma, quoted or not: commas never occur in the
    values proxies write, and a quote opened by the client on the left can then
    neither swallow the elements proxies append nor make the parse quadratic. An
    element split that way is malformed and stops the walk."""
    for field in reversed(fields):
        for text in reversed(field.decode("latin-1").split(",")):
            if text.strip(_OWS):
                yield _forwarded_hop(text)


def _x_forwarded_hops(fields: Optional[List[bytes]], proto_fields: Optional[List[bytes]]) -> Iterator[_Hop]:
    """X-Forwarded-For entries from the right, with the X-Forwarded-Proto value at the
    same position when both have as many values, else its right-most value. Without
    X-Forwarded-For, one hop with no address and that right-most value."""
    entries = _list_values(fields) if fields is not None else []
    protos = _list_values(proto_fields) if proto_fields is not None else []
    last = protos[-1] if protos else None
    if not entries:
        if last is not None:
            yield None, last
        return
    aligned = len(protos) == len(entries)
    for index in range(len(entries) - 1, -1, -1):
        yield _x_forwarded_node(entries[index]), protos[index] if aligned else last


# Parsing an address costs microseconds; the same few proxies and clients come back.
@lru_cache(maxsize=_CACHE_SIZE)
def _forwarded_hop(text: str) -> _Hop:
    params = _forwarded_element(text)
    if params is None:
        return None, None
    return _node(params.get("for"), strict=True), params.get("proto")


@lru_cache(maxsize=_CACHE_SIZE)
def _x_forwarded_node(text: str) -> Optional[_Address]:
    return _node(text, strict=False)


_FORWARDED, _XFF, _XFP = 0, 1, 2
_SOURCES: Dict[str, Dict[bytes, int]] = {
    "auto": {b"forwarded": _FORWARDED, b"x-forwarded-for": _XFF, b"x-forwarded-proto": _XFP},
    "forwarded": {b"forwarded": _FORWARDED},
    "x-forwarded": {b"x-forwarded-for": _XFF, b"x-forwarded-proto": _XFP},
}

_OWS = " \t"
# RFC 7239 forwarded-pair: token "=" ( token / quoted-string ), with OWS around it.
_TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_PAIR = re.compile(
    r"[ \t]*(" + _TCHAR + r"+)=(?:(" + _TCHAR + r"+)|\"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*)\")[ \t]*"
)
_QUOTED_PAIR = re.compile(r"\\(.)")
_PORT = re.compile(r"[0-9]{1,5}\Z")
_OBFUSCATED = re.compile(r"_[0-9A-Za-z._-]+\Z")


def _forwarded_element(text: str) -> Optional[Dict[str, str]]:
    """One ``forwarded-element`` (no commas): its parameters, names in lower case;
    None if malformed or a parameter repeats (RFC 7239 allows each once)."""
    params: Dict[str, str] = {}
    pos, end = 0, len(text)
    while True:
        match = _PAIR.match(text, pos)
        if match is not None:
            name = match.group(1).lower()
            if name in params:
                return None
            value = match.group(2)
            params[name] = value if value is not None else _QUOTED_PAIR.sub(r"\1", match.group(3))
            pos = match.end()
        else:
            while pos < end and text[pos] in _OWS:
                pos += 1
        if pos < end and text[pos] == ";":  # pairs may be empty: "a=1;;b=2"
            pos += 1
            continue
        return params if pos >= end else None


def _list_values(fields: List[bytes]) -> List[str]:
    """The comma-separated values of the fields of one header, in order, empty ones skipped."""
    values: List[str] = []
    for field in fields:
        for item in field.decode("latin-1").split(","):
            item = item.strip(_OWS)
            if item:
                values.append(item)
    return values


def _node(text: Optional[str], strict: bool) -> Optional[Tuple[str, int]]:
    """A ``for=`` node or an X-Forwarded-For entry as ``(canonical IP, port)``; None for
    anything else (``unknown``, obfuscated names, bad ports, garbage). With ``strict``
    (Forwarded) an obfuscated port (``_x``) is allowed and taken as 0. A port needs
    brackets around an IPv6 address; an unbracketed IPv6 address has none."""
    if not text:
        return None
    port = 0
    if text[0] == "[":
        close = text.find("]")
        if close < 0:
            return None
        host, rest = text[1:close], text[close + 1:]
        if rest:
            if rest[0] != ":":
                return None
            port_text = rest[1:]
            port = _port(port_text, strict)
            if port < 0:
                return None
        try:
            ip = ipaddress.IPv6Address(host)
        except ValueError:
            return None
        return str(ip), port
    if text.count(":") == 1:  # IPv4 (or a name) with a port
        host, port_text = text.split(":")
        port = _port(port_text, strict)
        if port < 0:
            return None
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return None
        return host, port  # a valid IPv4 text is canonical (no leading zeros)
    if ":" not in text:
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            return None
        return text, 0
    try:
        # Unbracketed IPv6 is not RFC 7239 but some proxies send it; no port then.
        return str(ipaddress.IPv6Address(text)), 0
    except ValueError:
        return None


def _port(text: str, allow_obfuscated: bool) -> int:
    """A node port, 0 for an obfuscated one, -1 if invalid."""
    if _PORT.match(text):
        port = int(text)
        return port if port <= 65535 else -1
    if allow_obfuscated and _OBFUSCATED.match(text):
        return 0
    return -1


