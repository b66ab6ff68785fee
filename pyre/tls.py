"""TLS: the server's ``ssl.SSLContext`` from the settings, and the ASGI ``tls`` extension.

:func:`build_ssl_context` turns the ``ssl_*`` settings (uvicorn's names) into a
server context offering the ALPN protocols of ``http``; any problem with a file or
setting is a :class:`~pyre.errors.StartupError` with one line naming the option and
the file. It is called in each process that serves (each worker builds its own: a
context cannot cross a process boundary, the settings can).

:func:`tls_scope_info` builds the content of ``scope["extensions"]["tls"]`` (ASGI TLS
extension 0.2) once per connection, from the transport after the handshake.
"""

from __future__ import annotations

import re
import ssl
from typing import Any, Dict, List, Optional, Tuple

from pyre.errors import StartupError

__all__ = ["alpn_protocols", "build_ssl_context", "prime_allocator", "rfc4514_name", "tls_scope_info"]

_ALPN = {"auto": ["h2", "http/1.1"], "h2": ["h2"], "h1": ["http/1.1"]}

# TLS protocol version numbers as in the TLS specifications (the extension's integers).
_TLS_VERSIONS = {"SSLv3": 0x0300, "TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----")

# RFC 4514 section 3: the attribute types with a short name; others keep OpenSSL's name.
_SHORT_NAMES = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


# An SSL transport (uvloop's and asyncio's, for a protocol that is not buffered) reads each
# record into a new 256 KiB bytes object, then shrinks it to what arrived. glibc's malloc
# gives a block that large its own mmap while its threshold is still the initial 128 KiB,
# so every read was an mmap, an mremap and a munmap (and page faults): a quarter of a TLS
# keep-alive server's CPU. Freeing one larger mmapped block raises glibc's threshold above
# its size for good, and the reads then come from the heap.
_PRIME_BYTES = 512 * 1024


def prime_allocator() -> None:
    """Raise glibc's mmap threshold above an SSL read's 256 KiB (see above); a no-op elsewhere."""
    block = bytearray(_PRIME_BYTES)
    del block


def alpn_protocols(http: str) -> List[str]:
    """The ALPN protocol names offered for an ``http`` setting (``auto``, ``h1``, ``h2``)."""
    return list(_ALPN[http])


class _NeedPassword(Exception):
    pass


def _ask_password() -> str:
    # Given instead of no callback, so that OpenSSL never prompts on the terminal.
    raise _NeedPassword


