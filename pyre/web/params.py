"""Parameter markers: where a handler's argument comes from, and what it must satisfy.

Two equivalent spellings::

    async def search(limit: Annotated[int, Query(ge=1, le=100)] = 10, user_agent: Annotated[str, Header()] = ""): ...
    async def search(limit: int = Query(10, ge=1, le=100), user_agent: str = Header("")): ...

A marker's ``default`` (or the parameter's own default) makes the input optional; without
one it is required (422 when missing). ``alias`` is the name on the wire (a header's name
defaults to the parameter's with ``_`` as ``-``). Constraints: ``ge``/``le``/``gt``/``lt``
for numbers, ``min_length``/``max_length`` for strings and lists, ``pattern`` (a regular
expression the whole string must match, ``re.fullmatch``) for strings. ``description``,
``title``, ``examples``, ``deprecated`` and ``include_in_schema`` go into the OpenAPI document.
"""

from __future__ import annotations

import typing
from typing import Any, ClassVar, Optional, Sequence, Type, TypeVar

__all__ = ["Body", "Cookie", "File", "Form", "Header", "MISSING", "Param", "Path", "Query", "Upload", "find_marker"]

M = TypeVar("M")


def find_marker(annotation: Any, default: Any, kind: Type[M]) -> Optional[M]:
    """The ``kind`` instance a parameter is marked with: the last in its ``Annotated``
    metadata, else its default; None when it has none."""
    if typing.get_origin(annotation) is typing.Annotated:
        for meta in reversed(typing.get_args(annotation)[1:]):
            if isinstance(meta, kind):
                return meta
    return default if isinstance(default, kind) else None


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: No default given: the input is required.
MISSING: Any = _Missing()


class Param:
    """The base of the markers (see the module docstring); ``location`` says where the value
    is read: ``"query"``, ``"header"``, ``"cookie"``, ``"path"``, ``"body"``, ``"form"`` or ``"file"``."""

    location: ClassVar[str] = ""

    __slots__ = (
        "default",
        "alias",
        "ge",
        "le",
        "gt",
        "lt",
        "min_length",
        "max_length",
        "pattern",
        "title",
        "description",
        "examples",
        "deprecated",
        "include_in_schema",
    )

    def __init__(
        self,
        default: Any = MISSING,
        *,
        alias: Optional[str] = None,
        ge: Optional[float] = None,
        le: Optional[float] = None,
        gt: Optional[float] = None,
        lt: Optional[float] = None,
        min_length: Optional[int] = None,
        max_length: Optional[int] = None,
        pattern: Optional[str] = None,
        title: Optional[str] = None,
        description: Optional[str] = None,
        examples: Optional[Sequence[Any]] = None,
        deprecated: bool = False,
        include_in_schema: bool = True,
    ) -> None:
        if alias is not None and (not isinstance(alias, str) or not alias):
            raise TypeError(f"{type(self).__name__}(alias=...) must be a non-empty str, got {alias!r}")
        self.default = default
        self.alias = alias
        self.ge = ge
        self.le = le
        self.gt = gt
        self.lt = lt
        self.min_length = min_length
        self.max_length = max_length
        self.pattern = pattern
        self.title = title
        self.description = description
        self.examples = list(examples) if examples is not None else None
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema

    def constraints(self) -> dict[str, Any]:
        """The constraints given, by name."""
        names = ("ge", "le", "gt", "lt", "min_length", "max_length", "pattern")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def __repr__(self) -> str:
        shown = {"default": self.default, "alias": self.alias, **self.constraints()}
        text = ", ".join(f"{name}={value!r}" for name, value in shown.items() if value is not None and value is not MISSING)
        return f"{type(self).__name__}({text})"


class Query(Param):
    """A query parameter (``?limit=10``); a list type takes every value of the name."""

    location = "query"
    __slots__ = ()


class Header(Param):
    """A request header; the name is the parameter's with ``_`` as ``-`` unless ``alias``
    is given (``convert_underscores=False`` keeps it as is). Case-insensitive."""

    location = "header"
    __slots__ = ("convert_underscores",)

    def __init__(self, default: Any = MISSING, *, convert_underscores: bool = True, **kwargs: Any) -> None:
        super().__init__(default, **kwargs)
        self.convert_underscores = convert_underscores


class Cookie(Param):
    """A cookie of the request's ``Cookie`` header."""

    location = "cookie"
    __slots__ = ()


class Path(Param):
    """A path parameter (the route's ``{name}``), with constraints; the route's converter
    converts it first."""

    location = "path"
    __slots__ = ()


class Body(Param):
    """The request body, decoded by the parameter's type (JSON: ``media_type`` is
    ``application/json``; any ``+json`` type is accepted too)."""

    location = "body"
    __slots__ = ("media_type",)

    def __init__(self, default: Any = MISSING, *, media_type: str = "application/json", **kwargs: Any) -> None:
        super().__init__(default, **kwargs)
        self.media_type = media_type


class Form(Param):
    """A field of a form body (urlencoded or multipart); annotated with a Struct, dataclass,
    TypedDict or model, the whole form converted to it."""

    location = "form"
    __slots__ = ()


class File(Param):
    """An uploaded file of a multipart body (an :class:`~pyre.web.UploadFile`; ``bytes``
    for its content; a list type for every file of the name). ``pyre.web`` exports it as
    ``Upload`` (``pyre.web.File`` is the file response)."""

    location = "file"
    __slots__ = ()


#: ``File`` under the name ``pyre.web`` exports it by (``pyre.web.File`` is the file response).
Upload = File
