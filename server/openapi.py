"""The OpenAPI document, built from the routes themselves.

Every API route is listed with its method, summary (the endpoint's
docstring), its path parameters and every status it answers with. What an
endpoint declares:

- ``@accepts(Model)``: the request body, as the very pydantic model (or
  union of models) the endpoint validates it with, so the document cannot
  drift from the code (``tests/server/test_openapi.py`` reads each
  endpoint's source for the models it validates and fails on one left out);
  ``uploads`` names the other media types it reads (a CSV file, a form),
  the only ones with ``body=None``;
- ``@reads(q=TEXT, limit=WHOLE)``: the query parameters it reads;
- ``@answers(201, 409)``: its success status (200 when none is given), the
  media type of a success, and the errors of its own.

The errors every operation shares are added here, by what the operation
has: a token (401, 403, and 429 once failed authentications are counted), a
path parameter (404: an id no row holds, or no database could hold), a body
(413 past its cap, 422 when it does not match), and the database (503 with
``Retry-After`` while it is away). Every error has the one error shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter
from starlette.routing import BaseRoute, Route

F = TypeVar("F", bound=Callable[..., Any])

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}

#: What the common errors mean, as the document words them.
ERRORS = {
    400: "Malformed request (a form that cannot be parsed)",
    401: "No token, or a token that is unknown, expired or revoked",
    403: "The token's role or event has no right to this",
    404: "No such row, or an id no database could hold",
    405: "Method not allowed",
    409: "Conflicts with the current state",
    413: "The body is over its cap",
    422: "The request does not match the schema",
    429: "Too many attempts; wait as Retry-After says",
    503: "The database is unavailable; try again after Retry-After",
}

#: Where a path parameter is an id (the rest, a nonce or a secret, are text).
_ID = re.compile(r"(^|_)id$")


def accepts(
    body: Any, *, required: bool = True, uploads: dict[str, Any] | None = None
) -> Callable[[F], F]:
    """Record the request body of an endpoint: ``body`` is the model (or a
    union of models, ``A | B``) it validates its JSON with; ``uploads`` the
    schemas of the other media types it reads (``CSV_FILE``, ``file_form``);
    ``required=False`` for a body that may be left empty."""

    def mark(endpoint: F) -> F:
        endpoint.__dict__["body_model"] = body
        endpoint.__dict__["body_required"] = required
        endpoint.__dict__["body_uploads"] = uploads or {}
        return endpoint

    return mark


#: A CSV file sent as the body.
CSV_FILE: dict[str, Any] = {"type": "string"}


def file_form(*files: str, fields: type[BaseModel] | None = None) -> dict[str, Any]:
    """A multipart form with ``files``, and the fields of ``fields`` beside them."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: {"type": "string", "format": "binary"} for name in files},
    }
    if fields is None:
        schema["required"] = list(files)
        return schema
    return {"allOf": [{"$ref": f"#/components/schemas/{fields.__name__}"}, schema]}


def answers(
    *statuses: int, media_type: str | tuple[str, ...] = "application/json"
) -> Callable[[F], F]:
    """Record the statuses an endpoint answers besides the shared errors: its
    success (``201`` where it creates, ``202`` where it queues; 200 when no
    2xx is given) and its own errors (``409``…); ``media_type`` is what a
    success is (an image, a CSV file), JSON unless said."""

    def mark(endpoint: F) -> F:
        endpoint.__dict__["answers"] = statuses
        endpoint.__dict__["media_types"] = (
            (media_type,) if isinstance(media_type, str) else media_type
        )
        return endpoint

    return mark


#: Query parameter schemas for ``@reads``.
TEXT: dict[str, Any] = {"type": "string"}
WHOLE: dict[str, Any] = {"type": "integer"}
FLAG: dict[str, Any] = {"type": "boolean"}


def reads(**query: dict[str, Any]) -> Callable[[F], F]:
    """Record the query parameters an endpoint reads, with their schemas
    (``TEXT``, ``WHOLE``, ``FLAG`` or their own); ``tests/server/test_openapi.py``
    fails on a parameter a route module reads that none of its endpoints names."""

    def mark(endpoint: F) -> F:
        endpoint.__dict__["query"] = query
        return endpoint

    return mark


