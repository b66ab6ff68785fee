"""Typed inputs: the binders of query, header, cookie, path, body, form and file parameters.

They plug into the extractor seam of :mod:`pyre.web.handlers` (:data:`BINDERS` is
``DEFAULT_BINDERS`` plus these). A parameter is taken by:

1. its marker (``Annotated[int, Query(ge=1)]``, or a default ``= Query(10, ge=1)``): the
   marker's location, whatever the type;
2. else its type: an object type (msgspec Struct, dataclass, ``TypedDict``, pydantic model,
   ``dict``, or a container of one) is the JSON body; ``UploadFile`` a file of the form;
   a scalar (``str``, ``int``, ``float``, ``bool``, ``UUID``, ``datetime``, ``Decimal``,
   ``Enum``, ``Literal``, and ``Optional`` or ``list`` of them) a query parameter.
   A parameter without an annotation stays what it was (the request by name, a path
   parameter, or its default).

Each extractor reads only its input from the lazy request (an undeclared header is never
decoded: ``request.headers.get(name)`` on the parser's list) and converts it with a
converter built here once (see :mod:`pyre.web.validation`). A failure raises
:class:`~pyre.web.validation.Invalid`; the plan gathers them into one 422.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import inspect
import typing
import uuid
from typing import Any, Callable, Optional, Tuple

from pyre.web.datastructures import UploadFile
from pyre.web.errors import HTTPError
from pyre.web.handlers import Binder, BindContext, Extractor
from pyre.web.params import MISSING, Body, File, Form, Header, Param, Path, Query, find_marker
from pyre.web.validation import (
    Invalid,
    Loc,
    body_decoder,
    constraint_checks,
    default_of,
    field_converter,
    is_model,
    model_converter,
    sequence_converter,
    sequence_item,
    split_optional,
    strip_annotated,
)

__all__ = ["TYPED_BINDERS", "InputSpec", "bind_inferred", "bind_marked", "marker_of"]

_EMPTY = inspect.Parameter.empty
_MISSING_ERROR = ("Field required", "missing")
_SCALAR_TYPES = (str, int, float, bool, uuid.UUID, datetime.datetime, datetime.date, datetime.time, decimal.Decimal)


def marker_of(parameter: inspect.Parameter) -> Optional[Param]:
    """The parameter's marker: in its ``Annotated`` metadata, else its default."""
    return find_marker(parameter.annotation, parameter.default, Param)


class InputSpec:
    """What the OpenAPI document needs of one typed input (on the extractor as ``spec``)."""

    __slots__ = ("location", "name", "annotation", "required", "default", "marker", "whole")

    def __init__(
        self,
        location: str,
        name: str,
        annotation: Any,
        required: bool,
        default: Any,
        marker: Optional[Param],
        whole: bool = False,
    ) -> None:
        #: Where it is read: path, query, header, cookie, body, form or file.
        self.location = location
        #: Whether it is the whole form converted to one type (not one field).
        self.whole = whole
        self.name = name
        self.annotation = annotation
        self.required = required
        self.default = default
        self.marker = marker


# -- extractors -----------------------------------------------------------------------------------


class _Field:
    """One text input (query, header, cookie) by name: converted, or its default."""

    __slots__ = ("name", "convert", "default", "loc", "spec", "many")
    is_async = False
    validates = True
    source = ""

    def __init__(self, name: str, convert: Callable[[Any], Any], default: Any, spec: InputSpec, many: bool) -> None:
        self.name = name
        self.convert = convert
        self.default = default
        self.loc: Loc = [spec.location, name]
        self.spec = spec
        self.many = many

    def _missing(self) -> Any:
        if self.default is MISSING:
            raise Invalid(*_MISSING_ERROR)
        return self.default


class _QueryField(_Field):
    __slots__ = ()

    def extract(self, connection: Any) -> Any:
        if self.many:
            values = connection.query.getlist(self.name)
            return self.convert(values) if values else self._missing()
        text = connection.query.get(self.name)
        return self._missing() if text is None else self.convert(text)


class _HeaderField(_Field):
    __slots__ = ()

    def extract(self, connection: Any) -> Any:
        if self.many:
            values = connection.headers.getlist(self.name)
            return self.convert(values) if values else self._missing()
        text = connection.headers.get(self.name)
        return self._missing() if text is None else self.convert(text)


class _CookieField(_Field):
    __slots__ = ()

    def extract(self, connection: Any) -> Any:
        text = connection.cookies.get(self.name)
        return self._missing() if text is None else self.convert(text)


class _PathField:
    """A path parameter (converted by the route) with its marker's constraints checked."""

    __slots__ = ("name", "check", "loc", "spec")
    is_async = False
    validates = True

    def __init__(self, name: str, check: Callable[[Any], Any], spec: InputSpec) -> None:
        self.name = name
        self.check = check
        self.loc: Loc = ["path", name]
        self.spec = spec

    def extract(self, connection: Any) -> Any:
        return self.check(connection.path_params[self.name])


def _json_media(media_type: str) -> bool:
    return not media_type or media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


