"""OpenAPI 3.1: the document generated from an app's plans, and the interactive page.

::

    app = App()
    ...
    OpenAPI(title="Shop", version="1.0").mount(app)   # GET /openapi.json, GET /docs

The document is built from what the app compiled at startup (one walk of the routes, on the
first request of ``/openapi.json``, then kept):

- one operation per route and method (HEAD and OPTIONS, which the app answers itself, are
  left out); ``operationId`` from the handler (``Items.get`` -> ``Items_get``), ``summary``
  and ``description`` from its docstring;
- ``tags``: the handler's :func:`operation` tags, else its resource's ``tags``, else its
  controllers' ``tags`` (or ``name``);
- ``parameters`` from the typed inputs (path, query, header, cookie), with their schemas and
  constraints, including those of the handler's dependencies;
- ``requestBody`` from a body (``application/json``) or form/file inputs;
- ``responses``: 200 (204 for ``-> None``) with the return annotation's schema, and 422 (the
  documented :class:`~pyre.web.validation.RequestValidationError` shape) when the handler
  has validated inputs;
- ``security``: the operation's (:func:`operation`), else the resource's or controllers'
  ``security`` attribute, else the document's; ``security_schemes`` go into
  ``components.securitySchemes``.

Schemas come from msgspec (``msgspec.json.schema_components``: Structs, dataclasses,
TypedDicts, containers, constraints) and from pydantic for pydantic models, under
``#/components/schemas``. The page is Swagger UI, served from the assets of the installed
``swagger-ui-py`` package (``pip install 'pyre-server[openapi]'``), never from a CDN.
"""

from __future__ import annotations

import html
import importlib.util
import inspect
import os
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

from pyre.web.binding import InputSpec
from pyre.web.di import Dependency
from pyre.web.handlers import HandlerPlan
from pyre.web.params import MISSING, Param
from pyre.web.responses import HTML, JSON, Response
from pyre.web.validation import sequence_item, split_optional, strip_annotated, uses_pydantic

__all__ = ["OpenAPI", "operation", "swagger_ui_directory"]

