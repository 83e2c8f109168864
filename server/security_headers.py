"""The headers every answer carries: what a browser may load, frame, sniff,
refer and keep.

Pages (the PWA, the console, the command centre, the docs and the attendee
page ``/t/{secret}``) get ``PAGE_POLICY``: scripts, styles, images, sockets
and workers from our own origin only, no inline script or style, no framing.
The pages need no inline code (the home page's script and style live in
``pwa/home.js`` and ``pwa/home.css``); the one exception is the attendee
page's ``<style>``, allowed by its hash (``page_policy(style=...)``), so the
page stays one self-contained answer that works without the PWA files.

``'wasm-unsafe-eval'`` lets the door phone compile the vendored ZXing
barcode decoder (WebAssembly needs it; it allows no JavaScript ``eval``).
``img-src`` takes ``data:`` and ``blob:`` for photo previews and the QR
images drawn in the page; ``connect-src 'self'`` covers the websocket
(CSP 3: ``'self'`` matches ``ws:``/``wss:`` on our host).

Answers under ``/api/`` and ``/t/`` are private, ``no-store`` unless the
route chose its own ``Cache-Control`` (incident photos are kept a day): they
carry personal data (ticket lists, an attendee's page, exports, one person's
record), and a shared computer's disk cache or a proxy must not keep them.
``Referrer-Policy: no-referrer`` everywhere: a link out of ``/t/{secret}``
must not send its address, which is the ticket.
"""

from __future__ import annotations

import base64
import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "worker-src 'self'",
    "manifest-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
PAGE_POLICY = "; ".join(PAGE_DIRECTIVES)

#: JSON, CSV, images: nothing in them may load or run anything.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

PRIVATE = "private, no-store"

#: Path prefixes whose answers hold personal data or secrets (see above).
PRIVATE_PREFIXES = ("/api/", "/t/")


def style_hash(style: str) -> str:
    """The CSP source that allows exactly this ``<style>`` element's text."""
    digest = hashlib.sha256(style.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def page_policy(style: str | None = None) -> str:
    """``PAGE_POLICY``, allowing one inline ``<style>`` by its hash when given."""
    if style is None:
        return PAGE_POLICY
    return PAGE_POLICY.replace("style-src 'self'", f"style-src 'self' {style_hash(style)}")


def headers_for(path: str) -> list[tuple[str, str]]:
    """The headers an answer to ``path`` carries (names in lower case)."""
    wanted = [
        ("content-security-policy", API_POLICY if path.startswith("/api/") else PAGE_POLICY),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ]
    if path.startswith(PRIVATE_PREFIXES):
        wanted.append(("cache-control", PRIVATE))
    return wanted


class SecurityHeaders:
    """Adds the headers above to every HTTP answer; a route's own win."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in headers_for(scope.get("path", ""))
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in wanted if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