class _JSONBody:
    """The JSON body decoded (and validated) to the parameter's type in one pass. A body
    of another media type: 415; none at all: the default, or 422 when required."""

    __slots__ = ("decode", "default", "spec")
    is_async = True
    validates = True
    loc: Loc = ["body"]

    def __init__(self, decode: Callable[[bytes], Any], default: Any, spec: InputSpec) -> None:
        self.decode = decode
        self.default = default
        self.spec = spec

    async def extract(self, connection: Any) -> Any:
        raw = connection.headers.get("content-type")
        if raw is not None and raw != "application/json" and not _json_media(connection.content_type.media_type):
            media_type = connection.content_type.media_type
            raise HTTPError(415, f"Unsupported media type {media_type!r}: send application/json")
        body = await connection.body()
        if not body:
            if self.default is MISSING:
                raise Invalid(*_MISSING_ERROR)
            return self.default
        return self.decode(body)


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _form_of(connection: Any, multipart_only: bool) -> Any:
    media_type = connection.content_type.media_type
    if media_type not in _FORM_TYPES or (multipart_only and media_type != "multipart/form-data"):
        wanted = "multipart/form-data" if multipart_only else "a form (application/x-www-form-urlencoded or multipart/form-data)"
        raise HTTPError(415, f"Unsupported media type {media_type or 'none'!r}: send {wanted}")
    return await connection.form()


class _FormField:
    """One field of the form (text; a list type takes every value of the name)."""

    __slots__ = ("name", "convert", "default", "loc", "spec", "many")
    is_async = True
    validates = True

    def __init__(self, name: str, convert: Callable[[Any], Any], default: Any, spec: InputSpec, many: bool) -> None:
        self.name = name
        self.convert = convert
        self.default = default
        self.loc: Loc = ["form", name]
        self.spec = spec
        self.many = many

    async def extract(self, connection: Any) -> Any:
        form = await _form_of(connection, False)
        values = form.getlist(self.name)
        if not values:
            if self.default is MISSING:
                raise Invalid(*_MISSING_ERROR)
            return self.default
        if any(isinstance(value, UploadFile) for value in values):
            raise Invalid("Input should be a text field, not a file", "string_type")
        return self.convert(values) if self.many else self.convert(values[-1])


class _FormModel:
    """The whole form converted to a Struct, dataclass, TypedDict or model."""

    __slots__ = ("convert", "spec")
    is_async = True
    validates = True
    loc: Loc = ["form"]

    def __init__(self, convert: Callable[[Any], Any], spec: InputSpec) -> None:
        self.convert = convert
        self.spec = spec

    async def extract(self, connection: Any) -> Any:
        form = await _form_of(connection, False)
        fields = {}
        for name in form.keys():
            values = form.getlist(name)
            fields[name] = values[-1] if len(values) == 1 else values
        return self.convert(fields)


class _FileField:
    """An uploaded file (``UploadFile``; ``bytes`` reads it; a list type: every file)."""

    __slots__ = ("name", "default", "loc", "spec", "many", "as_bytes")
    is_async = True
    validates = True

    def __init__(self, name: str, default: Any, spec: InputSpec, many: bool, as_bytes: bool) -> None:
        self.name = name
        self.default = default
        self.loc: Loc = ["file", name]
        self.spec = spec
        self.many = many
        self.as_bytes = as_bytes

    async def extract(self, connection: Any) -> Any:
        form = await _form_of(connection, True)
        files = form.getlist(self.name)
        if not files:
            if self.default is MISSING:
                raise Invalid(*_MISSING_ERROR)
            return self.default
        if not all(isinstance(item, UploadFile) for item in files):
            raise Invalid("Expected an uploaded file", "file_type")
        if self.as_bytes:
            contents = [await item.read() for item in files]
            return contents if self.many else contents[-1]
        return files if self.many else files[-1]


# -- binders --------------------------------------------------------------------------------------


def _header_name(name: str, marker: Param) -> str:
    if marker.alias is not None:
        return marker.alias.lower()
    convert = getattr(marker, "convert_underscores", True)
    return (name.replace("_", "-") if convert else name).lower()


def _refusing(context: BindContext, parameter: inspect.Parameter, build: Callable[[], Extractor]) -> Extractor:
    """``build()``, with a TypeError of a converter that cannot be made turned into a
    :class:`SignatureError` naming the handler and the parameter."""
    try:
        return build()
    except TypeError as exc:
        raise context.refuse(parameter.name, str(exc)) from None


def _text_input(
    parameter: inspect.Parameter, context: BindContext, marker: Param, location: str, name: str
) -> Extractor:
    annotation = parameter.annotation
    default = default_of(marker, parameter.default)
    if default is MISSING and split_optional(annotation)[1]:
        default = None  # Optional[X] without a default: None when absent
    sequence = sequence_item(split_optional(annotation)[0])
    if sequence is not None and location == "cookie":
        raise context.refuse(parameter.name, "is a cookie: a cookie has one value, not a list")
    if sequence is not None:
        convert = sequence_converter(sequence[0], sequence[1], marker)
    else:
        convert = field_converter(annotation, marker)
    spec = InputSpec(location, name, annotation, default is MISSING, default, marker)
    many = sequence is not None
    if location == "query":
        return _QueryField(name, convert, default, spec, many)
    if location == "header":
        return _HeaderField(name, convert, default, spec, many)
    if location == "cookie":
        return _CookieField(name, convert, default, spec, many)
    return _FormField(name, convert, default, spec, many)