F = TypeVar("F", bound=Callable[..., Any])
_REF = "#/components/schemas/{name}"
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_][A-Za-z0-9_]*))?\}")
_CONVERTER_SCHEMAS: Dict[str, Dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
    "path": {"type": "string"},
}
_METHODS = ("get", "put", "post", "delete", "patch", "trace")
_VALIDATION_ERROR = {
    "title": "ValidationError",
    "type": "object",
    "required": ["status", "detail"],
    "properties": {
        "status": {"type": "integer", "const": 422},
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}


def operation(
    *,
    tags: Optional[Sequence[str]] = None,
    summary: Optional[str] = None,
    description: Optional[str] = None,
    operation_id: Optional[str] = None,
    responses: Optional[Mapping[int, Any]] = None,
    security: Optional[Sequence[Mapping[str, Sequence[str]]]] = None,
    deprecated: bool = False,
    include_in_schema: bool = True,
) -> Callable[[F], F]:
    """Decorator: what the OpenAPI document says of a handler, beyond what its signature
    tells. ``responses``: status -> a description, or a type (its schema, as JSON)."""
    info = {
        "tags": list(tags) if tags is not None else None,
        "summary": summary,
        "description": description,
        "operation_id": operation_id,
        "responses": dict(responses or {}),
        "security": [dict(item) for item in security] if security is not None else None,
        "deprecated": deprecated,
        "include_in_schema": include_in_schema,
    }

    def mark(handler: F) -> F:
        handler.__openapi__ = info  # type: ignore[attr-defined]
        return handler

    return mark


def swagger_ui_directory() -> str:
    """The folder of Swagger UI's assets in the installed ``swagger-ui-py`` package."""
    spec = importlib.util.find_spec("swagger_ui")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        folder = os.path.join(location, "static")
        if os.path.isfile(os.path.join(folder, "swagger-ui-bundle.js")):
            return folder
    raise RuntimeError(
        "the OpenAPI page needs Swagger UI's assets: pip install 'pyre-server[openapi]' "
        "(or OpenAPI(docs_path=None) for the document alone)"
    )


class _Schemas:
    """The document's ``components.schemas``, filled as types are met."""

    def __init__(self) -> None:
        self.components: Dict[str, Any] = {}

    def of(self, annotation: Any, marker: Optional[Param] = None, *, mode: str = "validation") -> Dict[str, Any]:
        if annotation is inspect.Parameter.empty or annotation is Any:
            return {}
        if uses_pydantic(annotation):
            return self._pydantic(annotation, mode)
        try:
            import msgspec
        except ImportError:
            return _fallback(annotation)
        target = annotation
        constraints = marker.constraints() if marker is not None else {}
        extra: Dict[str, Any] = {}
        if marker is not None:
            if marker.description:
                extra["description"] = marker.description
            if marker.title:
                extra["title"] = marker.title
            if marker.examples:
                extra["examples"] = marker.examples
        if constraints or extra:
            inner, optional = split_optional(annotation)
            sequence = sequence_item(inner)
            if sequence is not None and marker is not None:  # lengths on the array, the rest on each item
                item_marker = Param(ge=marker.ge, le=marker.le, gt=marker.gt, lt=marker.lt, pattern=marker.pattern)
                schema: Dict[str, Any] = {"type": "array", "items": self.of(sequence[0], item_marker)}
                if marker.min_length is not None:
                    schema["minItems"] = marker.min_length
                if marker.max_length is not None:
                    schema["maxItems"] = marker.max_length
                schema.update(extra)
                return {"anyOf": [schema, {"type": "null"}]} if optional else schema
            pattern = constraints.pop("pattern", None)
            try:
                if pattern:
                    constraints["pattern"] = f"^(?:{pattern})$"
                meta = msgspec.Meta(**constraints, **extra)
                from typing import Annotated, Optional as Opt

                target = Annotated[strip_annotated(inner), meta]
                if optional:
                    target = Opt[target]
            except (TypeError, ValueError):  # constraints msgspec cannot put on this type
                target = annotation
        try:
            (found,), components = msgspec.json.schema_components([target], ref_template=_REF)
        except (TypeError, ValueError):
            return _fallback(annotation)
        self.components.update(components)
        return dict(found)

    def _pydantic(self, annotation: Any, mode: str) -> Dict[str, Any]:
        import pydantic

        schema = pydantic.TypeAdapter(annotation).json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
        self.components.update(schema.pop("$defs", {}))
        target = strip_annotated(annotation)
        if isinstance(target, type) and issubclass(target, pydantic.BaseModel):  # a model: by reference
            self.components[target.__name__] = schema
            return {"$ref": _REF.format(name=target.__name__)}
        return dict(schema)


def _fallback(annotation: Any) -> Dict[str, Any]:
    target = strip_annotated(split_optional(annotation)[0])
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(target, type) and issubclass(target, kind):
            return {"type": name}
    return {}


def _inputs(plan: HandlerPlan) -> List[Any]:
    """The typed extractors of a plan, its dependencies' included (each once)."""
    found: List[Any] = []
    seen: set[int] = set()

    def walk(extractors: Sequence[Any]) -> None:
        for extractor in extractors:
            if id(extractor) in seen:
                continue
            seen.add(id(extractor))
            if isinstance(extractor, Dependency):
                walk([step[1] for step in extractor.steps])
            elif isinstance(getattr(extractor, "spec", None), InputSpec):
                found.append(extractor)

    walk([extractor for _, extractor in plan.parameters])
    return found


def _validates(plan: HandlerPlan) -> bool:
    return any(getattr(extractor, "validates", False) for _, extractor in plan.parameters)


def _operation_id(plan: HandlerPlan, method: str, taken: set[str]) -> str:
    endpoint = plan.endpoint
    owner = getattr(endpoint, "__self__", None)
    if owner is not None and inspect.ismethod(endpoint):
        base = f"{type(owner).__name__}_{endpoint.__name__}"
    else:
        base = getattr(endpoint, "__name__", None) or type(endpoint).__name__
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", base)
    name = base if base not in taken else f"{base}_{method}"
    number = 2
    while name in taken:
        name = f"{base}_{method}_{number}"
        number += 1
    taken.add(name)
    return name


def _from_owners(plan: HandlerPlan, attribute: str) -> Any:
    for owner in reversed(plan.owners):  # the resource first, then the innermost controller
        value = getattr(owner, attribute, None)
        if value:
            return value
    return None


def _tags(plan: HandlerPlan, info: Mapping[str, Any]) -> List[str]:
    if info.get("tags"):
        return list(info["tags"])
    tags = _from_owners(plan, "tags")
    if tags:
        return list(tags)
    for owner in reversed(plan.owners):
        name = getattr(owner, "name", None)
        if isinstance(name, str) and name:
            return [name]
    return []


class OpenAPI:
    """The OpenAPI document of an app, and its page (see the module docstring).

    ``security_schemes``: name -> scheme object (``{"type": "http", "scheme": "bearer"}``);
    ``security``: the document's default requirement (``[{"bearer": []}]``).
    """

    def __init__(
        self,
        title: str = "API",
        version: str = "0.1.0",
        *,
        description: Optional[str] = None,
        servers: Optional[Sequence[Mapping[str, Any]]] = None,
        tags: Optional[Sequence[Mapping[str, Any]]] = None,
        security_schemes: Optional[Mapping[str, Mapping[str, Any]]] = None,
        security: Optional[Sequence[Mapping[str, Sequence[str]]]] = None,
        path: str = "/openapi.json",
        docs_path: Optional[str] = "/docs",
    ) -> None:
        self.title = title
        self.version = version
        self.description = description
        self.servers = [dict(server) for server in servers or ()]
        self.tags = [dict(tag) for tag in tags or ()]
        self.security_schemes = {name: dict(scheme) for name, scheme in (security_schemes or {}).items()}
        self.security = [dict(item) for item in security] if security is not None else None
        self.path = path
        self.docs_path = docs_path
        self._document: Optional[Dict[str, Any]] = None

    # -- the document ------------------------------------------------------------------------

    def document(self, app: Any) -> Dict[str, Any]:
        """The OpenAPI 3.1 document of ``app`` (built once, then kept)."""
        if self._document is None:
            self._document = self._build(app)
        return self._document

    def _build(self, app: Any) -> Dict[str, Any]:
        schemas = _Schemas()
        paths: Dict[str, Dict[str, Any]] = {}
        taken: set[str] = set()
        for pattern, target in app.routes:
            methods = getattr(target, "methods", None)
            if not methods:
                continue
            path = _PARAM.sub(lambda match: "{" + match.group(1) + "}", pattern)
            for method, plan in methods.items():
                method = method.lower()
                if method not in _METHODS:
                    continue
                info: Mapping[str, Any] = getattr(plan.endpoint, "__openapi__", None) or {}
                if getattr(plan.endpoint, "__openapi_exclude__", False) or info.get("include_in_schema") is False:
                    continue
                paths.setdefault(path, {})[method] = self._operation(pattern, plan, method, info, schemas, taken)
        document: Dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "paths": paths,
        }
        if self.description:
            document["info"]["description"] = self.description
        if self.servers:
            document["servers"] = self.servers
        if self.tags:
            document["tags"] = self.tags
        components: Dict[str, Any] = {}
        if schemas.components:
            components["schemas"] = dict(sorted(schemas.components.items()))
        if self.security_schemes:
            components["securitySchemes"] = self.security_schemes
        if components:
            document["components"] = components
        if self.security is not None:
            document["security"] = self.security
        return document

    def _operation(
        self, pattern: str, plan: HandlerPlan, method: str, info: Mapping[str, Any], schemas: _Schemas, taken: set[str]
    ) -> Dict[str, Any]:
        doc = inspect.getdoc(plan.endpoint) or ""
        first, _, rest = doc.partition("\n")
        result: Dict[str, Any] = {"operationId": info.get("operation_id") or _operation_id(plan, method, taken)}
        tags = _tags(plan, info)
        if tags:
            result["tags"] = tags
        summary = info.get("summary") or first.strip()
        if summary:
            result["summary"] = summary
        description = info.get("description") or rest.strip()
        if description:
            result["description"] = description
        parameters = self._parameters(pattern, plan, schemas)
        if parameters:
            result["parameters"] = parameters
        body = self._request_body(plan, schemas)
        if body is not None:
            result["requestBody"] = body
        result["responses"] = self._responses(plan, info, schemas)
        security = info.get("security") or _from_owners(plan, "security")
        if security is not None:
            result["security"] = [dict(item) for item in security]
        if info.get("deprecated"):
            result["deprecated"] = True
        return result

    def _parameters(self, pattern: str, plan: HandlerPlan, schemas: _Schemas) -> List[Dict[str, Any]]:
        found: Dict[Tuple[str, str], Dict[str, Any]] = {}
        for name, converter in _PARAM.findall(pattern):
            found[("path", name)] = {
                "name": name,
                "in": "path",
                "required": True,
                "schema": dict(_CONVERTER_SCHEMAS.get(converter or "str", {"type": "string"})),
            }
        for extractor in _inputs(plan):
            spec: InputSpec = extractor.spec
            if spec.location not in ("query", "header", "cookie", "path"):
                continue
            marker = spec.marker
            if marker is not None and not marker.include_in_schema:
                continue
            annotation = spec.annotation
            if spec.location == "path" and annotation is inspect.Parameter.empty:
                continue
            item: Dict[str, Any] = {"name": spec.name, "in": spec.location, "required": spec.location == "path" or spec.required}
            schema = schemas.of(split_optional(annotation)[0] if not spec.required else annotation, marker)
            if spec.default is not MISSING and spec.default is not None:
                try:
                    from pyre.web._json import dumps, loads

                    schema["default"] = loads(dumps(spec.default))
                except (TypeError, ValueError):
                    pass
            item["schema"] = schema
            if marker is not None:
                if marker.description:
                    item["description"] = marker.description
                if marker.deprecated:
                    item["deprecated"] = True
            found[(spec.location, spec.name)] = item
        return list(found.values())

    def _request_body(self, plan: HandlerPlan, schemas: _Schemas) -> Optional[Dict[str, Any]]:
        fields: Dict[str, Any] = {}
        required: List[str] = []
        files = False
        for extractor in _inputs(plan):
            spec: InputSpec = extractor.spec
            if spec.location == "body":
                media_type = getattr(spec.marker, "media_type", "application/json")
                return {
                    "required": spec.required,
                    "content": {media_type: {"schema": schemas.of(spec.annotation, spec.marker)}},
                }
            if spec.location == "form" and spec.whole:
                return {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": schemas.of(spec.annotation)}},
                }
            if spec.location == "form":
                fields[spec.name] = schemas.of(spec.annotation, spec.marker)
            elif spec.location == "file":
                files = True
                many = sequence_item(split_optional(spec.annotation)[0]) is not None
                one = {"type": "string", "contentMediaType": "application/octet-stream"}
                fields[spec.name] = {"type": "array", "items": one} if many else one
            else:
                continue
            if spec.required:
                required.append(spec.name)
        if not fields:
            return None
        schema: Dict[str, Any] = {"type": "object", "properties": fields}
        if required:
            schema["required"] = required
        media_type = "multipart/form-data" if files else "application/x-www-form-urlencoded"
        return {"required": bool(required), "content": {media_type: {"schema": schema}}}

    def _responses(self, plan: HandlerPlan, info: Mapping[str, Any], schemas: _Schemas) -> Dict[str, Any]:
        responses: Dict[str, Any] = {}
        returns = plan.returns
        target, optional = split_optional(returns) if returns is not inspect.Parameter.empty else (returns, False)
        if returns is None or target is type(None):
            responses["204"] = {"description": "No Content"}
        elif isinstance(target, type) and issubclass(target, Response):
            media_type = target.media_type or "application/octet-stream"
            if issubclass(target, JSON):
                responses["200"] = {"description": "OK", "content": {"application/json": {"schema": {}}}}
            else:
                responses["200"] = {"description": "OK", "content": {media_type: {"schema": {"type": "string"}}}}
        elif target is str:
            responses["200"] = {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
        elif target is bytes:
            responses["200"] = {"description": "OK", "content": {"application/octet-stream": {"schema": {"type": "string"}}}}
        elif returns is inspect.Parameter.empty or isinstance(returns, str):
            responses["200"] = {"description": "OK"}
        else:
            schema = schemas.of(returns, mode="serialization")
            responses["200"] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
        for status, extra in (info.get("responses") or {}).items():
            if isinstance(extra, str):
                responses[str(status)] = {"description": extra}
            else:
                responses[str(status)] = {
                    "description": "OK" if 200 <= int(status) < 300 else "Error",
                    "content": {"application/json": {"schema": schemas.of(extra, mode="serialization")}},
                }
        if _validates(plan):
            schemas.components["ValidationError"] = _VALIDATION_ERROR
            responses.setdefault(
                "422",
                {
                    "description": "Validation Error",
                    "content": {"application/json": {"schema": {"$ref": _REF.format(name="ValidationError")}}},
                },
            )
        return responses

    # -- serving -----------------------------------------------------------------------------

    def mount(self, app: Any) -> "OpenAPI":
        """Serve the document at ``path`` and the page at ``docs_path`` (with its assets under
        ``docs_path + "/assets"``) in ``app``; neither appears in the document."""
        spec = self

        async def openapi_document(request: Any) -> Response:
            return JSON(spec.document(request.app))

        openapi_document.__openapi_exclude__ = True  # type: ignore[attr-defined]
        app.add(self.path, openapi_document, name="openapi")
        if self.docs_path is None:
            return self
        from pyre.web.staticfiles import StaticFiles

        assets = StaticFiles(directory=swagger_ui_directory())
        docs_path = self.docs_path
        title = html.escape(self.title)

        async def openapi_page(request: Any) -> Response:
            root = (request.scope.get("root_path") or "").rstrip("/")
            base = html.escape(root + docs_path + "/assets", quote=True)
            url = html.escape(root + spec.path, quote=True)
            return HTML(_PAGE.format(title=title, base=base, url=url))

        openapi_page.__openapi_exclude__ = True  # type: ignore[attr-defined]
        app.add(docs_path, openapi_page, name="openapi_page")
        app.mount(docs_path + "/assets", assets)
        return self


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{base}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{base}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: "{url}", dom_id: "#swagger-ui", deepLinking: true}});
</script>
</body>
</html>
"""
