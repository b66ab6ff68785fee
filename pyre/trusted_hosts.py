"""The trust list ``--forwarded-allow-ips``: which peers may speak for a client.

Used by :mod:`pyre.asgi.proxy_headers` (X-Forwarded-*, Forwarded) and by the
PROXY protocol gate (:mod:`pyre.transport.proxy_protocol`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Dict, Iterable, List, Optional, Union

from pyre.errors import ConfigError

# The proxies trusted when none are named: the loopback addresses, as uvicorn.
LOOPBACK = ("127.0.0.1", "::1")

__all__ = ["TrustedHosts", "UNIX", "parse_trusted", "unmapped"]

UNIX = "unix:"  # the entry that trusts peers on a Unix socket

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

_CACHE_SIZE = 1024
# A host name entry (uvicorn accepts them): matched as text against the peer or a
# forwarded hop, never resolved. At least one letter, so a mistyped address is an error.
_NAME = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


class TrustedHosts:
    """The set of trusted peers. ``host in trusted`` (None: a Unix-socket peer). A host
    name entry matches that text only (as uvicorn's): Pyre does not resolve names."""

    __slots__ = ("trust_all", "trust_unix", "_addresses", "_networks", "_names", "_cache")

    def __init__(
        self,
        addresses: Iterable[IPAddress] = (),
        networks: Iterable[IPNetwork] = (),
        *,
        trust_all: bool = False,
        trust_unix: bool = False,
        names: Iterable[str] = (),
    ) -> None:
        self.trust_all = trust_all
        self.trust_unix = trust_unix or trust_all
        self._addresses = frozenset(unmapped(ip) for ip in addresses)
        self._networks = tuple(_unmapped_network(net) for net in networks)
        self._names = frozenset(name.lower() for name in names)
        # Exact texts of the entries answer the usual case without parsing.
        self._cache: Dict[str, bool] = {str(ip): True for ip in self._addresses}

    def __contains__(self, host: Optional[str]) -> bool:
        if host is None:
            return self.trust_unix
        if self.trust_all:
            return True
        hit = self._cache.get(host)
        if hit is None:
            hit = self._lookup(host)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache = {str(ip): True for ip in self._addresses}
            self._cache[host] = hit
        return hit

    def _lookup(self, host: str) -> bool:
        try:
            ip = unmapped(ipaddress.ip_address(host))
        except ValueError:
            return host.lower() in self._names
        return ip in self._addresses or any(ip in net for net in self._networks)

    def __repr__(self) -> str:
        entries = [str(ip) for ip in sorted(self._addresses, key=lambda ip: (ip.version, ip))]
        entries += [str(net) for net in self._networks]
        entries += sorted(self._names)
        if self.trust_all:
            entries = ["*"]
        elif self.trust_unix:
            entries.append(UNIX)
        return f"TrustedHosts({entries!r})"


def parse_trusted(entries: Union[str, Iterable[str]]) -> TrustedHosts:
    """Parse ``forwarded_allow_ips`` (a list, or one comma-separated string).

    Raises :class:`~pyre.errors.ConfigError` naming the first bad entry.
    """
    if isinstance(entries, str):
        entries = entries.split(",")
    addresses: List[IPAddress] = []
    networks: List[IPNetwork] = []
    names: List[str] = []
    trust_all = trust_unix = False
    for raw in entries:
        if not isinstance(raw, str):
            raise ConfigError(f"forwarded_allow_ips: expected strings, got {raw!r}")
        entry = raw.strip()
        if not entry:
            continue
        if entry == "*":
            trust_all = True
        elif entry.lower() == UNIX:
            trust_unix = True
        elif "/" in entry:
            try:
                networks.append(ipaddress.ip_network(entry))
            except ValueError as exc:
                raise ConfigError(f"forwarded_allow_ips: {raw!r} is not a valid network ({exc})") from None
        else:
            text = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
            try:
                addresses.append(ipaddress.ip_address(text))
            except ValueError:
                if not _NAME.match(entry) or entry.lower() == UNIX[:-1]:
                    raise ConfigError(f"forwarded_allow_ips: {raw!r} is not an IP address, a network, a host "
                                      f"name, '*' or '{UNIX}'") from None
                names.append(entry)
    return TrustedHosts(addresses, networks, trust_all=trust_all, trust_unix=trust_unix, names=names)


def unmapped(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as IPv4; others unchanged."""
    if ip.version == 6:
        mapped = ip.ipv4_mapped  # type: ignore[union-attr]
        if mapped is not None:
            return mapped
    return ip


_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _unmapped_network(net: IPNetwork) -> IPNetwork:
    """A network inside ``::ffff:0:0/96`` as the IPv4 network it maps; others unchanged."""
    if net.version == 6 and net.prefixlen >= 96 and net.subnet_of(_MAPPED):  # type: ignore[arg-type]
        return ipaddress.IPv4Network((int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96))
    return net
