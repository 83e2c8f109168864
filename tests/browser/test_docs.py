"""The API reference at /docs/: real Chromium against a real ``muster serve``.

It renders the server's /openapi.json with the vendored Swagger UI, a call
can be tried from the page with the console's token, every request the page
makes goes to the server itself (none to a CDN, a validator or a font host),
and the page runs under the pages' Content-Security-Policy with no violation.
The server sends its own (server/security_headers.py); should an answer come
without one, the test puts a strict one on it, so the page is proven against
the rules it will meet.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Route, expect

from tests.servers import LiveServer

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def with_a_csp(route: Route) -> None:
    """Pass the server's answer on, adding the strict CSP if it sent none."""
    answer = route.fetch()
    headers = dict(answer.headers)
    if not any(name.lower() == "content-security-policy" for name in headers):
        headers["content-security-policy"] = STRICT_CSP
    route.fulfill(response=answer, headers=headers)


def test_docs_render_the_api_with_nothing_leaving_the_server(
    browser: Any, live_server: LiveServer, artifacts
):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    requests: list[str] = []
    errors: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    context.add_init_script(RECORD_VIOLATIONS)
    context.route("**/*", with_a_csp)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        # Signed in as the console is: its token in localStorage.
        page.goto(f"{live_server.base_url}/")
        page.evaluate(
            "token => localStorage.setItem('muster.console.token', token)", live_server.token
        )
        page.goto(f"{live_server.base_url}/docs")
        expect(page.locator(".docs-bar h1")).to_have_text("API reference")
        events = page.locator(".opblock-summary-path", has_text="/api/v1/events").first
        expect(events).to_be_visible(timeout=15_000)
        assert page.locator(".opblock").count() >= 30, "the reference lists too few operations"
        expect(page.locator(".auth-wrapper .authorize.locked")).to_be_visible()

        # Try one call from the page: GET /api/v1/events with the token.
        listing = page.locator(
            ".opblock-get:has(.opblock-summary-path[data-path='/api/v1/events'])"
        ).first
        listing.locator(".opblock-summary").click()
        listing.get_by_role("button", name="Try it out").click()
        listing.get_by_role("button", name="Execute").click()
        expect(
            listing.locator(".live-responses-table tbody .response-col_status").first
        ).to_have_text("200", timeout=10_000)
        page.screenshot(path=str(artifacts / "docs.png"))

        server = urlsplit(live_server.base_url)
        elsewhere = [url for url in requests if urlsplit(url).netloc != server.netloc]
        assert not elsewhere, f"requests left the server: {elsewhere}"
        assert any(url.endswith("/openapi.json") for url in requests)
        assert any("/vendor/swagger-ui/swagger-ui-bundle.js" in url for url in requests)
        assert page.evaluate("window.__violations") == []
        assert not errors

        # The policy is in force: an image from another origin (loopback,
        # another port) is refused before any request and recorded.
        page.evaluate(
            "document.body.insertAdjacentHTML('beforeend',"
            " '<img src=\"http://127.0.0.2:9/csp-probe.png\">')"
        )
        page.wait_for_function("() => window.__violations.length > 0")
        assert page.evaluate("window.__violations") == ["img-src http://127.0.0.2:9/csp-probe.png"]
    finally:
        context.close()
