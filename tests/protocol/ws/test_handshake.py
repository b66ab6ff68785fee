"""The WebSocket opening handshake, sans-IO (RFC 6455 §4.2, RFC 7692 negotiation)."""

from __future__ import annotations

import base64

import pytest

from pyre.protocol.ws.handshake import HandshakeError, accept_headers, accept_key, check_upgrade, is_websocket_upgrade
from pyre.protocol.ws.deflate import PerMessageDeflate

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example


def headers(**extra):
    base = {b"host": b"t", b"sec-websocket-key": KEY, b"sec-websocket-version": b"13"}
    base.update({k.replace("_", "-").encode(): v for k, v in extra.items()})
    return [(k, v) for k, v in base.items() if v is not None]


def test_accept_key_is_the_rfc_example():
    assert accept_key(KEY) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("value, expected", [
    (b"websocket", True), (b"WebSocket", True), (b"h2c, websocket", True), (b"h2c", False), (None, False),
])
def test_is_websocket_upgrade(value, expected):
    assert is_websocket_upgrade(value) is expected


def test_valid_request_with_subprotocols_and_extension_offers():
    request = check_upgrade("GET", "1.1", headers(sec_websocket_protocol=b"chat, superchat",
                                                  sec_websocket_extensions=b"permessage-deflate; client_max_window_bits, x-other"))
    assert request.key == KEY
    assert request.subprotocols == ["chat", "superchat"]
    assert request.extensions == ["permessage-deflate; client_max_window_bits", "x-other"]


@pytest.mark.parametrize("method, version, hdrs, status", [
    ("POST", "1.1", headers(), 400),
    ("GET", "1.0", headers(), 400),
    ("GET", "1.1", headers(sec_websocket_version=b"8"), 426),
    ("GET", "1.1", headers(sec_websocket_version=None), 426),
    ("GET", "1.1", headers(sec_websocket_key=None), 400),
    ("GET", "1.1", headers(sec_websocket_key=b"%%%"), 400),
    ("GET", "1.1", headers(sec_websocket_key=base64.b64encode(b"fifteen bytes!!")), 400),
    ("GET", "1.1", headers() + [(b"sec-websocket-key", KEY)], 400),
])
def test_invalid_requests(method, version, hdrs, status):
    with pytest.raises(HandshakeError) as info:
        check_upgrade(method, version, hdrs)
    assert info.value.status == status
    if status == 426:
        assert info.value.headers == [(b"sec-websocket-version", b"13")]


def test_accept_headers_subprotocol_extra_and_deflate():
    request = check_upgrade("GET", "1.1", headers(sec_websocket_extensions=b"permessage-deflate; client_max_window_bits"))
    deflate = PerMessageDeflate(1000)
    fields = accept_headers(request, "chat", [(b"x-extra", b"1"), (b"upgrade", b"ignored")], deflate)
    assert fields == [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", accept_key(KEY)),
        (b"sec-websocket-protocol", b"chat"),
        (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits=15"),
        (b"x-extra", b"1"),
    ]
    assert deflate.enabled()


def test_deflate_not_offered_or_disabled():
    request = check_upgrade("GET", "1.1", headers())
    deflate = PerMessageDeflate(1000)
    fields = accept_headers(request, None, [], deflate)
    assert [name for name, _ in fields] == [b"upgrade", b"connection", b"sec-websocket-accept"]
    assert not deflate.enabled()
    offered = check_upgrade("GET", "1.1", headers(sec_websocket_extensions=b"permessage-deflate"))
    assert b"sec-websocket-extensions" not in dict(accept_headers(offered, None, [], None))


def test_a_plain_offer_is_accepted_with_a_bare_name():
    request = check_upgrade("GET", "1.1", headers(sec_websocket_extensions=b"permessage-deflate"))
    deflate = PerMessageDeflate(1000)
    assert dict(accept_headers(request, None, [], deflate))[b"sec-websocket-extensions"] == b"permessage-deflate"
    assert deflate.enabled()
