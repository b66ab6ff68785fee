"""ProxyHeadersMiddleware without a server: hand-made scopes in, the scope the app sees out."""

from __future__ import annotations

import copy
import ipaddress
import re
import time
from typing import Any, Dict, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyre.asgi.proxy_headers import ProxyHeadersMiddleware, TrustedHosts, parse_trusted
from pyre.errors import ConfigError

PEER = ("10.0.0.1", 51000)


def make_scope(headers=(), client: Any = PEER, kind: str = "http", scheme: Optional[str] = None) -> Dict[str, Any]:
    return {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": scheme or ("ws" if kind == "websocket" else "http"),
        "path": "/",
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "client": client,
        "server": ("127.0.0.1", 8000),
    }


def seen_by_app(scope: Dict[str, Any], trusted: Any = "10.0.0.0/8", **kwargs: Any) -> Dict[str, Any]:
    """Run the middleware on ``scope`` (no event loop needed) and return what the app got."""
    seen = []

    async def app(scope, receive, send):
        seen.append(scope)

    middleware = ProxyHeadersMiddleware(app, trusted, **kwargs)
    coroutine = middleware(scope, None, None)
    with pytest.raises(StopIteration):
        coroutine.send(None)
    return seen[0]


def client_of(headers, **kwargs):
    return seen_by_app(make_scope(headers), **kwargs)["client"]


# -- forwarded_allow_ips --------------------------------------------------------------------


def test_parse_trusted_entries():
    trusted = parse_trusted(["127.0.0.1", " ::1 ", "10.0.0.0/8", "fd00::/8", "", "[2001:db8::5]"])
    for host in ("127.0.0.1", "::1", "0:0:0:0:0:0:0:1", "10.255.0.3", "fd12::1", "2001:db8::5"):
        assert host in trusted, host
    for host in ("127.0.0.2", "11.0.0.1", "fe00::1", "2001:db8::6", "localhost", "", "not an ip"):
        assert host not in trusted, host
    assert None not in trusted  # a Unix-socket peer is not trusted unless listed


def test_parse_trusted_accepts_a_comma_separated_string():
    trusted = parse_trusted("127.0.0.1, 192.168.0.0/16,,")
    assert "192.168.4.4" in trusted and "127.0.0.1" in trusted and "10.0.0.1" not in trusted


def test_star_trusts_everyone_unix_included():
    trusted = parse_trusted(["*"])
    assert "203.0.113.9" in trusted and "::1" in trusted and "garbage" in trusted and None in trusted


def test_unix_entry_trusts_only_unix_socket_peers():
    trusted = parse_trusted(["unix:"])
    assert None in trusted
    assert "127.0.0.1" not in trusted
    assert None in parse_trusted(["UNIX:"])


def test_ipv4_mapped_peers_match_ipv4_entries_and_networks():
    trusted = parse_trusted(["127.0.0.1", "10.0.0.0/8"])
    assert "::ffff:127.0.0.1" in trusted
    assert "::ffff:10.9.8.7" in trusted
    assert "::ffff:11.0.0.1" not in trusted
    # ...and mapped entries and networks match plain IPv4 peers.
    assert "192.0.2.1" in parse_trusted(["::ffff:192.0.2.1"])
    mapped = parse_trusted(["::ffff:10.0.0.0/104"])
    assert "10.1.2.3" in mapped and "::ffff:10.1.2.3" in mapped and "11.0.0.1" not in mapped
    assert repr(mapped) == "TrustedHosts(['10.0.0.0/8'])"


def test_host_names_are_matched_as_text_as_uvicorn_does():
    trusted = parse_trusted("127.0.0.1, proxy.internal, Nginx")
    assert "proxy.internal" in trusted and "nginx" in trusted and "PROXY.internal" in trusted
    assert "10.0.0.1" not in trusted and "other" not in trusted
    assert repr(trusted) == "TrustedHosts(['127.0.0.1', 'nginx', 'proxy.internal'])"


@pytest.mark.parametrize("bad", ["10.0.0.1/8", "1.2.3.4/33", "::g", "unix", "1.2.3", "01.2.3.4", "*.*"])
def test_parse_trusted_rejects_bad_entries_naming_them(bad):
    with pytest.raises(ConfigError, match=r"^forwarded_allow_ips: ") as info:
        parse_trusted(["127.0.0.1", bad])
    assert repr(bad) in str(info.value)


