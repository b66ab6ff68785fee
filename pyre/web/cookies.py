"""``Set-Cookie`` header values (RFC 6265bis) with safe defaults.

Defaults: ``HttpOnly``, ``Secure``, ``SameSite=Lax``, ``Path=/``. Browsers accept ``Secure``
cookies from ``http://localhost`` (Chrome, Firefox); for plain-http development on any other
host (a LAN address, a ``.test`` name) or in Safari, pass ``secure=False``.

Choices:

- Names must be RFC 9110 tokens; values must be cookie-octets (printable ASCII without
  space, ``"``, ``,``, ``;`` and ``\\``), optionally wrapped in one pair of double quotes.
  Anything else is refused with :class:`ValueError` rather than quoted: browsers do not undo
  the backslash/octal quoting some libraries apply, so the cookie would not round-trip.
  Encode such values first (``urllib.parse.quote``, base64).
- ``SameSite=None`` and ``Partitioned`` need ``Secure`` in every browser, so both force it.
- The ``__Secure-`` and ``__Host-`` name prefixes are checked (``Secure``; and for
  ``__Host-`` also ``Path=/`` and no ``Domain``), as browsers would otherwise drop the cookie.
- A name and value longer than 4096 bytes together are refused (browsers drop them).
"""

from __future__ import annotations

import datetime
import re
import time
from email.utils import formatdate
from typing import Literal, Optional, Union

__all__ = ["DELETED", "SameSite", "format_cookie"]

SameSite = Literal["lax", "strict", "none", "Lax", "Strict", "None"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_COOKIE_VALUE = re.compile(r'(?:[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*|"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")\Z')
# Path and Domain: any CHAR except controls and ";" (RFC 6265 section 4.1.1).
_ATTRIBUTE_VALUE = re.compile(r"[\x20-\x3a\x3c-\x7e]*\Z")
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_MAX_NAME_VALUE = 4096
#: ``expires`` of a cookie that removes one (with ``max_age=0``).
DELETED = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _http_date(when: Union[datetime.datetime, int, float]) -> str:
    """An IMF-fixdate: a datetime (naive means UTC) or a number of seconds from now."""
    if isinstance(when, datetime.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        timestamp = when.timestamp()
    else:
        timestamp = time.time() + when
    return formatdate(timestamp, usegmt=True)


def format_cookie(
    key: str,
    value: str,
    max_age: Optional[Union[int, datetime.timedelta]],
    expires: Optional[Union[datetime.datetime, int, float]],
    path: Optional[str],
    domain: Optional[str],
    secure: bool,
    httponly: bool,
    samesite: Optional[SameSite],
    partitioned: bool,
) -> str:
    """The value of one ``Set-Cookie`` header (the defaults are those of
    :meth:`pyre.web.Response.set_cookie`, the public way in).

    ``max_age``: seconds (or a timedelta); 0 or less deletes the cookie. ``expires``: a
    datetime (naive means UTC) or seconds from now. ``samesite``: "lax" (default),
    "strict", "none" (forces ``Secure``) or None to leave the attribute out.
    Raises :class:`ValueError` for anything a browser would reject or misread.
    """
    if not isinstance(key, str) or not _TOKEN.match(key):
        raise ValueError(f"cookie name {key!r} is not a token (letters, digits and !#$%&'*+-.^_`|~)")
    if not isinstance(value, str) or not _COOKIE_VALUE.match(value):
        raise ValueError(
            f"cookie {key!r} value {value!r} has characters a cookie cannot hold "
            "(space, '\"', ',', ';', '\\', controls or non-ASCII); encode it first, e.g. urllib.parse.quote"
        )
    if len(key) + len(value) > _MAX_NAME_VALUE:
        raise ValueError(f"cookie {key!r} is longer than {_MAX_NAME_VALUE} bytes; browsers would drop it")
    parts = [f"{key}={value}"]
    if max_age is not None:
        seconds = max_age.total_seconds() if isinstance(max_age, datetime.timedelta) else max_age
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ValueError(f"cookie {key!r} max_age must be a number of seconds, got {max_age!r}")
        parts.append(f"Max-Age={int(seconds)}")
    if expires is not None:
        if isinstance(expires, bool) or not isinstance(expires, (datetime.datetime, int, float)):
            raise ValueError(f"cookie {key!r} expires must be a datetime or seconds from now, got {expires!r}")
        parts.append(f"Expires={_http_date(expires)}")
    if domain is not None:
        if not domain or not _ATTRIBUTE_VALUE.match(domain):
            raise ValueError(f"cookie {key!r} domain {domain!r} is empty or has ';' or control characters")
        parts.append(f"Domain={domain}")
    if path is not None:
        if not _ATTRIBUTE_VALUE.match(path):
            raise ValueError(f"cookie {key!r} path {path!r} has ';' or control characters")
        parts.append(f"Path={path}")
    if samesite is not None:
        attribute = _SAMESITE.get(samesite.lower()) if isinstance(samesite, str) else None
        if attribute is None:
            raise ValueError(f"cookie {key!r} samesite must be 'lax', 'strict', 'none' or None, got {samesite!r}")
        if attribute == "None":
            secure = True
        parts.append(f"SameSite={attribute}")
    if partitioned:
        secure = True
    if key.startswith("__Secure-") or key.startswith("__Host-"):
        if not secure:
            raise ValueError(f"cookie {key!r}: the __Secure- and __Host- prefixes need secure=True")
        if key.startswith("__Host-") and (path != "/" or domain is not None):
            raise ValueError(f"cookie {key!r}: the __Host- prefix needs path='/' and no domain")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)
