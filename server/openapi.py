"""The OpenAPI document, built from the routes themselves.

Every API route is listed with its method, summary (the endpoint's
docstring) and the error shape; an endpoint that declares its request body
with ``@accepts(Model)`` also gets the body's JSON schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel
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


def accepts(model: type[BaseModel]) -> Callable[[F], F]:
    """Record the request body model of an endpoint for the OpenAPI document."""

    def mark(endpoint: F) -> F:
        endpoint.__dict__["body_model"] = model
        return endpoint

    return mark


def _summary(endpoint: Callable[..., Any]) -> str:
    doc = (endpoint.__doc__ or "").strip().splitlines()
    return doc[0] if doc else endpoint.__name__.replace("_", " ").capitalize()


def build_openapi(routes: Iterable[BaseRoute], version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for route in routes:
        if not isinstance(route, Route) or not (
            route.path.startswith("/api/") or route.path in ("/healthz", "/readyz")
        ):
            continue
        params = re.findall(r"{(\w+)}", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation: dict[str, Any] = {
                "operationId": route.endpoint.__name__,
                "summary": _summary(route.endpoint),
                "tags": [route.endpoint.__module__.rsplit(".", 1)[-1]],
                "parameters": [
                    {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                    for p in params
                ],
                "responses": {
                    "200": {"description": "OK"},
                    "default": {
                        "description": "An error",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                },
            }
            if route.path.startswith("/api/"):
                operation["security"] = [{"bearer": []}]
            model = getattr(route.endpoint, "body_model", None)
            if model is not None:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                        }
                    },
                }
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