def test_parse_trusted_rejects_non_strings():
    with pytest.raises(ConfigError, match="forwarded_allow_ips"):
        parse_trusted(["127.0.0.1", 5])  # type: ignore[list-item]


def test_trusted_hosts_cache_stays_bounded_and_correct():
    trusted = parse_trusted(["10.0.0.0/8"])
    for i in range(3000):
        assert (f"10.0.{i // 256}.{i % 256}" in trusted) is True
        assert (f"11.0.{i // 256}.{i % 256}" in trusted) is False
    assert len(trusted._cache) <= 1024
    assert "10.0.0.1" in trusted and "11.0.0.1" not in trusted


def test_repr_lists_the_entries():
    assert repr(parse_trusted(["10.0.0.0/8", "::1", "127.0.0.1", "unix:"])) == (
        "TrustedHosts(['127.0.0.1', '::1', '10.0.0.0/8', 'unix:'])"
    )
    assert repr(parse_trusted("*")) == "TrustedHosts(['*'])"
    assert isinstance(parse_trusted([]), TrustedHosts)


def test_middleware_accepts_entries_or_trusted_hosts_and_checks_source():
    async def app(scope, receive, send):
        pass

    assert "10.1.1.1" in ProxyHeadersMiddleware(app, "10.0.0.0/8").trusted
    trusted = parse_trusted(["::1"])
    assert ProxyHeadersMiddleware(app, trusted).trusted is trusted
    default = ProxyHeadersMiddleware(app).trusted  # the same as the server's --forwarded-allow-ips default
    assert "127.0.0.1" in default and "::1" in default and "10.0.0.1" not in default
    with pytest.raises(ConfigError):
        ProxyHeadersMiddleware(app, ["1.2.3"])
    with pytest.raises(ValueError, match="source"):
        ProxyHeadersMiddleware(app, source="x-real-ip")


# -- untrusted peers: nothing changes -------------------------------------------------------

SPOOFS = [
    [("x-forwarded-for", "1.2.3.4"), ("x-forwarded-proto", "https")],
    [("forwarded", "for=1.2.3.4;proto=https")],
    [("forwarded", 'for="[2001:db8::1]:443";proto=https'), ("x-forwarded-for", "5.6.7.8")],
    [("x-forwarded-proto", "https")],
]


@pytest.mark.parametrize("headers", SPOOFS)
@pytest.mark.parametrize("peer", [("203.0.113.50", 4444), ("::1", 1), ("11.0.0.1", 2), None])
def test_spoofing_from_an_untrusted_peer_is_ignored(headers, peer):
    scope = make_scope(headers, client=peer)
    before = copy.deepcopy(scope)
    seen = seen_by_app(scope)
    assert seen is scope  # passed on as is, not even copied
    assert seen == before  # headers included: still visible, untouched


def test_a_trusted_peer_without_proxy_headers_passes_the_scope_as_is():
    scope = make_scope([("host", "example"), ("x-real-ip", "1.2.3.4")])
    assert seen_by_app(scope) is scope


# -- X-Forwarded-For / X-Forwarded-Proto ----------------------------------------------------


def test_one_proxy_sets_client_and_scheme_without_mutating_the_original_scope():
    scope = make_scope([("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")])
    before = copy.deepcopy(scope)
    seen = seen_by_app(scope)
    assert seen["client"] == ("203.0.113.7", 0)
    assert seen["scheme"] == "https"
    assert scope == before  # the server's scope is not touched
    assert seen is not scope
    assert seen["headers"] is scope["headers"]  # headers stay, unchanged
    assert {k: v for k, v in seen.items() if k not in ("client", "scheme")} == {
        k: v for k, v in before.items() if k not in ("client", "scheme")
    }


def test_chain_of_trusted_proxies_with_a_spoofed_left_most_entry():
    # The client claims 6.6.6.6; its real address is what the first proxy appended.
    headers = [("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.9, 10.0.0.8")]
    assert client_of(headers) == ("203.0.113.7", 0)


