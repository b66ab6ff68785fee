"""Conversion and validation of request inputs, and typed response encoding.

Everything here is built once per parameter at startup: a *converter* (text -> value, for
query, header, cookie, path and form fields), a *body decoder* (bytes -> value) and a
*response encoder* (return value -> :class:`~pyre.web.Response`). At request time they run
with no ``inspect`` and no type walk.

- ``str``, ``int``, ``float`` and ``bool`` (and ``Optional`` of them) are converted here,
  without any library; other field types (``UUID``, ``datetime``, ``Decimal``, ``Enum``,
  ``Literal``, ...) through ``msgspec.convert`` (lax: from text).
- Bodies: msgspec Structs, dataclasses, ``TypedDict``, ``typing`` containers through one
  precomputed ``msgspec.json.Decoder`` (decoding and validating in one pass); pydantic v2
  models (and containers of them) through a precomputed ``TypeAdapter`` when pydantic is
  installed.
- Failures are :class:`Invalid` (one input) gathered by the plan into one
  :class:`RequestValidationError`: 422 with the documented shape
  ``{"status": 422, "detail": [{"loc": ["query", "limit"], "msg": "...", "type": "..."}]}``.
  Malformed JSON is 400; a body of the wrong media type 415.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from pyre.web.errors import HTTPError
from pyre.web.params import MISSING, Param
from pyre.web.responses import JSON, Response

__all__ = [
    "Invalid",
    "MalformedBody",
    "RequestValidationError",
    "body_decoder",
    "constraint_checks",
    "errors_of",
    "field_converter",
    "is_model",
    "model_converter",
    "response_encoder",
    "sequence_converter",
    "sequence_item",
    "split_optional",
]

Loc = List[Union[str, int]]
Converter = Callable[[Any], Any]


class Invalid(Exception):
    """One input failed: ``loc`` (e.g. ``["query", "limit"]``), ``msg`` and ``type``."""

    def __init__(self, msg: str, type: str, loc: Optional[Loc] = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.type = type
        self.loc: Loc = loc if loc is not None else []

    def error(self) -> Dict[str, Any]:
        """The entry of the 422 body."""
        return {"loc": self.loc, "msg": self.msg, "type": self.type}


class RequestValidationError(HTTPError):
    """422: the request's inputs failed validation; ``errors`` lists every failure
    (``{"loc": [...], "msg": ..., "type": ...}``), which is also the ``detail``."""

    def __init__(self, errors: List[Dict[str, Any]]) -> None:
        super().__init__(422, errors)
        self.errors = errors


class MalformedBody(HTTPError):
    """400: the body is not what its media type says (JSON that does not parse)."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, detail)


# -- the types -------------------------------------------------------------------------------------

_NONE = type(None)


def needs_msgspec(what: str) -> TypeError:
    """The error for a type only msgspec can handle, when it is not installed."""
    return TypeError(f"{what} needs msgspec: pip install 'pyre-server[web]'")


