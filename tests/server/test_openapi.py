"""The OpenAPI document states every request body and the real statuses.

The bodies come from the models the routes validate with (``@accepts``), so
these tests read the route modules for the models they validate and the
statuses they answer, and fail on one the document leaves out.
"""

from __future__ import annotations

import inspect
import re
import sys
from typing import Any

from starlette.routing import Route

from server import __version__
from server.app import api_routes
from server.openapi import body_models, build_openapi

#: Operations that take no body at all (their path says everything).
NO_BODY = {
    "acknowledge_alert",
    "acknowledge_plan",
    "all_clear",
    "annul_scan",
    "create_staff_pairing_code",
    "erase",
    "resend_broadcast",
    "revoke_device",
    "revoke_token_by_id",
    "rotate_keys",
}

VALIDATED = re.compile(r"(?:parse_body\(\s*request,\s*|validate\(\s*)([\w.]+)")
STATUS = re.compile(r"status(?:_code)?=([^,)\n]+)")


def document() -> dict[str, Any]:
    return build_openapi(api_routes(), __version__)


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, methods in document()["paths"].items()
        for method, op in methods.items()
    ]


def endpoints() -> list[Any]:
    return [r.endpoint for r in api_routes() if isinstance(r, Route)]


def test_every_write_states_its_body() -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, method, op in operations()
        if method in ("post", "patch", "put")
        and "requestBody" not in op
        and op["operationId"] not in NO_BODY
    ]
    assert missing == []


def test_every_model_a_route_module_validates_is_in_the_document() -> None:
    """One source: a model validated in a route module is one its endpoints
    declare with ``@accepts`` (so a new body cannot be left out)."""
    declared: dict[str, set[type]] = {}
    for endpoint in endpoints():
        declared.setdefault(endpoint.__module__, set()).update(body_models(endpoint))
    left_out = []
    for name in declared:
        module = sys.modules[name]
        for dotted in set(VALIDATED.findall(inspect.getsource(module))):
            model: Any = module
            for part in dotted.split("."):
                model = getattr(model, part)
            if model not in declared[name]:
                left_out.append(f"{name}: {dotted}")
    assert left_out == []


def test_successes_are_the_statuses_the_endpoints_answer() -> None:
    """A route that answers 201 (or 202) says so; the document has no
    catch-all ``default`` that would let any status through."""
    by_id = {op["operationId"]: op for _p, _m, op in operations()}
    wrong = []
    for endpoint in endpoints():
        if endpoint.__name__ not in by_id:
            continue  # a page, not the API
        given = " ".join(STATUS.findall(inspect.getsource(endpoint)))
        answered = set(re.findall(r"\b20[0-9]\b", given)) - {"200"}
        documented = set(by_id[endpoint.__name__]["responses"])
        if not answered <= documented:
            wrong.append((endpoint.__name__, sorted(answered), sorted(documented)))
    assert wrong == []
    assert all("default" not in op["responses"] for _p, _m, op in operations())


def test_shared_errors_follow_what_the_operation_has() -> None:
    paths = document()["paths"]
    create = paths["/api/v1/events"]["post"]
    assert sorted(create["responses"]) == ["201", "401", "403", "413", "422", "429", "503"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EventIn"
    }
    read = paths["/api/v1/tickets/{ticket_id}"]["get"]
    assert sorted(read["responses"]) == ["200", "401", "403", "404", "429", "503"]
    assert read["parameters"][0]["schema"] == {"type": "integer", "format": "int64"}
    pair = paths["/api/v1/devices/pair"]["post"]
    assert pair["security"] == [] and "401" not in pair["responses"]
    assert sorted(paths["/readyz"]["get"]["responses"]) == ["200", "503"]
    png = paths["/api/v1/tickets/{ticket_id}/qr.png"]["get"]["responses"]["200"]
    assert list(png["content"]) == ["image/png"]
    error = create["responses"]["422"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}


def test_every_body_schema_resolves() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', str(doc).replace("'", '"')))
    assert refs - set(schemas) == set()


#: Query parameters a route module reads for a page, not for the API.
PAGE_QUERIES = {("server.routes.tickets", "lang")}
READ = re.compile(r'(?:query_params|params)\.get\(\s*"(\w+)"|_int_param\(\s*request,\s*"(\w+)"')


def test_every_query_parameter_a_route_module_reads_is_in_the_document() -> None:
    declared: dict[str, set[str]] = {}
    for endpoint in endpoints():
        declared.setdefault(endpoint.__module__, set()).update(getattr(endpoint, "query", {}))
    left_out = []
    for name in declared:
        source = inspect.getsource(sys.modules[name])
        for found in READ.findall(source):
            param = found[0] or found[1]
            if param not in declared[name] and (name, param) not in PAGE_QUERIES:
                left_out.append(f"{name}: {param}")
    assert left_out == []
    search = document()["paths"]["/api/v1/events/{event_id}/tickets"]["get"]["parameters"]
    assert [p["name"] for p in search if p["in"] == "query"] == ["q", "limit", "offset"]