def test_several_fields_are_one_list_in_order():
    headers = [("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "203.0.113.7, 10.0.0.9"), ("x-forwarded-for", "10.0.0.8")]
    assert client_of(headers) == ("203.0.113.7", 0)
    headers = [("x-forwarded-for", "10.0.0.3, 10.0.0.4"), ("x-forwarded-for", "198.51.100.1")]
    assert client_of(headers) == ("198.51.100.1", 0)


def test_when_every_address_is_trusted_the_left_most_is_the_client():
    assert client_of([("x-forwarded-for", "10.1.1.1, 10.2.2.2, 10.3.3.3")]) == ("10.1.1.1", 0)


def test_star_trusts_the_whole_chain_so_the_left_most_wins():
    assert client_of([("x-forwarded-for", "6.6.6.6, 203.0.113.7")], trusted="*") == ("6.6.6.6", 0)
    # A peer that is no IP address at all is trusted too.
    scope = make_scope([("x-forwarded-for", "6.6.6.6")], client=("some-peer", 0))
    assert seen_by_app(scope, trusted="*")["client"] == ("6.6.6.6", 0)


def test_cidr_and_single_address_entries():
    headers = [("x-forwarded-for", "203.0.113.7, 192.168.3.4, 172.16.0.1")]
    assert client_of(headers, trusted=["10.0.0.0/8", "192.168.0.0/16", "172.16.0.1"]) == ("203.0.113.7", 0)
    assert client_of(headers, trusted=["10.0.0.0/8", "172.16.0.1"]) == ("192.168.3.4", 0)


@pytest.mark.parametrize("entry", ["unknown", "_hidden", "not-an-ip", "1.2.3.4:http", "[::1", "1.2.3.4:99999", "1.2.3.4 5"])
def test_an_entry_that_is_no_address_stops_the_walk_and_the_client_stays_the_peer(entry):
    headers = [("x-forwarded-for", f"203.0.113.7, {entry}, 10.0.0.9"), ("x-forwarded-proto", "https")]
    seen = seen_by_app(make_scope(headers))
    assert seen["client"] == PEER
    assert seen["scheme"] == "https"  # the proxies' proto still counts


@pytest.mark.parametrize("entry, expected", [
    ("203.0.113.7:5678", ("203.0.113.7", 5678)),
    ("[2001:db8::7]:443", ("2001:db8::7", 443)),
    ("[2001:db8::7]", ("2001:db8::7", 0)),
    ("2001:DB8:0:0::7", ("2001:db8::7", 0)),
    ("::ffff:203.0.113.7", (str(ipaddress.ip_address("::ffff:203.0.113.7")), 0)),  # form varies by Python
])
def test_ports_and_ipv6_in_x_forwarded_for(entry, expected):
    assert client_of([("x-forwarded-for", f" {entry} ,10.0.0.2")]) == expected


def test_ipv6_peers_and_networks():
    scope = make_scope([("x-forwarded-for", "2001:db8::42, fd00::7")], client=("fd00::1", 9))
    assert seen_by_app(scope, trusted=["fd00::/8"])["client"] == ("2001:db8::42", 0)
    scope = make_scope([("x-forwarded-for", "2001:db8::42")], client=("::ffff:10.0.0.5", 9))
    assert seen_by_app(scope)["client"] == ("2001:db8::42", 0)  # mapped peer matches 10.0.0.0/8


def test_empty_x_forwarded_for_leaves_the_client():
    seen = seen_by_app(make_scope([("x-forwarded-for", " , ")]))
    assert seen["client"] == PEER


@pytest.mark.parametrize("proto, http, websocket", [
    ("https", "https", "wss"), ("HTTPS", "https", "wss"), ("http", "http", "ws"), (" Http ", "http", "ws"),
    ("wss", None, None), ("ftp", None, None), ("", None, None), ("https;x", None, None),
])
def test_x_forwarded_proto_values(proto, http, websocket):
    for kind, expected in (("http", http), ("websocket", websocket)):
        scope = make_scope([("x-forwarded-proto", proto)], kind=kind, scheme="http" if kind == "http" else "ws")
        seen = seen_by_app(scope)
        assert seen["scheme"] == (expected or scope["scheme"])
        assert seen["client"] == PEER
        if expected is None:
            assert seen is scope


def test_x_forwarded_proto_follows_the_chosen_hop_when_the_lists_align():
    headers = [("x-forwarded-for", "203.0.113.7, 10.0.0.9"), ("x-forwarded-proto", "https, http")]
    seen = seen_by_app(make_scope(headers))
    assert seen["client"] == ("203.0.113.7", 0) and seen["scheme"] == "https"


def test_x_forwarded_proto_right_most_when_the_lists_do_not_align():
    headers = [("x-forwarded-for", "6.6.6.6, 203.0.113.7"), ("x-forwarded-proto", "https, https, http")]
    seen = seen_by_app(make_scope(headers))
    assert seen["client"] == ("203.0.113.7", 0) and seen["scheme"] == "http"


# -- Forwarded (RFC 7239) -------------------------------------------------------------------


@pytest.mark.parametrize("value, client, scheme", [
    ("for=192.0.2.60;proto=https;by=203.0.113.43", ("192.0.2.60", 0), "https"),
    ('For="[2001:db8:cafe::17]:4711"; Proto=HTTPS', ("2001:db8:cafe::17", 4711), "https"),
    ('for="192.0.2.43:47011"', ("192.0.2.43", 47011), "http"),
    ('for="192.0.2.43:_port9"', ("192.0.2.43", 0), "http"),
    ('for="\\1\\9\\2.0.2.43"', ("192.0.2.43", 0), "http"),  # quoted-pairs are unescaped
    ("for=192.0.2.43;;proto=https;", ("192.0.2.43", 0), "https"),  # empty pairs are allowed
    ("  for=192.0.2.43 ;proto=https  ", ("192.0.2.43", 0), "https"),
    ("for=unknown;proto=https", PEER, "https"),
    ("for=_hidden;proto=https", PEER, "https"),
    ('for="_hidden:_port"', PEER, "http"),
    ("proto=https;by=10.0.0.1", PEER, "https"),  # no for=: the client is not disclosed
    ("for=192.0.2.43;proto=gopher", ("192.0.2.43", 0), "http"),
])
def test_forwarded_one_element(value, client, scheme):
    seen = seen_by_app(make_scope([("forwarded", value)]))
    assert seen["client"] == client
    assert seen["scheme"] == scheme


def test_forwarded_chain_with_a_spoofed_left_most_element():
    value = "for=6.6.6.6;proto=https, for=203.0.113.7;proto=http, for=10.0.0.9;proto=https"
    seen = seen_by_app(make_scope([("forwarded", value)]))
    assert seen["client"] == ("203.0.113.7", 0)
    assert seen["scheme"] == "http"  # the proto of the chosen element, not the right-most


def test_forwarded_fields_are_combined_in_order():
    headers = [("forwarded", "for=6.6.6.6"), ("forwarded", 'for="[2001:db8::9]";proto=https, for=10.0.0.3')]
    seen = seen_by_app(make_scope(headers))
    assert seen["client"] == ("2001:db8::9", 0) and seen["scheme"] == "https"


def test_forwarded_all_trusted_gives_the_left_most_element_and_its_proto():
    seen = seen_by_app(make_scope([("forwarded", "for=10.0.0.7;proto=https, for=10.0.0.8;proto=http")]))
    assert seen["client"] == ("10.0.0.7", 0) and seen["scheme"] == "https"


def test_forwarded_wins_over_x_forwarded_and_they_never_mix():
    headers = [("x-forwarded-for", "198.51.100.1"), ("forwarded", "for=203.0.113.7"), ("x-forwarded-proto", "https")]
    seen = seen_by_app(make_scope(headers))
    assert seen["client"] == ("203.0.113.7", 0)
    assert seen["scheme"] == "http"


@pytest.mark.parametrize("value", ["", " ", " , ,", ",,,"])
def test_a_forwarded_header_without_elements_falls_back_to_x_forwarded(value):
    headers = [("forwarded", value), ("x-forwarded-for", "198.51.100.1"), ("x-forwarded-proto", "https")]
    seen = seen_by_app(make_scope(headers))
    assert seen["client"] == ("198.51.100.1", 0) and seen["scheme"] == "https"


@pytest.mark.parametrize("source, client", [("auto", "203.0.113.7"), ("forwarded", "203.0.113.7"), ("x-forwarded", "198.51.100.1")])
def test_source_restricts_the_headers_read(source, client):
    headers = [("x-forwarded-for", "198.51.100.1"), ("forwarded", "for=203.0.113.7")]
    assert client_of(headers, source=source) == (client, 0)
    only_xff = make_scope([("x-forwarded-for", "198.51.100.1")])
    expected = PEER if source == "forwarded" else ("198.51.100.1", 0)
    assert seen_by_app(only_xff, source=source)["client"] == expected


@pytest.mark.parametrize("bad", [
    "for=1.2.3.4;for=5.6.7.8",            # a parameter twice
    "for = 1.2.3.4",                       # spaces around '='
    "for=1.2.3.4 proto=https",             # no ';'
    'for="1.2.3.4',                        # unterminated quote
    'for="1.2.3.4"x',                      # junk after a quoted string
    "for=[2001:db8::1]",                   # IPv6 needs quoting ('[' is no token char)
    'for="[2001:db8::1]:port"',            # a port that is neither digits nor obfuscated
    'for="[2001:db8::1]:70000"',
    "=1.2.3.4",
    "for",
    "f\x7for=1.2.3.4",
    'host="a,b";for=1.2.3.4',              # a quoted comma splits the element: malformed
])
def test_malformed_forwarded_element_stops_the_walk(bad):
    value = f"for=198.51.100.1, {bad}, for=10.0.0.9;proto=https"
    seen = seen_by_app(make_scope([("forwarded", value)]))
    assert seen["client"] == PEER  # neither 198.51.100.1 nor anything in the bad element
    assert seen["scheme"] == "http"  # a malformed element has no trustworthy proto either


@pytest.mark.parametrize("prefix", ['for="1.2.3.4', 'for=1.2.3.4;x="', 'a="\\"', 'for=";', 'garbage "', '"'])
def test_client_junk_on_the_left_cannot_hide_the_element_a_proxy_appended(prefix):
    # The proxy appends to the client's own Forwarded header in the same field.
    for appended in ('for="[2001:db8::7]:4711";proto=https', "for=203.0.113.7;proto=https"):
        seen = seen_by_app(make_scope([("forwarded", prefix + ", " + appended)]))
        assert seen["client"] in (("2001:db8::7", 4711), ("203.0.113.7", 0))
        assert seen["scheme"] == "https"


def test_hostile_forwarded_header_is_handled_in_linear_time():
    value = 'a="\\",' * 11000  # 66 KB: an unterminated quoted string at every element
    headers = [("forwarded", value + "for=203.0.113.7")]
    started = time.perf_counter()
    seen = seen_by_app(make_scope(headers), trusted="*")
    assert time.perf_counter() - started < 1.0
    assert seen["client"] == PEER  # the walk stopped at the first malformed element
    xff = [("x-forwarded-for", "10.0.0.1," * 8000 + "10.0.0.2")]
    started = time.perf_counter()
    assert client_of(xff) == ("10.0.0.1", 0)
    assert time.perf_counter() - started < 1.0


# -- scopes ---------------------------------------------------------------------------------


def test_websocket_scope_gets_client_and_ws_scheme():
    scope = make_scope([("forwarded", 'for="[2001:db8::7]:4711";proto=https')], kind="websocket")
    seen = seen_by_app(scope)
    assert seen["client"] == ("2001:db8::7", 4711) and seen["scheme"] == "wss"
    scope = make_scope([("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "http")], kind="websocket", scheme="wss")
    seen = seen_by_app(scope)
    assert seen["client"] == ("203.0.113.7", 0) and seen["scheme"] == "ws"


def test_lifespan_passes_through_unchanged():
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    assert seen_by_app(scope, trusted="*") is scope


def test_unix_socket_peers_are_trusted_only_when_listed():
    headers = [("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https")]
    scope = make_scope(headers, client=None)
    assert seen_by_app(scope, trusted=["127.0.0.1"]) is scope
    for trusted in (["unix:"], ["127.0.0.1", "unix:"], ["*"]):
        seen = seen_by_app(make_scope(headers, client=None), trusted=trusted)
        assert seen["client"] == ("203.0.113.7", 0) and seen["scheme"] == "https"
    # A scope without the optional "client" key counts as such a peer.
    scope = make_scope(headers)
    del scope["client"]
    assert seen_by_app(scope) is scope
    assert seen_by_app(scope, trusted="unix:")["client"] == ("203.0.113.7", 0)


def test_client_given_as_a_list():
    scope = make_scope([("x-forwarded-for", "203.0.113.7")], client=["10.0.0.1", 5])
    assert seen_by_app(scope)["client"] == ("203.0.113.7", 0)


# -- property -------------------------------------------------------------------------------

_ADDRESSES = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.sampled_from(["10.0.0.1", "10.9.9.9", "127.0.0.1", "::1", "::ffff:10.0.0.2", "fd00::1"]),
)
_NOISE = st.sampled_from(["unknown", "_obf", "", " ", ",", ";", '"', "\\", "[", "]", ":", "=", "for=", "proto=https",
                          "https", "HTTP", "garbage", ":80", ":_p", "\t", "\xff", "%eth0"])


@st.composite
def _entry(draw):
    address = draw(_ADDRESSES)
    form = draw(st.integers(0, 4))
    if form == 1:
        address = f"[{address}]" if ":" in address else address
        address += f":{draw(st.integers(0, 70000))}"
    elif form == 2:
        address = f'"[{address}]"' if ":" in address else address
    elif form == 3:
        address = draw(_NOISE) + address + draw(_NOISE)
    return address


@st.composite
def _header_value(draw, forwarded):
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        entry = draw(_entry())
        if forwarded:
            element = "for=" + entry
            if draw(st.booleans()):
                element += ";proto=" + draw(st.sampled_from(["https", "http", "HTTPS", "wss", "x", '"https"']))
            if draw(st.booleans()):
                element = draw(_NOISE) + element
            parts.append(element)
        else:
            parts.append(entry)
    separator = draw(st.sampled_from([",", ", ", " ,", ",,"]))
    return separator.join(parts)


_HEADERS = st.lists(
    st.one_of(
        st.tuples(st.just("forwarded"), _header_value(True)),
        st.tuples(st.just("x-forwarded-for"), _header_value(False)),
        st.tuples(st.just("x-forwarded-proto"), st.sampled_from(["https", "http", "https, http", "ftp", ""])),
        st.tuples(st.sampled_from(["forwarded", "x-forwarded-for", "x-forwarded-proto", "host"]),
                  st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)),
    ),
    max_size=6,
)
_PEERS = st.sampled_from([("10.0.0.1", 1), ("203.0.113.5", 2), ("::ffff:10.0.0.3", 3), ("fd00::9", 4), None])
_TRUSTED = st.sampled_from([["10.0.0.0/8"], ["*"], ["127.0.0.1", "::1"], ["fd00::/8", "10.0.0.0/8", "unix:"], []])


def _addresses_in(headers):
    """Every IP address spelled in the header values, canonical (escapes dropped)."""
    found = set()
    for _, value in headers:
        for run in re.findall(r"[0-9A-Za-z.:%_-]+", value.replace("\\", "")):
            for candidate in (run, run.rsplit(":", 1)[0]):
                try:
                    found.add(str(ipaddress.ip_address(candidate)))
                except ValueError:
                    pass
    return found


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(headers=_HEADERS, peer=_PEERS, trusted=_TRUSTED, kind=st.sampled_from(["http", "websocket"]))
def test_property_never_raises_and_only_reports_the_peer_or_a_forwarded_address(headers, peer, trusted, kind):
    scope = make_scope(headers, client=peer, kind=kind)
    before = copy.deepcopy(scope)
    seen = seen_by_app(scope, trusted=trusted)
    assert scope == before
    assert seen["headers"] == before["headers"]
    peer_trusted = (peer[0] if peer else None) in parse_trusted(trusted)
    if not peer_trusted:
        assert seen is scope
    if seen["client"] != peer:
        assert peer_trusted
        host, port = seen["client"]
        assert host in _addresses_in(headers)
        assert isinstance(port, int) and 0 <= port <= 65535
    assert seen["scheme"] in (("http", "https") if kind == "http" else ("ws", "wss"))
    if seen["scheme"] != scope["scheme"]:
        assert peer_trusted
    assert set(seen) == set(scope)


def test_client_text_for_the_access_log():
    middleware = ProxyHeadersMiddleware(None, ["127.0.0.1", "::1"])
    headers = [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.7")]
    assert middleware.client_text("127.0.0.1:5000", headers) == "203.0.113.7:0"
    assert middleware.client_text("::1:5000", headers) == "203.0.113.7:0"  # IPv6 peers: host:port unbracketed
    assert middleware.client_text("10.1.1.1:5000", headers) == "10.1.1.1:5000"  # untrusted peer
    assert middleware.client_text("127.0.0.1:5000", []) == "127.0.0.1:5000"  # no headers
    assert middleware.client_text("-", headers) == "-"  # a Unix socket, not trusted without unix:
