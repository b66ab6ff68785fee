"""TLS: HTTPS over HTTP/1.1, the ASGI ``tls`` extension, client certificates, ALPN, and
the one-line startup errors of bad TLS files."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import signal
import subprocess
import sys
import ssl
import textwrap
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
)

from pyre import Config
from pyre.errors import ConfigError, StartupError
from pyre.tls import alpn_protocols, build_ssl_context, rfc4514_name
from tests.e2e.cli import run_cli

VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as files."""
    base = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@example.org", common_name="Client, \"One\"+Co")
    other = trustme.CA().issue_cert("127.0.0.1")  # the same names, a different key
    files = SimpleNamespace(ca=ca, server=server, client=client, dir=base)
    files.ca_pem = base / "ca.pem"
    files.cert = base / "cert.pem"
    files.key = base / "key.pem"
    files.combined = base / "combined.pem"
    files.other_key = base / "other-key.pem"
    files.enc_key = base / "enc-key.pem"
    files.client_pem = base / "client.pem"
    files.garbage = base / "garbage.pem"
    ca.cert_pem.write_to_path(str(files.ca_pem))
    server.cert_chain_pems[0].write_to_path(str(files.cert))
    server.private_key_pem.write_to_path(str(files.key))
    server.private_key_and_cert_chain_pem.write_to_path(str(files.combined))
    other.private_key_pem.write_to_path(str(files.other_key))
    client.private_key_and_cert_chain_pem.write_to_path(str(files.client_pem))
    key = load_pem_private_key(server.private_key_pem.bytes(), None)
    files.enc_key.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"s3cret")))
    files.garbage.write_text("not a certificate\n")
    return files


def client_context(pki, cert: bool = False, alpn=None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    pki.ca.configure_trust(context)
    if cert:
        pki.client.configure_cert(context)
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


async def echo(scope, receive, send):
    """Answers with the scheme and the tls extension as JSON."""
    body = json.dumps({
        "scheme": scope["scheme"],
        "extensions": sorted(scope["extensions"]),
        "tls": scope["extensions"].get("tls"),
    }).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def https(server) -> str:
    return f"https://127.0.0.1:{server.bound_port}"


def tls_settings(pki, **extra):
    return dict(ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.key), **extra)


