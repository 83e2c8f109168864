"""What a door phone may show of a ticket offline, sealed under the ticket's own secret.

An offline answer should say who is at the door (the holder's name) without
a lost or stolen phone revealing the attendee list. So the offline bundle
carries each ticket's display data encrypted with a key that only its own
QR code gives: AES-256-GCM under ``HKDF-SHA256(secret)``. A phone that scans
a code opens that one line; the bundle alone opens none (a secret is 88
signed bytes, nothing to guess). Ticket type and printed code need no
sealing: the type is signed into the secret, the code is derived from the
ticket id.

``pwa/app/display.js`` is the JavaScript side (WebCrypto HKDF and AES-GCM,
the same parameters; keep the two in step).

A box is ``base64url(iv ‖ ciphertext ‖ tag)`` with a random 12-byte IV:
the same key may seal a changed name again, and GCM must never see one IV
twice under one key. Sealing costs ~10 µs a ticket; boxes are kept per
(ticket, generation, name) so the full bundles of many phones seal each
ticket once.
"""

from __future__ import annotations

import base64
import functools
import os
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from checkin.secrets import secret_text

SALT = b"muster display"
INFO = b"v1"
IV_BYTES = 12
#: Boxes kept in this process (about 200 bytes each).
CACHE = 200_000


def display_key(secret: str) -> bytes:
    """The AES-256 key a ticket's secret gives (the QR text, upper case)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=INFO)
    return hkdf.derive(secret_text(secret).encode("ascii"))


def seal(secret: str, data: dict[str, Any]) -> str:
    """``data`` as a box only ``secret`` opens."""
    iv = os.urandom(IV_BYTES)
    sealed = AESGCM(display_key(secret)).encrypt(iv, orjson.dumps(data), None)
    return base64.urlsafe_b64encode(iv + sealed).rstrip(b"=").decode("ascii")


def open_box(secret: str, box: str) -> dict[str, Any]:
    """The data in ``box``; ``cryptography.exceptions.InvalidTag`` for another secret."""
    raw = base64.urlsafe_b64decode(box + "=" * (-len(box) % 4))
    plain = AESGCM(display_key(secret)).decrypt(raw[:IV_BYTES], raw[IV_BYTES:], None)
    found: dict[str, Any] = orjson.loads(plain)
    return found


@functools.lru_cache(maxsize=CACHE)
def ticket_box(ticket_id: int, generation: int, secret: str, holder_name: str) -> str:
    """A ticket's sealed display data (its holder's name), kept per name and generation."""
    del ticket_id, generation  # part of the cache key only
    return seal(secret, {"name": holder_name})