def _read(option: str, path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StartupError(f"{option} {path}: {reason[:1].lower()}{reason[1:]}") from None


class _ContextFacts:
    """What every connection of one context shares: the server's certificate as PEM
    and the IANA number of each enabled cipher suite (both computed once)."""

    __slots__ = ("server_cert", "cipher_ids")

    def __init__(self, context: ssl.SSLContext, server_cert: Optional[str]) -> None:
        self.server_cert = server_cert
        self.cipher_ids: Dict[str, int] = {c["name"]: c["id"] & 0xFFFF for c in context.get_ciphers()}


def build_ssl_context(config: Any) -> Optional[ssl.SSLContext]:
    """The server context for ``config``'s ``ssl_*`` settings, or None without a certfile.

    Raises :class:`~pyre.errors.StartupError` (one line naming the option and the
    file) when a file is missing or unreadable, the key is wrong, encrypted without a
    password or does not match the certificate, or the cipher string selects nothing.
    """
    certfile = config.ssl_certfile
    if not certfile:
        return None
    keyfile = config.ssl_keyfile
    password = config.ssl_keyfile_password
    ca_certs = config.ssl_ca_certs

    cert_text = _read("--ssl-certfile", certfile).decode("latin-1")
    key_option, key_path = ("--ssl-keyfile", keyfile) if keyfile else ("--ssl-certfile", certfile)
    if keyfile:
        _read("--ssl-keyfile", keyfile)
    blocks = _PEM_CERT.findall(cert_text)
    if not blocks:
        raise StartupError(f"--ssl-certfile {certfile}: no PEM certificate in the file")
    try:
        # Parse the certificates alone first, so that a bad one is not blamed on the key.
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata="\n".join(blocks))
        server_cert = ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(blocks[0]))
    except (ssl.SSLError, ValueError):
        raise StartupError(f"--ssl-certfile {certfile}: not a valid PEM certificate") from None

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile, password if password is not None else _ask_password)
    except _NeedPassword:
        raise StartupError(f"{key_option} {key_path}: the private key is encrypted; "
                           "give its password with --ssl-keyfile-password") from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise StartupError(f"{key_option} {key_path}: the private key does not match "
                               f"the certificate in --ssl-certfile {certfile}") from None
        if keyfile:
            raise StartupError(f"--ssl-keyfile {keyfile}: wrong password or not a private key") from None
        raise StartupError(f"--ssl-certfile {certfile}: no private key in the file (give --ssl-keyfile), "
                           "or wrong password") from None
    except OSError as exc:  # pragma: no cover - the files were readable a moment ago
        raise StartupError(f"{key_option} {key_path}: {exc.strerror or exc}") from None

    context.verify_mode = ssl.VerifyMode(config.ssl_cert_reqs)
    if getattr(config, "ssl_version", None) == ssl.PROTOCOL_TLSv1_2:  # uvicorn's --ssl-version 5: TLS 1.2 only
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    if ca_certs:
        _read("--ssl-ca-certs", ca_certs)
        try:
            context.load_verify_locations(ca_certs)
        except ssl.SSLError:
            raise StartupError(f"--ssl-ca-certs {ca_certs}: no valid PEM certificate in the file") from None
        except OSError as exc:  # pragma: no cover - readable a moment ago
            raise StartupError(f"--ssl-ca-certs {ca_certs}: {exc.strerror or exc}") from None
    if config.ssl_ciphers:
        try:
            context.set_ciphers(config.ssl_ciphers)
        except ssl.SSLError:
            raise StartupError(f"--ssl-ciphers {config.ssl_ciphers!r}: the cipher string selects no cipher") from None
    context.set_alpn_protocols(alpn_protocols(config.http))
    context._pyre_facts = _ContextFacts(context, server_cert)  # type: ignore[attr-defined]
    return context


def _facts(context: ssl.SSLContext) -> _ContextFacts:
    facts = getattr(context, "_pyre_facts", None)
    if facts is None:  # a context built elsewhere: no certificate text to report
        facts = _ContextFacts(context, None)
        try:
            context._pyre_facts = facts  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - a context type without a __dict__
            pass
    return facts


def _escape(value: str) -> str:
    """An attribute value escaped as RFC 4514 section 2.4 asks."""
    out = []
    last = len(value) - 1
    for index, char in enumerate(value):
        if char in '\\"+,;<>' or (index == 0 and char in "# ") or (index == last and char == " "):
            out.append("\\" + char)
        elif char == "\0":
            out.append("\\00")
        else:
            out.append(char)
    return "".join(out)


def rfc4514_name(subject: Tuple[Tuple[Tuple[str, str], ...], ...]) -> str:
    """A subject as ``ssl.getpeercert()`` reports it, as an RFC 4514 string
    (the last relative distinguished name first)."""
    return ",".join(
        "+".join(f"{_SHORT_NAMES.get(kind, kind)}={_escape(value)}" for kind, value in rdn)
        for rdn in reversed(subject)
    )


def tls_scope_info(transport: Any) -> Optional[Dict[str, Any]]:
    """The ``tls`` extension's content for a connection, or None if it is not TLS.

    Call once per connection, after the handshake (asyncio calls ``connection_made``
    after it); the scope builders give each request its own copy.
    """
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    facts = _facts(ssl_object.context)
    cipher = ssl_object.cipher()
    chain: List[str] = []
    name = None
    leaf = ssl_object.getpeercert(binary_form=True)
    if leaf:
        ders = None
        get_chain = getattr(ssl_object, "get_unverified_chain", None)  # Python 3.13+
        if get_chain is not None:
            try:
                ders = [bytes(der) for der in get_chain() or ()]
            except Exception:  # pragma: no cover - defensive: fall back on the leaf
                ders = None
        if not ders or ders[0] != leaf:
            ders = [leaf]
        chain = [ssl.DER_cert_to_PEM_cert(der) for der in ders]
        decoded = ssl_object.getpeercert()
        if decoded and decoded.get("subject"):
            name = rfc4514_name(decoded["subject"])
    return {
        "server_cert": facts.server_cert,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": facts.cipher_ids.get(cipher[0]) if cipher else None,
    }