def problems(caplog):
    """Warnings, errors and tracebacks logged by the server or asyncio."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


# -- serving HTTPS ----------------------------------------------------------------------------


async def test_https_scope_has_scheme_and_tls_extension(serve, pki, caplog):
    server = await serve(echo, **tls_settings(pki))
    async with httpx.AsyncClient(verify=client_context(pki)) as client:
        first = await client.get(https(server) + "/")
        second = await client.get(https(server) + "/again")
    assert first.status_code == 200 and first.http_version == "HTTP/1.1"
    data = first.json()
    assert data["scheme"] == "https"
    assert data["extensions"] == ["http.response.pathsend", "http.response.trailers", "tls"]
    tls = data["tls"]
    assert set(tls) == {"server_cert", "client_cert_chain", "client_cert_name", "client_cert_error",
                        "tls_version", "cipher_suite"}
    assert tls["server_cert"] == pki.server.cert_chain_pems[0].bytes().decode()
    assert tls["client_cert_chain"] == [] and tls["client_cert_name"] is None and tls["client_cert_error"] is None
    assert tls["tls_version"] == 0x0304  # both ends default to TLS 1.3
    assert tls["cipher_suite"] in (0x1301, 0x1302, 0x1303)
    assert second.json() == data  # one connection, the same facts
    assert not problems(caplog)


async def test_tls_version_and_cipher_match_what_the_client_negotiated(serve, pki):
    # An explicit cipher string for TLS 1.2 reaches OpenSSL.
    server = await serve(echo, **tls_settings(pki, ssl_ciphers="ECDHE+AESGCM"))
    context = client_context(pki)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port, ssl=context,
                                                   server_hostname="127.0.0.1")
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        cipher_name = ssl_object.cipher()[0]
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        response = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    tls = json.loads(response.split(b"\r\n\r\n", 1)[1])["tls"]
    assert tls["tls_version"] == VERSIONS["TLSv1.2"] == VERSIONS[ssl_object.version()]
    ids = {c["name"]: c["id"] & 0xFFFF for c in context.get_ciphers()}
    assert tls["cipher_suite"] == ids[cipher_name] and "GCM" in cipher_name


async def test_default_ciphers_serve_a_tls_1_2_client(serve, pki):
    server = await serve(echo, **tls_settings(pki))
    context = client_context(pki)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    async with httpx.AsyncClient(verify=context) as client:
        tls = (await client.get(https(server))).json()["tls"]
    assert tls["tls_version"] == 0x0303


async def test_each_request_gets_its_own_tls_dict(serve, pki):
    seen = []

    async def app(scope, receive, send):
        tls = scope["extensions"]["tls"]
        seen.append(copy.deepcopy(tls))
        tls["client_cert_chain"].append("mutated")
        tls["tls_version"] = 0
        await echo(scope, receive, send)

    server = await serve(app, **tls_settings(pki))
    async with httpx.AsyncClient(verify=client_context(pki)) as client:
        for _ in range(2):
            assert (await client.get(https(server))).status_code == 200
    assert seen[0] == seen[1] and seen[0]["client_cert_chain"] == [] and seen[0]["tls_version"] == 0x0304


async def test_plain_http_scope_has_no_tls_extension(serve):
    server = await serve(echo)
    async with httpx.AsyncClient() as client:
        data = (await client.get(server.url)).json()
    assert data["scheme"] == "http" and data["tls"] is None and "tls" not in data["extensions"]


async def test_certificate_and_key_in_one_file(serve, pki):
    server = await serve(echo, ssl_certfile=str(pki.combined))
    async with httpx.AsyncClient(verify=client_context(pki)) as client:
        assert (await client.get(https(server))).status_code == 200


async def test_encrypted_key_with_its_password(serve, pki):
    server = await serve(echo, ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.enc_key), ssl_keyfile_password="s3cret")
    async with httpx.AsyncClient(verify=client_context(pki)) as client:
        assert (await client.get(https(server))).status_code == 200


async def curl(*args: str) -> tuple:
    proc = await asyncio.create_subprocess_exec("curl", "-sS", "--max-time", "10", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out, err


async def test_curl_with_cacert(serve, pki):
    # Over HTTP/1.1: curl offers h2 by ALPN unless told otherwise.
    server = await serve(echo, **tls_settings(pki))
    code, out, err = await curl("--http1.1", "--cacert", str(pki.ca_pem), https(server) + "/")
    assert code == 0, err
    assert json.loads(out)["scheme"] == "https"
    # Without the CA, curl refuses the certificate; the server carries on.
    code, _, _ = await curl("--http1.1", https(server) + "/")
    assert code != 0
    code, _, err = await curl("--http1.1", "--cacert", str(pki.ca_pem), https(server) + "/")
    assert code == 0, err


async def test_curl_offering_h2_gets_http11_from_an_h1_server(serve, pki):
    server = await serve(echo, http="h1", **tls_settings(pki))
    code, out, err = await curl("-v", "--cacert", str(pki.ca_pem), https(server) + "/")
    assert code == 0, err
    assert b"ALPN: server accepted http/1.1" in err
    assert json.loads(out)["tls"]["tls_version"] == 0x0304


# -- client certificates ------------------------------------------------------------------------


async def test_required_client_certificate(serve, pki, caplog):
    server = await serve(echo, ssl_cert_reqs=ssl.CERT_REQUIRED, ssl_ca_certs=str(pki.ca_pem), **tls_settings(pki))
    # Without one the handshake fails (under TLS 1.3 the client learns it on its first read).
    async with httpx.AsyncClient(verify=client_context(pki)) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(https(server))
    async with httpx.AsyncClient(verify=client_context(pki, cert=True)) as client:
        response = await client.get(https(server))
    assert response.status_code == 200
    tls = response.json()["tls"]
    leaf = pki.client.cert_chain_pems[0].bytes()
    expected_name = x509.load_pem_x509_certificate(leaf).subject.rfc4514_string()
    assert tls["client_cert_name"] == expected_name
    assert "CN=Client\\, \\\"One\\\"\\+Co" in expected_name  # escaping is exercised
    assert tls["client_cert_chain"][0] == leaf.decode()
    assert tls["client_cert_error"] is None
    assert not problems(caplog)


async def test_optional_client_certificate(serve, pki):
    server = await serve(echo, ssl_cert_reqs=ssl.CERT_OPTIONAL, ssl_ca_certs=str(pki.ca_pem), **tls_settings(pki))
    async with httpx.AsyncClient(verify=client_context(pki)) as client:
        without = (await client.get(https(server))).json()["tls"]
    async with httpx.AsyncClient(verify=client_context(pki, cert=True)) as client:
        with_cert = (await client.get(https(server))).json()["tls"]
    assert without["client_cert_name"] is None and without["client_cert_chain"] == []
    assert with_cert["client_cert_name"] and len(with_cert["client_cert_chain"]) >= 1


@pytest.mark.parametrize("subject", [
    [("CN", "plain")],
    [("C", "DE"), ("O", "A, B; C"), ("OU", "#hash"), ("CN", " padded ")],
    [("DC", "org"), ("DC", "example"), ("UID", "u+1"), ("CN", 'quote"<x>\\')],
    [("ST", "Bavaria"), ("L", "München"), ("STREET", "Main St")],
])
def test_rfc4514_names_match_cryptography(subject):
    from cryptography.x509.oid import NameOID

    oids = {"CN": NameOID.COMMON_NAME, "C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME,
            "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "DC": NameOID.DOMAIN_COMPONENT, "UID": NameOID.USER_ID,
            "ST": NameOID.STATE_OR_PROVINCE_NAME, "L": NameOID.LOCALITY_NAME, "STREET": NameOID.STREET_ADDRESS}
    long_names = {"CN": "commonName", "C": "countryName", "O": "organizationName",
                  "OU": "organizationalUnitName", "DC": "domainComponent", "UID": "userId",
                  "ST": "stateOrProvinceName", "L": "localityName", "STREET": "streetAddress"}
    name = x509.Name([x509.NameAttribute(oids[k], v) for k, v in subject])
    as_getpeercert = tuple(((long_names[k], v),) for k, v in subject)
    assert rfc4514_name(as_getpeercert) == name.rfc4514_string()


# -- ALPN ---------------------------------------------------------------------------------------


def test_alpn_protocols():
    assert alpn_protocols("auto") == ["h2", "http/1.1"]
    assert alpn_protocols("h2") == ["h2"]
    assert alpn_protocols("h1") == ["http/1.1"]


@pytest.mark.parametrize("http, selected", [("h1", "http/1.1"), ("auto", "h2")])
async def test_alpn_selection(serve, pki, http, selected):
    server = await serve(echo, http=http, **tls_settings(pki))
    context = client_context(pki, alpn=["h2", "http/1.1"])
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port, ssl=context,
                                                   server_hostname="127.0.0.1")
    try:
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == selected
    finally:
        writer.close()
        # With h2 chosen the server has sent its SETTINGS, unread: the close may complain.
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()


async def test_http11_only_client_works_when_h2_is_offered(serve, pki):
    server = await serve(echo, **tls_settings(pki))  # http="auto"
    context = client_context(pki, alpn=["http/1.1"])
    async with httpx.AsyncClient(verify=context) as client:
        response = await client.get(https(server))
    assert response.status_code == 200 and response.http_version == "HTTP/1.1"


# -- misbehaving clients --------------------------------------------------------------------------


async def test_plain_http_to_the_tls_port_is_closed_quietly(serve, raw, pki, caplog):
    server = await serve(echo, **tls_settings(pki))
    conn = await raw(server)
    await conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    data = await conn.read_all(timeout=5)
    assert b"HTTP/1.1" not in data
    async with httpx.AsyncClient(verify=client_context(pki)) as client:  # the server carries on
        assert (await client.get(https(server))).status_code == 200
    assert not problems(caplog)


async def test_untrusting_client_fails_the_handshake_quietly(serve, pki, caplog):
    server = await serve(echo, **tls_settings(pki))
    async with httpx.AsyncClient() as client:  # the system CAs do not know ours
        with pytest.raises(httpx.ConnectError):
            await client.get(https(server))
    assert not problems(caplog)


# -- settings and startup errors --------------------------------------------------------------


@pytest.mark.parametrize("kwargs, name", [
    ({"ssl_keyfile": "key.pem"}, "ssl_keyfile"),
    ({"ssl_ca_certs": "ca.pem"}, "ssl_ca_certs"),
    ({"ssl_keyfile_password": "x"}, "ssl_keyfile_password"),
    ({"ssl_cert_reqs": 2}, "ssl_cert_reqs"),
    ({"ssl_certfile": "c.pem", "ssl_cert_reqs": 3}, "ssl_cert_reqs"),
    ({"ssl_certfile": "c.pem", "ssl_cert_reqs": 2}, "ssl_cert_reqs"),  # no ssl_ca_certs
    ({"http": "h3"}, "http"),
])
def test_config_rejects(kwargs, name):
    with pytest.raises(ConfigError, match=f"^{name}:"):
        Config("app:app", **kwargs)


def test_no_context_without_certfile():
    assert build_ssl_context(Config("app:app")) is None
    context = build_ssl_context(Config("app:app", ssl_certfile=None))
    assert context is None


def test_context_settings(pki):
    context = build_ssl_context(Config("app:app", ssl_cert_reqs=1, ssl_ca_certs=str(pki.ca_pem), **tls_settings(pki)))
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_OPTIONAL
    assert build_ssl_context(Config("app:app", **tls_settings(pki))).verify_mode == ssl.CERT_NONE


def _error_cases(pki):
    missing = str(pki.dir / "missing.pem")
    return {
        "missing certfile": (dict(ssl_certfile=missing), f"--ssl-certfile {missing}: no such file"),
        "missing keyfile": (dict(ssl_certfile=str(pki.cert), ssl_keyfile=missing), f"--ssl-keyfile {missing}: no such file"),
        "garbage certfile": (dict(ssl_certfile=str(pki.garbage), ssl_keyfile=str(pki.key)),
                             f"--ssl-certfile {pki.garbage}: no PEM certificate"),
        "garbage keyfile": (dict(ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.garbage)),
                            f"--ssl-keyfile {pki.garbage}: wrong password or not a private key"),
        "no key": (dict(ssl_certfile=str(pki.cert)), f"--ssl-certfile {pki.cert}: no private key"),
        "mismatch": (dict(ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.other_key)),
                     f"--ssl-keyfile {pki.other_key}: the private key does not match the certificate"),
        "encrypted": (dict(ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.enc_key)),
                      f"--ssl-keyfile {pki.enc_key}: the private key is encrypted"),
        "wrong password": (dict(ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.enc_key), ssl_keyfile_password="no"),
                           f"--ssl-keyfile {pki.enc_key}: wrong password or not a private key"),
        "ciphers": (dict(tls_settings(pki), ssl_ciphers="NO-SUCH-CIPHER"), "--ssl-ciphers 'NO-SUCH-CIPHER': "),
        "missing ca": (dict(tls_settings(pki), ssl_ca_certs=missing, ssl_cert_reqs=2), f"--ssl-ca-certs {missing}: no such"),
        "garbage ca": (dict(tls_settings(pki), ssl_ca_certs=str(pki.garbage), ssl_cert_reqs=2),
                       f"--ssl-ca-certs {pki.garbage}: no valid PEM certificate"),
    }


@pytest.mark.parametrize("case", ["missing certfile", "missing keyfile", "garbage certfile", "garbage keyfile",
                                  "no key", "mismatch", "encrypted", "wrong password", "ciphers", "missing ca",
                                  "garbage ca"])
def test_build_errors_name_the_option_and_file(pki, case):
    kwargs, message = _error_cases(pki)[case]
    with pytest.raises(StartupError) as info:
        build_ssl_context(Config("app:app", **kwargs))
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text, text
    assert "s3cret" not in text and info.value.__cause__ is None


async def test_embedded_server_with_a_bad_certificate_does_not_start(serve, pki, caplog):
    started = []

    async def app(scope, receive, send):  # lifespan must not even start
        started.append(scope["type"])

    server = await serve(app, lifespan="auto", ssl_certfile=str(pki.dir / "missing.pem"))
    assert not server.started and started == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("--ssl-certfile ")


# -- the command line ------------------------------------------------------------------------------

APP_SOURCE = textwrap.dedent('''
    import os

    async def app(scope, receive, send):
        body = (scope["scheme"] + " " + str(os.getpid())).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
''')


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "tlsapp.py").write_text(APP_SOURCE)
    return tmp_path


def cli_error_lines(stderr: str) -> list:
    return [line for line in stderr.splitlines() if "--ssl-" in line]


@pytest.mark.parametrize("case, code", [("missing certfile", 3), ("wrong password", 3), ("mismatch", 3)])
def test_cli_tls_startup_errors(pki, app_dir, case, code):
    kwargs, message = _error_cases(pki)[case]
    args = []
    for name, value in kwargs.items():
        args += ["--" + name.replace("_", "-"), value]
    result = run_cli("tlsapp:app", "--port", "0", "--app-dir", str(app_dir), *args)
    assert result.returncode == code, result.stderr
    lines = cli_error_lines(result.stderr)
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "Pyre running" not in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--ssl-keyfile", "key.pem"], "Error: --ssl-keyfile: needs --ssl-certfile"),
    (["--ssl-certfile", "c.pem", "--ssl-cert-reqs", "2"], "Error: --ssl-cert-reqs: client certificates need --ssl-ca-certs"),
    (["--ssl-certfile", "c.pem", "--ssl-cert-reqs", "5"], "Error: argument --ssl-cert-reqs: invalid value 5 (must be between 0 and 2)"),
    (["--http", "h3"], "Error: argument --http"),
])
def test_cli_tls_option_errors_exit_1(app_dir, args, message):
    result = run_cli("tlsapp:app", "--app-dir", str(app_dir), *args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.stderr


def test_cli_serves_https(pki, app_dir, start_cli):
    # The CLI's default loop (uvloop when installed) over TLS, and a plain-HTTP client.
    running = start_cli("tlsapp:app", "--port", "0", "--app-dir", str(app_dir), *_cli_tls(pki))
    assert running.url.startswith("https://127.0.0.1:")
    port = int(running.url.rsplit(":", 1)[1])
    with httpx.Client(verify=client_context(pki)) as client:
        assert client.get(running.url).text.startswith("https ")
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
        plain.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while True:
            chunk = plain.recv(4096)
            if not chunk:
                break
            data += chunk
    assert b"HTTP/1.1" not in data
    assert running.stop(signal.SIGINT) == 0
    assert "Traceback" not in "".join(running.output)


def _cli_tls(pki) -> list:
    return ["--ssl-certfile", str(pki.cert), "--ssl-keyfile", str(pki.enc_key), "--ssl-keyfile-password", "s3cret"]


@pytest.mark.slow
def test_cli_workers_each_build_their_context(pki, app_dir, start_cli):
    running = start_cli("tlsapp:app", "--port", "0", "--app-dir", str(app_dir), "--workers", "2", *_cli_tls(pki))
    assert running.url.startswith("https://127.0.0.1:")
    with httpx.Client(verify=client_context(pki)) as client:
        for _ in range(4):
            response = client.get(running.url, headers={"connection": "close"})
            assert response.status_code == 200 and response.text.startswith("https ")
    assert running.stop(signal.SIGINT) == 0
    assert "Traceback" not in "".join(running.output)


def test_cli_workers_with_a_bad_certificate_exit_3_before_spawning(pki, app_dir):
    missing = str(Path(pki.dir) / "missing.pem")
    result = run_cli("tlsapp:app", "--port", "0", "--app-dir", str(app_dir), "--workers", "2",
                     "--ssl-certfile", missing)
    assert result.returncode == 3
    lines = cli_error_lines(result.stderr)
    assert len(lines) == 1 and f"--ssl-certfile {missing}: no such file" in lines[0], result.stderr
    assert "Started parent process" not in result.stderr and "Traceback" not in result.stderr


async def test_close_notify_while_a_response_is_pending_is_quiet(serve, pki, caplog):
    """TLS has no half-close: a close_notify after a request ends the connection, and the
    app sees a disconnect, without asyncio's warning about eof_received()."""
    events = []
    disconnected = asyncio.Event()

    async def app(scope, receive, send):
        events.append((await receive())["type"])
        events.append((await receive())["type"])
        disconnected.set()
        with pytest.raises(OSError):  # ClientDisconnected
            await send({"type": "http.response.start", "status": 200, "headers": []})

    server = await serve(app, **tls_settings(pki))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port, ssl=client_context(pki),
                                                   server_hostname="127.0.0.1")
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await writer.drain()
    writer.close()  # sends close_notify
    await asyncio.wait_for(disconnected.wait(), 5)
    assert events == ["http.request", "http.disconnect"]
    await asyncio.sleep(0.05)
    assert not problems(caplog), [r.getMessage() for r in problems(caplog)]


