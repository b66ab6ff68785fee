"""Set-Cookie formatting: safe defaults, validation, attributes; parsed back by the stdlib."""

from __future__ import annotations

import datetime
import time
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie

import pytest
from hypothesis import given, strategies as st

from pyre.web import Response


def format_cookie(key: str, value: str = "", **attributes) -> str:
    """The header ``Response.set_cookie`` adds (pyre.web.cookies formats it)."""
    response = Response()
    response.set_cookie(key, value, **attributes)
    return response.raw_headers[-1][1].decode("latin-1")


def format_delete_cookie(key: str, **attributes) -> str:
    response = Response()
    response.delete_cookie(key, **attributes)
    return response.raw_headers[-1][1].decode("latin-1")

COOKIE_OCTETS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '",;\\')
TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def attributes(header: str) -> dict:
    pairs = [part.strip() for part in header.split(";")[1:]]
    return {p.partition("=")[0].lower(): p.partition("=")[2] for p in pairs}


def test_safe_defaults():
    assert format_cookie("session", "abc") == "session=abc; Path=/; SameSite=Lax; Secure; HttpOnly"


def test_every_attribute():
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    header = format_cookie(
        "id", "v", max_age=3600, expires=expires, path="/app", domain="example.com",
        samesite="strict", partitioned=True,
    )
    assert header == (
        "id=v; Max-Age=3600; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Domain=example.com; Path=/app; "
        "SameSite=Strict; Secure; HttpOnly; Partitioned"
    )


def test_the_stdlib_parses_it_back():
    cookie = SimpleCookie()
    cookie.load(format_cookie("token", "a.b-c_d", max_age=10, domain="example.org"))
    morsel = cookie["token"]
    assert morsel.value == "a.b-c_d"
    assert morsel["max-age"] == "10" and morsel["domain"] == "example.org" and morsel["path"] == "/"
    assert morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "Lax"


def test_turning_the_defaults_off_for_local_http():
    assert format_cookie("dev", "1", secure=False, httponly=False, samesite=None, path=None) == "dev=1"


def test_samesite_none_and_partitioned_force_secure():
    assert format_cookie("x", "1", secure=False, samesite="none") == "x=1; Path=/; SameSite=None; Secure; HttpOnly"
    assert "Secure" in format_cookie("x", "1", secure=False, partitioned=True).split("; ")
    assert format_cookie("x", "1", samesite="Strict").endswith("SameSite=Strict; Secure; HttpOnly")


def test_max_age_and_expires_forms():
    assert "Max-Age=90" in format_cookie("a", max_age=datetime.timedelta(seconds=90.7))
    assert "Max-Age=0" in format_cookie("a", max_age=0)
    naive = datetime.datetime(2031, 5, 6, 7, 8, 9)
    assert "Expires=Tue, 06 May 2031 07:08:09 GMT" in format_cookie("a", expires=naive)  # naive is UTC
    header = format_cookie("a", expires=3600)
    when = parsedate_to_datetime(attributes(header)["expires"]).timestamp()
    assert time.time() + 3000 < when < time.time() + 4000  # seconds from now
    for bad in ("1", True, 1.5j):
        with pytest.raises(ValueError, match="max_age"):
            format_cookie("a", max_age=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expires"):
        format_cookie("a", expires="tomorrow")  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["", "a b", "a=b", "a;b", "a,b", "é", "a\r\nb", "a\0", "(x)", "a\"b", "a@b"])
def test_names_that_are_not_tokens_are_refused(key):
    with pytest.raises(ValueError, match="not a token"):
        format_cookie(key, "v")


@pytest.mark.parametrize("value", ["a b", 'a"b', "a,b", "a;b", "a\\b", "é", "a\nb", "a\x7f", '"open', "\t"])
def test_values_outside_cookie_octets_are_refused(value):
    with pytest.raises(ValueError, match="encode it first"):
        format_cookie("k", value)


def test_a_quoted_value_is_allowed_and_kept():
    assert format_cookie("k", '"quoted"').startswith('k="quoted";')
    assert format_cookie("k", "").startswith("k=;")


@given(st.text(COOKIE_OCTETS, max_size=50))
def test_any_cookie_octet_value_is_kept_verbatim(value):
    assert format_cookie("k", value).startswith(f"k={value}; ")


@given(st.text(max_size=20).filter(lambda v: any(c not in COOKIE_OCTETS for c in v)))
def test_any_other_value_is_refused(value):
    if len(value) >= 2 and value[0] == value[-1] == '"' and all(c in COOKIE_OCTETS for c in value[1:-1]):
        assert format_cookie("k", value)
        return
    with pytest.raises(ValueError):
        format_cookie("k", value)


@given(st.text(TOKEN_CHARS, min_size=1, max_size=20))
def test_any_token_name_is_accepted(key):
    assert format_cookie(key, "v").startswith(f"{key}=v;")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"path": "/a;b"}, "path"),
        ({"path": "/a\nb"}, "path"),
        ({"domain": "a.com; x=1"}, "domain"),
        ({"domain": ""}, "domain"),
        ({"samesite": "sometimes"}, "samesite"),
    ],
)
def test_attribute_values_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        format_cookie("k", "v", **kwargs)


def test_prefixes():
    assert format_cookie("__Host-id", "1").startswith("__Host-id=1; Path=/;")
    assert format_cookie("__Secure-id", "1", domain="example.com", path="/x")
    with pytest.raises(ValueError, match="need secure"):
        format_cookie("__Secure-id", "1", secure=False)
    with pytest.raises(ValueError, match="__Host- prefix needs path"):
        format_cookie("__Host-id", "1", domain="example.com")
    with pytest.raises(ValueError, match="__Host- prefix needs path"):
        format_cookie("__Host-id", "1", path="/sub")


def test_oversized_cookies_are_refused():
    format_cookie("k", "v" * 4095)
    with pytest.raises(ValueError, match="longer than 4096"):
        format_cookie("k", "v" * 4096)


def test_delete_cookie():
    header = format_delete_cookie("session", path="/app", domain="example.com")
    assert header == (
        "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=example.com; Path=/app; "
        "SameSite=Lax; Secure; HttpOnly"
    )