def _is_upload(annotation: Any) -> Tuple[bool, bool]:
    """(is an upload, is a list of them)."""
    target = split_optional(annotation)[0]
    sequence = sequence_item(target)
    if sequence is not None:
        return (isinstance(sequence[0], type) and issubclass(sequence[0], UploadFile)), True
    return (isinstance(target, type) and issubclass(target, UploadFile)), False


def _bind_with_marker(parameter: inspect.Parameter, context: BindContext, marker: Param) -> Extractor:
    name = parameter.name
    annotation = parameter.annotation
    if isinstance(marker, Path):
        path_name = marker.alias or name
        if path_name not in context.path_params:
            params = ", ".join(context.path_params) or "none"
            raise context.refuse(name, f"is marked Path() but the route has no {{{path_name}}} (the route's: {params})")
        checks = field_converter(Any, marker)  # the route converted it; the marker's constraints
        value_type = context.path_params[path_name]

        def check(value: Any) -> Any:
            if type(value) is str:
                checks(value)
                return value
            for one in constraint_checks(marker):
                one(value)
            return value

        spec = InputSpec("path", path_name, annotation if annotation is not _EMPTY else value_type, True, MISSING, marker)
        return _PathField(path_name, check, spec)
    if isinstance(marker, Body):
        target = annotation if annotation is not _EMPTY else Any
        default = default_of(marker, parameter.default)
        if default is MISSING and split_optional(target)[1]:
            default = None
        spec = InputSpec("body", "body", target, default is MISSING, default, marker)
        decode = body_decoder(split_optional(target)[0] if default is None else target, marker)
        return _JSONBody(decode, default, spec)
    if isinstance(marker, File):
        upload, many = _is_upload(annotation)
        target = split_optional(annotation)[0]
        as_bytes = target is bytes or (many and sequence_item(target) is not None and sequence_item(target)[0] is bytes)  # type: ignore[index]
        if not upload and not as_bytes and annotation is not _EMPTY:
            raise context.refuse(name, "is marked File(): annotate it UploadFile, bytes, or a list of them")
        default = default_of(marker, parameter.default)
        spec = InputSpec("file", marker.alias or name, annotation, default is MISSING, default, marker)
        return _FileField(marker.alias or name, default, spec, many, as_bytes)
    if isinstance(marker, Form) and is_model(annotation):
        spec = InputSpec("form", name, annotation, True, MISSING, marker, whole=True)
        return _FormModel(model_converter(strip_annotated(annotation)), spec)
    if isinstance(marker, Header):
        return _text_input(parameter, context, marker, "header", _header_name(name, marker))
    location = marker.location
    if location not in ("query", "cookie", "form"):
        raise context.refuse(name, f"has a marker of unknown location {location!r}")
    return _text_input(parameter, context, marker, location, marker.alias or name)


def bind_marked(parameter: inspect.Parameter, context: BindContext) -> Optional[Extractor]:
    """Takes a parameter with a marker (``Query``, ``Header``, ``Cookie``, ``Path``, ``Body``,
    ``Form``, ``File``)."""
    marker = marker_of(parameter)
    if marker is None:
        return None
    return _refusing(context, parameter, lambda: _bind_with_marker(parameter, context, marker))


def _scalar(annotation: Any) -> bool:
    target = split_optional(annotation)[0]
    sequence = sequence_item(target)
    if sequence is not None:
        target = split_optional(sequence[0])[0]
    target = strip_annotated(target)
    if isinstance(target, type):
        return issubclass(target, _SCALAR_TYPES) or issubclass(target, enum.Enum)
    return typing.get_origin(target) is typing.Literal


def bind_inferred(parameter: inspect.Parameter, context: BindContext) -> Optional[Extractor]:
    """Takes an annotated parameter without a marker by its type (see the module docstring)."""
    annotation = parameter.annotation
    if annotation is _EMPTY or annotation is Any or isinstance(annotation, str):
        return None
    upload, _ = _is_upload(annotation)
    if upload:
        return _refusing(context, parameter, lambda: _bind_with_marker(parameter, context, File()))
    if is_model(annotation):
        return _refusing(context, parameter, lambda: _bind_with_marker(parameter, context, Body()))
    if _scalar(annotation):
        return _refusing(context, parameter, lambda: _text_input(parameter, context, Query(), "query", parameter.name))
    return None


#: The binders of typed inputs, offered a parameter after ``DEFAULT_BINDERS`` and the
#: dependency binders (see :func:`pyre.web.di.request_binders`).
TYPED_BINDERS: Tuple[Binder, ...] = (bind_marked, bind_inferred)
