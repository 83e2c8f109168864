"""Pages and API answers carry a strict Content-Security-Policy, no framing,
no sniffing, no referrer; personal data is never stored by a cache; the
access log hides secrets; /metrics answers loopback or its token only."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest

from server.access_log import AccessLogRedaction, redact_target
from server.app import create_app
from server.security_headers import API_POLICY, PAGE_POLICY, style_hash
from server.settings import load_settings
from tests.conftest import event_body
from tests.servers import start_server

PWA = Path(__file__).resolve().parents[2] / "pwa"
PAGES = ["/", "/console/", "/command/", "/app/", "/docs/"]


def assert_guarded(response: httpx.Response) -> None:
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_every_page_and_answer_is_guarded(client, organiser, ticket):
    for path in PAGES:
        page = await client.get(path)
        assert page.status_code == 200, path
        assert_guarded(page)
        assert page.headers["content-security-policy"] == PAGE_POLICY
        assert "no-store" not in page.headers.get("cache-control", ""), path  # static: cacheable
    api = organiser.headers
    answers = [
        await client.get("/api/v1/events", headers=api),
        await client.get("/api/v1/events"),  # 401
        await client.get("/api/v1/nothing-here", headers=api),  # 404
        await client.get(f"/api/v1/tickets/{ticket['id']}/qr.svg", headers=api),
    ]
    for answer in answers:
        assert_guarded(answer)
        assert answer.headers["content-security-policy"] == API_POLICY
    assert_guarded(await client.get("/healthz"))


async def test_personal_data_is_never_stored(client, organiser, event, ticket):
    e, t = event["id"], ticket["id"]
    api = organiser.headers
    for path in [
        f"/api/v1/events/{e}/tickets?q=wang",
        f"/api/v1/tickets/{t}",
        f"/api/v1/tickets/{t}/qr.png",
        f"/api/v1/tickets/{t}/personal-data",
        f"/api/v1/events/{e}/exports/checkins.csv",
        f"/api/v1/events/{e}/report",
        f"/api/v1/events/{e}/offline-bundle",
    ]:
        answer = await client.get(path, headers=api)
        assert answer.status_code == 200, (path, answer.text)
        assert "no-store" in answer.headers["cache-control"], path
    page = await client.get(f"/t/{ticket['secret']}")
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    assert page.headers["referrer-policy"] == "no-referrer"
    missing = await client.get("/t/NOSUCHTICKET")
    assert missing.status_code == 404 and "no-store" in missing.headers["cache-control"]


async def test_the_attendee_page_allows_its_own_style_only(client, ticket):
    page = await client.get(f"/t/{ticket['secret']}")
    assert_guarded(page)
    policy = page.headers["content-security-policy"]
    styles = re.findall(r"<style>(.*?)</style>", page.text, re.DOTALL)
    assert len(styles) == 1 and f"style-src 'self' {style_hash(styles[0])}" in policy
    assert "unsafe-inline" not in policy and "<script" not in page.text
    assert " style=" not in page.text


def test_the_pages_need_no_inline_script_or_style():
    """What the policy forbids, the pages do not have: script elements
    without src, style elements or attributes, on* handlers."""
    pages = [PWA / "index.html", *sorted(PWA.glob("*/index.html"))]
    assert len(pages) >= 5
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page
        assert "<style" not in html, page
        assert not re.search(r"\sstyle=", html), page
        assert not re.search(r"\son[a-z]+=", html), page


# ---- /metrics


def _metrics_client(app, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 41000))
    return httpx.AsyncClient(transport=transport, base_url="http://muster.test")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_metrics_answer_loopback_only_by_default(app):
    async with _metrics_client(app, "127.0.0.1") as local:
        assert (await local.get("/metrics")).status_code == 200
        # A proxy on this machine passing on a request from elsewhere.
        forwarded = await local.get("/metrics", headers={"X-Forwarded-For": "192.168.1.50"})
        assert forwarded.status_code == 403
        assert forwarded.json()["error"]["code"] == "forbidden"
    async with _metrics_client(app, "::1") as local6:
        assert (await local6.get("/metrics")).status_code == 200
    async with _metrics_client(app, "192.168.1.50") as venue:
        refused = await venue.get("/metrics")
        assert refused.status_code == 403 and "muster_" not in refused.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_metrics_with_a_token_ask_everyone_for_it(database_url, tmp_path):
    settings = load_settings(
        {
            "MUSTER_DATA_DIR": str(tmp_path),
            "MUSTER_DATABASE_URL": database_url,
            "MUSTER_METRICS_TOKEN": "scrape-me-7f3a",
        }
    )
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app):
        for host in ("127.0.0.1", "10.0.0.9"):
            async with _metrics_client(app, host) as http:
                assert (await http.get("/metrics")).status_code == 401
                wrong = {"Authorization": "Bearer scrape-me-7f3b"}
                assert (await http.get("/metrics", headers=wrong)).status_code == 401
                right = {"Authorization": "Bearer scrape-me-7f3a"}
                answer = await http.get("/metrics", headers=right)
                assert answer.status_code == 200 and "muster_" in answer.text


# ---- the access log


def test_redact_target():
    assert redact_target("/t/ABCDEFGH234567") == "/t/[redacted]"
    assert redact_target("/%74/ABCDEF?lang=en") == "/t/[redacted]?lang=en"
    assert (
        redact_target("/api/v1/events/3/tickets?q=wang%40example.com&limit=20")
        == "/api/v1/events/3/tickets?q=[redacted]&limit=20"
    )
    assert (
        redact_target("/api/v1/events/3/pairing-codes/9/qr.svg?code=K7Q2M9&scale=4")
        == "/api/v1/events/3/pairing-codes/9/qr.svg?code=[redacted]&scale=4"
    )
    kept = "/api/v1/events/3/offline-bundle?since=2026-12-01T09%3A00%3A00%2B08%3A00"
    assert redact_target(kept) == kept
    assert redact_target("/tasks/1") == "/tasks/1"


def test_the_filter_keeps_uvicorns_record_shape():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/t/SECRET123", "1.1", 200),
        None,
    )
    assert AccessLogRedaction().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /t/[redacted] HTTP/1.1" 200'


def test_a_real_servers_access_log_holds_no_secret(tmp_path):
    server = start_server(tmp_path, {"MUSTER_LOG_LEVEL": "info"})
    try:
        with server.api() as api:
            event = api.post("/api/v1/events", json=event_body()).json()
            e = event["id"]
            ticket = api.post(
                f"/api/v1/events/{e}/tickets",
                json={"holder_name": "Zhang Min", "holder_email": "zhangmin@example.com"},
            ).json()
            pairing = api.post(f"/api/v1/events/{e}/pairing-codes", json={"role": "door"}).json()
            assert api.get(f"/t/{ticket['secret']}").status_code == 200
            assert api.get(f"/api/v1/events/{e}/tickets", params={"q": "zhangmin"}).is_success
            drawn = api.get(
                f"/api/v1/events/{e}/pairing-codes/{pairing['id']}/qr.svg",
                params={"code": pairing["code"]},
            )
            assert drawn.status_code == 200
            marker = api.get("/healthz?after=all")
            assert marker.status_code == 200
        log = _wait_for_line(server.output, "/healthz?after=all")
    finally:
        server.stop()
    assert "/t/[redacted]" in log and "q=[redacted]" in log and "code=[redacted]" in log
    for secret in (ticket["secret"], "zhangmin", pairing["code"]):
        assert secret not in log


def _wait_for_line(output: list[str], needle: str) -> str:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = "".join(output)
        if needle in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"no {needle!r} in the log:\n{''.join(output)[-2000:]}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_unexpected_error_logs_no_secret(app, ticket, monkeypatch, caplog):
    from server.routes import tickets

    def broken(*_args: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(tickets, "page_language", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://muster.test") as http:
        with caplog.at_level(logging.ERROR, logger="muster"):
            answer = await http.get(f"/t/{ticket['secret']}")
    assert answer.status_code == 500 and "no-store" in answer.headers["cache-control"]
    assert "unhandled error on GET /t/[redacted]" in caplog.text
    assert ticket["secret"] not in caplog.text
