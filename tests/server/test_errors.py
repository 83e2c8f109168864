"""One error shape for every error: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import pytest


def assert_error_shape(body: dict, code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_error_shapes(client, organiser, event):
    cases = [
        (await client.get("/api/v1/events"), 401, "unauthorized"),
        (
            await organiser.http.get("/api/v1/events/999999", headers=organiser.headers),
            404,
            "not_found",
        ),
        (
            await organiser.http.get("/api/v1/events/abc", headers=organiser.headers),
            404,
            "not_found",
        ),
        (
            await organiser.http.get("/api/v1/nothing-here", headers=organiser.headers),
            404,
            "not_found",
        ),
        (
            await organiser.http.delete("/api/v1/events", headers=organiser.headers),
            405,
            "method_not_allowed",
        ),
        (
            await organiser.http.post(
                "/api/v1/events",
                content=b"{not json",
                headers={**organiser.headers, "Content-Type": "application/json"},
            ),
            422,
            "invalid_request",
        ),
        (
            await organiser.http.post(
                "/api/v1/events", json={"name": ""}, headers=organiser.headers
            ),
            422,
            "invalid_request",
        ),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert_error_shape(response.json(), code)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_unexpected_errors_keep_the_shape(app, client, organiser, monkeypatch):
    from server.routes import venue

    async def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(venue, "get_event", broken)
    from httpx import ASGITransport, AsyncClient

    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://muster.test") as http:
        response = await http.get("/api/v1/events/1", headers=organiser.headers)
    assert response.status_code == 500
    assert_error_shape(response.json(), "internal_error")
    assert "boom" not in response.text
    # Answered outside the middleware, with the headers of every answer still.
    assert response.headers["cache-control"] == "private, no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_openapi_lists_the_contract(client):
    doc = (await client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/api/v1/events",
        "/api/v1/events/{event_id}/zones",
        "/api/v1/events/{event_id}/tickets",
    ):
        assert path in doc["paths"], path
    assert "Error" in doc["components"]["schemas"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_health_and_metrics(client, organiser):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json()["database"] == "ok"
    await organiser.get("/api/v1/events")
    metrics = (await client.get("/metrics")).text
    assert 'muster_http_requests_total{method="GET",route="/api/v1/events",status="200"}' in metrics