async def test_pathsend_and_a_large_body_over_tls(serve, pki, tmp_path):
    """No sendfile under TLS: the file is read and written in blocks."""
    payload = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit, several blocks
    path = tmp_path / "payload.bin"
    path.write_bytes(payload)

    async def app(scope, receive, send):
        assert "http.response.pathsend" in scope["extensions"]
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/echo":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.pathsend", "path": str(path)})

    server = await serve(app, **tls_settings(pki))
    async with httpx.AsyncClient(verify=client_context(pki)) as client:
        assert (await client.get(https(server) + "/file")).content == payload
        assert (await client.post(https(server) + "/echo", content=payload)).content == payload


async def test_shutdown_does_not_wait_long_for_a_silent_tls_client(serve, pki, monkeypatch, caplog):
    """A client idle in a blocking pool never answers our close_notify: the connection is
    dropped after TLS_SHUTDOWN_TIMEOUT (asyncio's default would hold it 30 s)."""
    import socket

    import pyre.server

    monkeypatch.setattr(pyre.server, "TLS_SHUTDOWN_TIMEOUT", 0.3)
    server = await serve(echo, **tls_settings(pki))
    loop = asyncio.get_running_loop()

    def blocking_client():
        sock = socket.create_connection(("127.0.0.1", server.bound_port), timeout=5)
        tls = client_context(pki).wrap_socket(sock, server_hostname="127.0.0.1")
        tls.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert tls.recv(15) == b"HTTP/1.1 200 OK"
        return tls  # left open, never read again

    tls = await loop.run_in_executor(None, blocking_client)
    try:
        await asyncio.sleep(0.1)
        assert len(server.context.connections) == 1
        server.should_exit = True
        started = loop.time()
        while server.context.connections:
            assert loop.time() - started < 3, "the silent TLS connection was not dropped"
            await asyncio.sleep(0.05)
    finally:
        tls.close()
    assert not problems(caplog)