def strip_annotated(annotation: Any) -> Any:
    """``Annotated[X, ...]`` -> ``X``."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def split_optional(annotation: Any) -> Tuple[Any, bool]:
    """``Optional[X]`` (or ``X | None``) -> ``(X, True)``; else ``(annotation, False)``."""
    annotation = strip_annotated(annotation)
    origin = typing.get_origin(annotation)
    if origin is Union or (origin is not None and getattr(origin, "__name__", "") == "UnionType"):
        args = typing.get_args(annotation)
        if _NONE in args:
            rest = tuple(arg for arg in args if arg is not _NONE)
            return (rest[0] if len(rest) == 1 else Union[rest]), True
    return annotation, False


_SEQUENCES = (list, tuple, set, frozenset, Sequence, typing.List, typing.Tuple, typing.Set, typing.FrozenSet)


def sequence_item(annotation: Any) -> Optional[Tuple[Any, Any]]:
    """``list[X]`` (``tuple[X, ...]``, ``set[X]``, ``Sequence[X]``) -> ``(X, container)``."""
    annotation = strip_annotated(annotation)
    origin = typing.get_origin(annotation)
    if annotation in (list, tuple, set, frozenset):
        return (str, annotation)
    if origin is None:
        return None
    import collections.abc

    if origin in (list, set, frozenset, collections.abc.Sequence, tuple):
        args = typing.get_args(annotation)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return None
        item = args[0] if args else str
        container = list if origin is collections.abc.Sequence else origin
        return (item, container)
    return None


def _pydantic_model(annotation: Any) -> bool:
    pydantic = sys.modules.get("pydantic")
    if pydantic is None:
        return False
    base = getattr(pydantic, "BaseModel", None)
    return base is not None and isinstance(annotation, type) and issubclass(annotation, base)


def uses_pydantic(annotation: Any) -> bool:
    """Whether ``annotation`` is (or contains) a pydantic model."""
    annotation = strip_annotated(annotation)
    if _pydantic_model(annotation):
        return True
    return any(uses_pydantic(arg) for arg in typing.get_args(annotation) if arg is not Ellipsis)


def _msgspec_struct(annotation: Any) -> bool:
    msgspec = sys.modules.get("msgspec")
    return msgspec is not None and isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)


def is_model(annotation: Any) -> bool:
    """Whether ``annotation`` is an object type decoded from a body: a msgspec Struct, a
    dataclass, a ``TypedDict``, a pydantic model, or a container of one, or a ``dict``."""
    annotation, _ = split_optional(annotation)
    annotation = strip_annotated(annotation)
    if isinstance(annotation, type):
        if _msgspec_struct(annotation) or dataclasses.is_dataclass(annotation) or _pydantic_model(annotation):
            return True
        if typing.is_typeddict(annotation) or issubclass(annotation, dict):
            return True
        return False
    origin = typing.get_origin(annotation)
    if origin is dict or origin is typing.Dict:
        return True
    return any(is_model(arg) for arg in typing.get_args(annotation) if arg is not Ellipsis and arg is not _NONE)


# -- scalar fields --------------------------------------------------------------------------------

_INT = re.compile(r"[+-]?[0-9]+")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _to_int(text: Any) -> int:
    if type(text) is not str or _INT.fullmatch(text) is None:
        raise Invalid("Input should be a valid integer", "int_parsing")
    return int(text)


def _to_float(text: Any) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise Invalid("Input should be a valid number", "float_parsing") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise Invalid("Input should be a finite number", "finite_number")
    return value


def _to_bool(text: Any) -> bool:
    lowered = text.lower() if type(text) is str else ""
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise Invalid("Input should be a valid boolean", "bool_parsing")


def _to_str(text: Any) -> str:
    if type(text) is not str:
        raise Invalid("Input should be a valid string", "string_type")
    return text


_SCALARS: Dict[Any, Converter] = {str: _to_str, int: _to_int, float: _to_float, bool: _to_bool}


def _msgspec_converter(annotation: Any) -> Converter:
    try:
        import msgspec
    except ImportError:
        raise needs_msgspec(f"a parameter of type {annotation!r}") from None

    convert = msgspec.convert
    validation_error = msgspec.ValidationError

    def converter(text: Any) -> Any:
        try:
            return convert(text, annotation, strict=False)
        except validation_error as exc:
            message, loc = _msgspec_message(str(exc))
            raise Invalid(message, "value_error", loc) from None

    return converter


def constraint_checks(marker: Optional[Param]) -> List[Callable[[Any], None]]:
    """The constraint checks of ``marker``, each raising :class:`Invalid`."""
    if marker is None:
        return []
    checks: List[Callable[[Any], None]] = []
    ge, gt, le, lt = marker.ge, marker.gt, marker.le, marker.lt
    if ge is not None:
        checks.append(_bound(lambda v: v >= ge, f"Input should be greater than or equal to {ge}", "greater_than_equal"))
    if gt is not None:
        checks.append(_bound(lambda v: v > gt, f"Input should be greater than {gt}", "greater_than"))
    if le is not None:
        checks.append(_bound(lambda v: v <= le, f"Input should be less than or equal to {le}", "less_than_equal"))
    if lt is not None:
        checks.append(_bound(lambda v: v < lt, f"Input should be less than {lt}", "less_than"))
    low, high = marker.min_length, marker.max_length
    if low is not None:
        checks.append(_bound(lambda v: len(v) >= low, f"Should have at least {low} characters or items", "too_short"))
    if high is not None:
        checks.append(_bound(lambda v: len(v) <= high, f"Should have at most {high} characters or items", "too_long"))
    if marker.pattern is not None:
        compiled = re.compile(marker.pattern)
        checks.append(
            _bound(
                lambda v: compiled.fullmatch(v) is not None,
                f"String should match pattern {marker.pattern!r}",
                "string_pattern_mismatch",
            )
        )
    return checks


def _bound(test: Callable[[Any], bool], msg: str, kind: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        try:
            ok = test(value)
        except TypeError:
            ok = False
        if not ok:
            raise Invalid(msg, kind)

    return check


def field_converter(annotation: Any, marker: Optional[Param]) -> Converter:
    """The converter of one text field (query, header, cookie, path, form field) to
    ``annotation``, checking ``marker``'s constraints. ``Any``/no annotation: the text."""
    annotation, _ = split_optional(annotation)
    if annotation is Any or annotation is inspect_empty or isinstance(annotation, (str, typing.TypeVar)):
        base: Converter = _to_str
    else:
        scalar = _SCALARS.get(annotation)
        if scalar is None and isinstance(annotation, type) and issubclass(annotation, bool):
            scalar = _to_bool
        base = scalar if scalar is not None else _msgspec_converter(annotation)
    checks = constraint_checks(marker)
    if not checks:
        return base

    def converter(text: Any) -> Any:
        value = base(text)
        for check in checks:
            check(value)
        return value

    return converter


