"""The scope builders: the ``http`` and ``websocket`` scopes from a parsed request head
and the connection's facts, without a server."""

from __future__ import annotations

import pytest

from pyre.asgi.scope import ASGI_VERSION, HTTP_SPEC_VERSION, ConnectionInfo, decode_path, http_scope, websocket_scope

SERVER = ("127.0.0.1", 8000)
CLIENT = ("127.0.0.1", 50000)
TLS = {"server_cert": None, "client_cert_chain": ["a", "b"], "client_cert_name": None, "client_cert_error": None,
       "tls_version": 0x0304, "cipher_suite": 0x1301}


def info(scheme: str = "http", root_path: str = "", tls=None) -> ConnectionInfo:
    return ConnectionInfo(SERVER, CLIENT, scheme, root_path, tls)


def test_the_http_scope_has_every_key_in_order():
    headers = [(b"host", b"t")]
    scope = http_scope(info(), "GET", b"/a%20b", b"q=1", "1.1", headers, None)
    assert scope == {
        "type": "http",
        "asgi": {"version": ASGI_VERSION, "spec_version": HTTP_SPEC_VERSION},
        "http_version": "1.1",
        "server": SERVER,
        "client": CLIENT,
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": "/a b",
        "raw_path": b"/a%20b",
        "query_string": b"q=1",
        "headers": headers,
        "extensions": {"http.response.trailers": {}, "http.response.pathsend": {}},
    }
    assert list(scope) == ["type", "asgi", "http_version", "server", "client", "scheme", "method", "root_path",
                           "path", "raw_path", "query_string", "headers", "extensions"]  # the compiled twin's order
    assert scope["headers"] is headers
    assert "state" not in scope and "tls" not in scope["extensions"]


def test_the_root_path_prefixes_path_and_raw_path():
    scope = http_scope(info(root_path="/api"), "POST", b"/items/%E2%9C%93", b"", "2", [], None)
    assert (scope["root_path"], scope["path"], scope["raw_path"]) == ("/api", "/api/items/\u2713", b"/api/items/%E2%9C%93")
    assert (scope["method"], scope["http_version"]) == ("POST", "2")


def test_each_request_gets_its_own_extensions_tls_copy_and_state_copy():
    state = {"db": "pool"}
    connection = info("https", tls=TLS)
    first = http_scope(connection, "GET", b"/", b"", "1.1", [], state)
    second = http_scope(connection, "GET", b"/", b"", "1.1", [], state)
    assert first["scheme"] == "https" and first["extensions"]["tls"] == TLS and first["state"] == state
    first["extensions"]["tls"]["client_cert_chain"].append("mutated")
    first["extensions"]["http.response.trailers"]["x"] = 1
    first["state"]["db"] = "changed"
    assert second["extensions"]["tls"] == TLS and TLS["client_cert_chain"] == ["a", "b"]
    assert second["extensions"]["http.response.trailers"] == {} and state == {"db": "pool"}
    assert list(first["extensions"]) == ["http.response.trailers", "http.response.pathsend", "tls"]


@pytest.mark.parametrize("scheme, ws_scheme", [("http", "ws"), ("https", "wss")])
def test_the_websocket_scope(scheme, ws_scheme):
    scope = websocket_scope(info(scheme, root_path="/r", tls=TLS if scheme == "https" else None), b"/chat", b"room=1",
                            "1.1", [(b"upgrade", b"websocket")], ["v2.chat", "v1.chat"], {"k": 1})
    assert scope["type"] == "websocket" and scope["scheme"] == ws_scheme and "method" not in scope
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == ("/r/chat", b"/r/chat", b"room=1")
    assert scope["subprotocols"] == ["v2.chat", "v1.chat"] and scope["state"] == {"k": 1}
    expected = ["websocket.http.response"] + (["tls"] if scheme == "https" else [])
    assert sorted(scope["extensions"]) == sorted(expected) and scope["extensions"]["websocket.http.response"] == {}
    assert scope["asgi"] == {"version": ASGI_VERSION, "spec_version": HTTP_SPEC_VERSION}


def test_connection_info_encodes_the_root_path_once():
    connection = ConnectionInfo(None, None, "http", "/caf\u00e9")
    assert connection.raw_root_path == "/caf\u00e9".encode() and connection.tls is None
    scope = http_scope(connection, "GET", b"/", b"", "1.0", [], None)
    assert scope["server"] is None and scope["client"] is None  # a Unix socket
    assert scope["raw_path"] == "/caf\u00e9/".encode()


@pytest.mark.parametrize("raw, text", [
    (b"/plain", "/plain"),
    (b"/a%2Fb", "/a/b"),
    (b"/%E2%9C%93", "/\u2713"),
    (b"/%zz", "/%zz"),
    (b"/100%", "/100%"),
])
def test_decode_path(raw, text):
    assert decode_path(raw) == text
    assert http_scope(info(), "GET", raw, b"", "1.1", [], None)["path"] == text