def test_uvicorns_ssl_version(pki):
    """--ssl-version takes uvicorn's ssl.PROTOCOL_* numbers: 17 (default) and 2 negotiate
    TLS 1.2 or 1.3, 5 pins TLS 1.2; TLS 1.0 and 1.1 are refused."""
    default = build_ssl_context(Config("app:app", **tls_settings(pki)))
    assert default.maximum_version == ssl.TLSVersion.MAXIMUM_SUPPORTED
    assert build_ssl_context(Config("app:app", ssl_version=2, **tls_settings(pki))).maximum_version == \
        ssl.TLSVersion.MAXIMUM_SUPPORTED
    pinned = build_ssl_context(Config("app:app", ssl_version=ssl.PROTOCOL_TLSv1_2, **tls_settings(pki)))
    assert pinned.minimum_version == pinned.maximum_version == ssl.TLSVersion.TLSv1_2
    for refused in (3, 4, 16):
        with pytest.raises(ConfigError, match=rf"^ssl_version: {refused} \(PROTOCOL_\w+\) is refused"):
            Config("app:app", ssl_version=refused, **tls_settings(pki))
    with pytest.raises(ConfigError, match=r"^ssl_version: expected one of 2 \(TLS\), 5 \(TLSv1_2\), 17"):
        Config("app:app", ssl_version=99)