def sequence_converter(item: Any, container: Any, marker: Optional[Param]) -> Converter:
    """The converter of every value of a name (``list[int]``): each item converted, the
    length constraints checked on the whole, the others on each item."""
    item_marker = None
    if marker is not None:
        item_marker = type(marker)(ge=marker.ge, le=marker.le, gt=marker.gt, lt=marker.lt, pattern=marker.pattern)
    convert_item = field_converter(item, item_marker)
    length_checks = []
    if marker is not None and (marker.min_length is not None or marker.max_length is not None):
        length_checks = constraint_checks(Param(min_length=marker.min_length, max_length=marker.max_length))
    make = list if container in (list, typing.List) else container

    def converter(values: Sequence[Any]) -> Any:
        result = []
        errors: List[Invalid] = []
        for index, text in enumerate(values):
            try:
                result.append(convert_item(text))
            except Invalid as exc:
                exc.loc = [index, *exc.loc]
                errors.append(exc)
        if errors:
            raise _Several(errors)
        for check in length_checks:
            check(result)
        return result if make is list else make(result)

    return converter


class _Several(Invalid):
    """Several items of one input failed (each with its index)."""

    def __init__(self, errors: List[Invalid]) -> None:
        super().__init__(errors[0].msg, errors[0].type, errors[0].loc)
        self.errors = errors


def errors_of(exc: Invalid, loc: Loc) -> List[Dict[str, Any]]:
    """The 422 entries of ``exc`` under ``loc``."""
    if isinstance(exc, _Several):
        return [{"loc": [*loc, *one.loc], "msg": one.msg, "type": one.type} for one in exc.errors]
    return [{"loc": [*loc, *exc.loc], "msg": exc.msg, "type": exc.type}]


inspect_empty: Any = inspect.Parameter.empty


# -- bodies ---------------------------------------------------------------------------------------

_AT = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_MISSING_FIELD = re.compile(r"Object missing required field `([^`]*)`")


def _msgspec_message(text: str) -> Tuple[str, Loc]:
    """msgspec's ``"Expected `int`, got `str` - at `$.items[0]`"`` -> message and location."""
    message, _, where = text.partition(" - at `$")
    loc: Loc = []
    for name, index in _AT.findall(where.rstrip("`")):
        loc.append(int(index) if index else name)
    missing = _MISSING_FIELD.fullmatch(message)
    if missing is not None:
        loc.append(missing.group(1))
        message = "Field required"
    return message, loc


