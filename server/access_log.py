"""The access log names routes, never secrets, search terms or pairing codes.

uvicorn writes one line per request (``uvicorn.access``) and per websocket
handshake (``uvicorn.error``) with the request target as it came in. Three
things in a target are worth stealing from a log file or a log service: the
attendee page ``/t/{secret}`` (the address is the ticket), a search term
``?q=`` (a person's name or email), and a pairing code ``?code=`` (it draws
the QR a phone pairs with). ``redact_target`` replaces each with
``[redacted]``; ``AccessLogRedaction`` applies it to every string argument
of a log record that looks like a target, leaving the record's shape alone
(uvicorn's formatter unpacks the arguments by position).

Bearer tokens never appear in a target (they are headers, and the websocket
sends its token in the hello), so there is nothing else to hide.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote, unquote_plus

HIDDEN = "[redacted]"

#: Query parameters whose values are personal or secret, wherever they appear.
SECRET_PARAMETERS = frozenset({"q", "code", "secret", "token", "pair", "email", "name", "phone"})

#: Path prefixes whose remainder is a secret.
SECRET_PATHS = ("/t/",)

#: The loggers uvicorn writes request targets to.
UVICORN_LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact_target(target: str) -> str:
    """``target`` (path and query, as sent) with its secrets replaced; the
    rest stays byte for byte as it came."""
    path, mark, query = target.partition("?")
    decoded = unquote(path)  # "/%74/SECRET" reaches the same page
    for prefix in SECRET_PATHS:
        if decoded.startswith(prefix) and len(decoded) > len(prefix):
            path = prefix + HIDDEN
    if not mark:
        return path
    parts = []
    for part in query.split("&"):
        name, equals, value = part.partition("=")
        if equals and value and unquote_plus(name).lower() in SECRET_PARAMETERS:
            part = f"{name}={HIDDEN}"
        parts.append(part)
    return f"{path}?{'&'.join(parts)}"


class AccessLogRedaction(logging.Filter):
    """Rewrites the request targets in a record's arguments (always passes it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(_is_target(arg) for arg in args):
            record.args = tuple(
                redact_target(a) if isinstance(a, str) and _is_target(a) else a for a in args
            )
        return True


def _is_target(value: object) -> bool:
    return isinstance(value, str) and value.startswith("/")


def redact_access_logs() -> None:
    """Install the redaction on uvicorn's loggers (once; call after uvicorn
    configured logging, which ``uvicorn.Config`` does when it is made)."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, AccessLogRedaction) for f in logger.filters):
            logger.addFilter(AccessLogRedaction())