# -- the allocator under SSL reads ------------------------------------------------------------

# What an SSL transport's read allocates (256 KiB, shrunk afterwards), and whether glibc put
# it on the heap or gave it an mmap of its own (then also an mremap and a munmap per read).
_ALLOCATION_PROBE = textwrap.dedent("""
    import sys
    import pyre.tls
    if sys.argv[1] == "prime":
        pyre.tls.prime_allocator()
    block = bytes(64 * 1024 * 1024 if sys.argv[1] == "huge" else 256 * 1024)
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith("[heap]"):
            low, high = (int(x, 16) for x in line.split()[0].split("-"))
            print("heap" if low <= id(block) < high else "mmap")
            break
    else:
        print("mmap")
""")


def _allocated_on(mode: str) -> str:
    return subprocess.run([sys.executable, "-c", _ALLOCATION_PROBE, mode], capture_output=True, text=True,
                          timeout=60, check=True).stdout.strip()


def test_priming_puts_an_ssl_read_buffer_on_the_heap():
    # Unprimed, the block is an mmap of its own on CPython 3.11; on 3.12 some import
    # already raised glibc's threshold. The probe sees an mmap: 64 MiB is always one.
    assert _allocated_on("prime") == "heap"
    assert _allocated_on("huge") == "mmap"


@pytest.mark.parametrize("tls", [True, False])
async def test_the_server_primes_the_allocator_only_for_tls(serve, pki, monkeypatch, tls):
    import pyre.server

    calls = []
    monkeypatch.setattr(pyre.server, "prime_allocator", lambda: calls.append(1))
    server = await serve(echo, **(tls_settings(pki) if tls else {}))
    assert server.started
    assert calls == ([1] if tls else [])
