"""Path-parameter converters of the router, and :class:`RouteError`.

A route pattern names a converter per parameter: ``/items/{id:int}``; ``{name}`` alone
means ``{name:str}``. A converter turns one decoded path segment into a value (or
refuses it), and a value back into URL text for ``url_for``:

- ``convert(segment: str) -> value``: raises :class:`ValueError` to refuse the segment
  (the router then tries the next candidate route); any other exception propagates.
- ``to_url(value) -> str``: the unquoted text for ``value`` (the router percent-encodes
  it); raises :class:`ValueError` for a value it cannot represent. The built-ins accept a
  value of their own type or a ``str`` that ``convert`` accepts.
- ``matches_rest`` (optional class attribute, default ``False``): the converter takes the
  whole rest of the path, slashes included, like ``path``. Such a parameter must be the
  last segment of its pattern.

Built-ins (segments are matched already percent-decoded; an empty segment, as in
``//``, never matches a one-segment converter):

=========  ================================================================================
``str``    one non-empty segment (never contains ``/``), as is. The default.
``int``    ASCII digits only (``0``-``9``; no sign, no ``+``, no spaces; leading zeros
           allowed: ``007`` is 7), any length up to Python's integer-string limit
           (``sys.get_int_max_str_digits()``) -> ``int``. Negative numbers need a user converter.
``float``  ASCII decimal notation ``digits[.digits]`` (no sign, no exponent, no ``nan`` or
           ``inf``), finite (a value too large for a float is refused) -> ``float``.
           ``to_url`` writes plain decimal notation that converts back to the same float.
``uuid``   the canonical 8-4-4-4-12 hexadecimal form, either case -> ``uuid.UUID``;
           ``to_url`` writes lower case.
``path``   the rest of the path, as is: may contain ``/`` (and empty segments) and may be
           empty (``/static/{p:path}`` matches ``/static/`` with ``p == ""``, not ``/static``).
=========  ================================================================================

User converters are registered by name (``Router(converters={"slug": Slug})``), as a class
(instantiated once, without arguments) or an instance; subclassing :class:`Converter` is
optional. Built-in names cannot be redefined.
"""

from __future__ import annotations

import decimal
import math
import uuid
from typing import Any, ClassVar, Mapping, Optional, Protocol, Union

__all__ = [
    "BUILTIN_CONVERTERS",
    "Converter",
    "FloatConverter",
    "IntConverter",
    "PathConverter",
    "RouteError",
    "StrConverter",
    "UUIDConverter",
    "resolve_converters",
]


class RouteError(ValueError):
    """A bad route pattern, a conflict between two routes (the message names both), an
    unusable converter, or a ``url_for`` that cannot be built. Always one line.

    Defined here, outside the compiled router, so both router twins raise the same class.
    For a conflict, ``conflicts_with`` is the earlier pattern (else None), so that the app
    can name the endpoints of both routes.
    """

    def __init__(self, message: str, *, conflicts_with: Optional[str] = None) -> None:
        super().__init__(message)
        self.conflicts_with = conflicts_with


class Converter(Protocol):
    """What the router needs from a converter (see the module docstring)."""

    def convert(self, segment: str) -> Any:
        """The value for ``segment``; :class:`ValueError` refuses it."""

    def to_url(self, value: Any) -> str:
        """The unquoted URL text for ``value``; :class:`ValueError` if it has none."""


_ASCII_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")


class StrConverter:
    """One non-empty path segment, as is (``{name}`` or ``{name:str}``)."""

    matches_rest: ClassVar[bool] = False

    def convert(self, segment: str) -> str:
        if not segment or "/" in segment:
            raise ValueError("not a single non-empty segment")
        return segment

    def to_url(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a str, got {type(value).__name__}")
        return self.convert(value)


class IntConverter:
    """ASCII digits (no sign) -> a non-negative ``int``."""

    matches_rest: ClassVar[bool] = False

    def convert(self, segment: str) -> int:
        if segment.isascii() and segment.isdigit():
            return int(segment)  # ValueError past the interpreter's digit limit: refused too
        raise ValueError("not ASCII digits")

    def to_url(self, value: Any) -> str:
        if isinstance(value, str):
            value = self.convert(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"expected an int, got {type(value).__name__}")
        if value < 0:
            raise ValueError("negative numbers have no URL form in {name:int}")
        return str(value)


class FloatConverter:
    """ASCII ``digits[.digits]`` -> a finite, non-negative ``float``."""

    matches_rest: ClassVar[bool] = False

    def convert(self, segment: str) -> float:
        whole, dot, fraction = segment.partition(".")
        if (
            whole
            and whole.isascii()
            and whole.isdigit()
            and (not dot or (fraction and fraction.isascii() and fraction.isdigit()))
        ):
            value = float(segment)
            if math.isfinite(value):
                return value
        raise ValueError("not a finite decimal number")

    def to_url(self, value: Any) -> str:
        if isinstance(value, str):
            value = self.convert(value)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"expected a float, got {type(value).__name__}")
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise ValueError("only finite non-negative numbers have a URL form in {name:float}")
        # repr() is the shortest text that reads back as the same float; Decimal writes
        # it out without an exponent (1e+20 -> 100000000000000000000). abs(): -0.0.
        return format(decimal.Decimal(repr(abs(number))), "f")


class UUIDConverter:
    """The canonical 8-4-4-4-12 hex form, either case -> ``uuid.UUID``."""

    matches_rest: ClassVar[bool] = False

    def convert(self, segment: str) -> uuid.UUID:
        if len(segment) == 36 and segment[8] == segment[13] == segment[18] == segment[23] == "-":
            digits = segment[:8] + segment[9:13] + segment[14:18] + segment[19:23] + segment[24:]
            if _HEX.issuperset(digits):
                return uuid.UUID(hex=digits)
        raise ValueError("not a canonical UUID")

    def to_url(self, value: Any) -> str:
        if isinstance(value, str):
            value = self.convert(value)
        if not isinstance(value, uuid.UUID):
            raise ValueError(f"expected a uuid.UUID, got {type(value).__name__}")
        return str(value)


class PathConverter:
    """The rest of the path, as is: may contain ``/`` and may be empty."""

    matches_rest: ClassVar[bool] = True

    def convert(self, segment: str) -> str:
        return segment

    def to_url(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a str, got {type(value).__name__}")
        return value


BUILTIN_CONVERTERS: Mapping[str, Converter] = {
    "str": StrConverter(),
    "int": IntConverter(),
    "float": FloatConverter(),
    "uuid": UUIDConverter(),
    "path": PathConverter(),
}

ConverterSpec = Union[Converter, "type[Converter]"]


def resolve_converters(user: Mapping[str, ConverterSpec] | None) -> dict[str, Converter]:
    """The built-ins plus ``user``'s converters (classes instantiated), checked once.

    Raises :class:`RouteError` for a name that is not an identifier or redefines a
    built-in, or for an object without ``convert`` and ``to_url`` methods.
    """
    converters: dict[str, Converter] = dict(BUILTIN_CONVERTERS)
    for name, spec in (user or {}).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise RouteError(f"converter name {name!r} is not an identifier")
        if name in BUILTIN_CONVERTERS:
            raise RouteError(f"converter name {name!r} is built in; register yours under another name")
        converter = spec() if isinstance(spec, type) else spec
        for method in ("convert", "to_url"):
            if not callable(getattr(converter, method, None)):
                raise RouteError(f"converter {name!r} ({type(converter).__name__}) has no {method}() method")
        converters[name] = converter
    return converters