def body_models(endpoint: Callable[..., Any]) -> tuple[type[BaseModel], ...]:
    """The models an endpoint's ``@accepts`` names (each member of a union)."""
    body = getattr(endpoint, "body_model", None)
    if body is None:
        return ()
    members = getattr(body, "__args__", (body,))
    return tuple(m for m in members if isinstance(m, type) and issubclass(m, BaseModel))


def _summary(endpoint: Callable[..., Any]) -> str:
    doc = (endpoint.__doc__ or "").strip().splitlines()
    return doc[0] if doc else endpoint.__name__.replace("_", " ").capitalize()


def _parameter(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = (
        {"type": "integer", "format": "int64"} if _ID.search(name) else {"type": "string"}
    )
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _body_schema(body: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of ``body``; a model goes to the components by name."""
    schema = TypeAdapter(body).json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    if isinstance(body, type) and issubclass(body, BaseModel):
        schemas[body.__name__] = schema
        return {"$ref": f"#/components/schemas/{body.__name__}"}
    return schema


def _request_body(endpoint: Callable[..., Any], schemas: dict[str, Any]) -> dict[str, Any] | None:
    body = getattr(endpoint, "body_model", None)
    uploads = getattr(endpoint, "body_uploads", {})
    if body is None and not uploads:
        return None
    content = {} if body is None else {"application/json": {"schema": _body_schema(body, schemas)}}
    for media_type, schema in uploads.items():
        content[media_type] = {"schema": schema}
    return {"required": getattr(endpoint, "body_required", True), "content": content}


def _responses(
    endpoint: Callable[..., Any], *, secured: bool, params: bool, body: bool, api: bool
) -> dict[str, Any]:
    declared = set(getattr(endpoint, "answers", ()))
    successes = sorted(s for s in declared if s < 300) or [200]
    errors = {s for s in declared if s >= 300}
    if secured:
        errors |= {401, 403}
    if api:
        errors |= {429, 503}
    if params:
        errors.add(404)
    if body:
        errors |= {413, 422}
    media_types = getattr(endpoint, "media_types", ("application/json",))
    responses: dict[str, Any] = {
        str(status): {
            "description": "Created" if status == 201 else "Accepted" if status == 202 else "OK",
            "content": {media_type: {} for media_type in media_types},
        }
        for status in successes
    }
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for status in sorted(errors):
        responses[str(status)] = {
            "description": ERRORS.get(status, "An error"),
            "content": error_content,
        }
    return responses


def build_openapi(routes: Iterable[BaseRoute], version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for route in routes:
        if not isinstance(route, Route) or not (
            route.path.startswith("/api/") or route.path in ("/healthz", "/readyz")
        ):
            continue
        params = re.findall(r"{(\w+)}", route.path)
        endpoint = route.endpoint
        api = route.path.startswith("/api/")
        secured = api and not getattr(endpoint, "public", False)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            request_body = _request_body(endpoint, schemas)
            operation: dict[str, Any] = {
                "operationId": endpoint.__name__,
                "summary": _summary(endpoint),
                "tags": [endpoint.__module__.rsplit(".", 1)[-1]],
                "parameters": [_parameter(p) for p in params]
                + [
                    {"name": name, "in": "query", "required": False, "schema": schema}
                    for name, schema in getattr(endpoint, "query", {}).items()
                ],
                "responses": _responses(
                    endpoint,
                    secured=secured,
                    params=bool(params),
                    body=request_body is not None,
                    api=api,
                ),
                "security": [{"bearer": []}] if secured else [],
            }
            if request_body is not None:
                operation["requestBody"] = request_body
            paths.setdefault(route.path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Muster", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def public(endpoint: F) -> F:
    """Mark an API endpoint that takes no token (pairing a phone)."""
    endpoint.__dict__["public"] = True
    return endpoint
