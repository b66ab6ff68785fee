"""JSON encoding and decoding for ``pyre.web``: msgspec when installed, then orjson,
then the standard library; all three give the same bytes for the types documented here.

Supported beyond JSON's own types: dataclass instances, ``datetime``/``date``/``time``
(ISO 8601; UTC as ``Z``), ``uuid.UUID`` (canonical string), ``decimal.Decimal`` (string, exact),
``enum.Enum`` (its value), ``set``/``frozenset``/``tuple`` (arrays), and objects with
a ``__json__()`` method returning a supported value. Output is compact UTF-8
(``{"a":1}``), non-ASCII characters unescaped.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import uuid
from typing import Any, Callable

__all__ = ["BACKEND", "JSONDecodeError", "dumps", "loads"]


class JSONDecodeError(ValueError):
    """The bytes are not valid JSON (the message says where)."""


def _default(obj: Any) -> Any:
    """What the encoders call for a value JSON has no type for."""
    to_json = getattr(obj, "__json__", None)
    if to_json is not None:
        return to_json()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {field.name: getattr(obj, field.name) for field in dataclasses.fields(obj)}
    if isinstance(obj, datetime.datetime):
        text = obj.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text  # RFC 3339, as msgspec writes UTC
    if isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, decimal.Decimal):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _stdlib() -> "tuple[Callable[[Any], bytes], Callable[[Any], Any]]":
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default, allow_nan=False)

    def dumps(obj: Any) -> bytes:
        return encoder.encode(obj).encode("utf-8")

    def loads(data: Any) -> Any:
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise JSONDecodeError(str(exc)) from None

    return dumps, loads


def _msgspec() -> "tuple[Callable[[Any], bytes], Callable[[Any], Any]]":
    import msgspec

    encoder = msgspec.json.Encoder(enc_hook=_default, decimal_format="string")
    decoder = msgspec.json.Decoder()

    def loads(data: Any) -> Any:
        try:
            return decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise JSONDecodeError(str(exc)) from None

    return encoder.encode, loads


def _orjson() -> "tuple[Callable[[Any], bytes], Callable[[Any], Any]]":
    import orjson

    option = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
    fallback = _stdlib()[0]

    def dumps(obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=_default, option=option)
        except orjson.JSONEncodeError as exc:
            if "64-bit" not in str(exc):  # orjson's only gap: integers past 64 bits
                raise TypeError(str(exc)) from None
            return fallback(obj)

    def loads(data: Any) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise JSONDecodeError(str(exc)) from None

    return dumps, loads


def _choose() -> "tuple[str, Callable[[Any], bytes], Callable[[Any], Any]]":
    for name, factory in (("msgspec", _msgspec), ("orjson", _orjson)):
        try:
            dumps, loads = factory()
        except ImportError:
            continue
        return name, dumps, loads
    dumps, loads = _stdlib()
    return "json", dumps, loads


#: Which encoder is in use: "msgspec", "orjson" or "json".
BACKEND, dumps, loads = _choose()