def body_decoder(annotation: Any, marker: Optional[Param]) -> Callable[[bytes], Any]:
    """The decoder of a JSON body to ``annotation``: raises :class:`Invalid` (location
    inside the body) or :class:`MalformedBody`."""
    if uses_pydantic(annotation):
        return _pydantic_decoder(annotation)
    target = strip_annotated(annotation)
    try:
        import msgspec
    except ImportError:
        if target in (Any, dict, list, inspect_empty) or typing.get_origin(target) in (dict, list):
            return _stdlib_decoder(target)
        raise needs_msgspec(f"a body of type {annotation!r}") from None
    if target is inspect_empty:
        target = Any
    constraints = {} if marker is None else marker.constraints()
    if constraints:
        target = typing.Annotated[target, msgspec.Meta(**constraints)]
    decoder = msgspec.json.Decoder(target)
    decode = decoder.decode
    validation_error, decode_error = msgspec.ValidationError, msgspec.DecodeError

    def decode_body(body: bytes) -> Any:
        try:
            return decode(body)
        except validation_error as exc:
            message, loc = _msgspec_message(str(exc))
            raise Invalid(message, "value_error", loc) from None
        except decode_error as exc:
            raise MalformedBody(f"Invalid JSON body: {exc}") from None

    return decode_body


def _stdlib_decoder(target: Any) -> Callable[[bytes], Any]:
    from pyre.web import _json

    kind = typing.get_origin(target) or target

    def decode_body(body: bytes) -> Any:
        try:
            value = _json.loads(body)
        except _json.JSONDecodeError as exc:
            raise MalformedBody(f"Invalid JSON body: {exc}") from None
        if kind is not Any and kind is not inspect_empty and not isinstance(value, kind):
            raise Invalid(f"Expected `{kind.__name__}`, got `{type(value).__name__}`", "type_error")
        return value

    return decode_body


def _pydantic_decoder(annotation: Any) -> Callable[[bytes], Any]:
    import pydantic

    adapter = pydantic.TypeAdapter(annotation)
    validate = adapter.validate_json

    def decode_body(body: bytes) -> Any:
        try:
            return validate(body)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False)
            if any(error["type"] == "json_invalid" for error in errors):
                raise MalformedBody(f"Invalid JSON body: {errors[0]['msg']}") from None
            raise _Several([Invalid(e["msg"], e["type"], list(e["loc"])) for e in errors]) from None

    return decode_body


def model_converter(annotation: Any) -> Converter:
    """The converter of a mapping (a form's fields) to ``annotation`` (a Struct, dataclass,
    TypedDict or pydantic model), lax: the fields are text."""
    if uses_pydantic(annotation):
        import pydantic

        adapter = pydantic.TypeAdapter(annotation)

        def convert_pydantic(value: Any) -> Any:
            try:
                return adapter.validate_python(value)
            except pydantic.ValidationError as exc:
                raise _Several([Invalid(e["msg"], e["type"], list(e["loc"])) for e in exc.errors(include_url=False)]) from None

        return convert_pydantic
    return _msgspec_converter(annotation)


# -- responses ------------------------------------------------------------------------------------


def response_encoder(annotation: Any) -> Optional[Callable[[Any], Any]]:
    """For a handler's return annotation naming an object type (see :func:`is_model`, but
    not a plain ``dict``), the function turning its return value into a JSON
    :class:`Response` with msgspec (or the model's pydantic adapter); None for anything
    else (the app's usual conversion applies). A returned :class:`Response` passes as is."""
    if annotation is inspect_empty or annotation is None:
        return None
    target, _ = split_optional(annotation)
    if target is dict or typing.get_origin(target) in (dict, typing.Dict) or not is_model(target):
        return None
    if uses_pydantic(annotation):
        import pydantic

        dump: Callable[[Any], bytes] = pydantic.TypeAdapter(annotation).dump_json
    else:
        try:
            import msgspec
        except ImportError:
            return None  # the stdlib encoder handles dataclasses already
        dump = msgspec.json.Encoder(decimal_format="string").encode

    encoded = JSON.encoded

    def encode(value: Any) -> Any:
        if value is None or isinstance(value, Response):
            return value
        return encoded(dump(value))

    return encode


def default_of(marker: Optional[Param], default: Any) -> Any:
    """The default of an input: the marker's, else the parameter's (MISSING: required)."""
    if marker is not None and marker.default is not MISSING:
        return marker.default
    if default is inspect_empty or isinstance(default, Param):
        return MISSING
    return default
