"""Signed ticket secrets that a door phone verifies with no network.

A secret is 88 bytes, base32-encoded (RFC 4648, upper case, no padding) into
141 characters of the QR alphanumeric alphabet. Layout, big-endian::

    offset  size  field
         0     1  version           (1)
         1     4  event id
         5     4  ticket id
         9     4  ticket type id
        13     2  generation        (bumped on re-issue; older ones are revoked)
        15     4  valid from        (Unix seconds; 0 = no lower bound)
        19     4  valid until       (Unix seconds; 0 = no upper bound)
        23     1  key id            (the event's signing key that signed it)
        24    64  Ed25519 signature over bytes 0..23

One key pair per event; the private key never leaves the server, phones hold
every public key of the event (old ones too, so rotation breaks nothing).

The same layout is parsed in the PWA: ``pwa/shared/secret.js`` (keep in step).
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

VERSION = 1
_CLAIMS = struct.Struct(">BIIIHIIB")
SIGNATURE_SIZE = 64
SECRET_BYTES = _CLAIMS.size + SIGNATURE_SIZE
SECRET_LENGTH = 141
assert _CLAIMS.size == 24


class SecretError(ValueError):
    """A secret that must be refused; ``reason`` is an admission reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TicketClaims:
    event_id: int
    ticket_id: int
    type_id: int
    generation: int
    valid_from: datetime | None
    valid_until: datetime | None
    kid: int


def _to_epoch(value: datetime | None) -> int:
    return 0 if value is None else max(1, int(value.timestamp()))


def _from_epoch(value: int) -> datetime | None:
    return None if value == 0 else datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True)
class KeyPair:
    kid: int
    private: bytes
    public: bytes


def generate_key(kid: int) -> KeyPair:
    key = Ed25519PrivateKey.generate()
    return KeyPair(
        kid=kid,
        private=key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
        public=key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
    )


class Signer:
    """Signs secrets with one private key (kept loaded: loading costs more than signing)."""

    def __init__(self, kid: int, private: bytes) -> None:
        self.kid = kid
        self._key = Ed25519PrivateKey.from_private_bytes(private)

    def sign(self, claims: TicketClaims) -> str:
        body = _CLAIMS.pack(
            VERSION,
            claims.event_id,
            claims.ticket_id,
            claims.type_id,
            claims.generation,
            _to_epoch(claims.valid_from),
            _to_epoch(claims.valid_until),
            self.kid,
        )
        raw = body + self._key.sign(body)
        return base64.b32encode(raw).decode("ascii").rstrip("=")


def secret_text(secret: str) -> str:
    """A ticket secret as it is signed and stored: what a keyboard-wedge
    scanner adds (a trailing newline) and a hand-typed code's lower case are
    not part of it. Every lookup and check of a secret goes through here."""
    return secret.strip().upper()


class KeyRing:
    """The public keys of one event, by key id."""

    def __init__(self, event_id: int, public_keys: Mapping[int, bytes]) -> None:
        self.event_id = event_id
        self._keys = {
            kid: Ed25519PublicKey.from_public_bytes(raw) for kid, raw in public_keys.items()
        }

    def verify(self, secret: str) -> TicketClaims:
        """Return the claims of a genuine secret of this event, or raise SecretError.

        Pure: no clock and no ticket state; validity windows and revocation
        are the admission rules' business (``checkin/rules.py``).
        """
        text = secret_text(secret)
        if len(text) != SECRET_LENGTH:
            raise SecretError("invalid", "not a Muster ticket code (wrong length)")
        try:
            raw = base64.b32decode(text + "=" * (-len(text) % 8))
        except (binascii.Error, ValueError):
            raise SecretError("invalid", "not a Muster ticket code (bad characters)") from None
        if base64.b32encode(raw).decode("ascii").rstrip("=") != text:
            # The last character carries a spare bit; only the canonical
            # spelling is accepted, so one ticket has exactly one code.
            raise SecretError("invalid", "not a Muster ticket code (non-canonical)")
        body, signature = raw[: _CLAIMS.size], raw[_CLAIMS.size :]
        version, event_id, ticket_id, type_id, generation, start, end, kid = _CLAIMS.unpack(body)
        if version != VERSION:
            raise SecretError("invalid", f"unknown ticket code version {version}")
        if event_id != self.event_id:
            raise SecretError("wrong_event", "this ticket is for another event")
        key = self._keys.get(kid)
        if key is None:
            raise SecretError("invalid", "signed with an unknown key")
        try:
            key.verify(signature, body)
        except InvalidSignature:
            raise SecretError("invalid", "the signature does not match") from None
        return TicketClaims(
            event_id=event_id,
            ticket_id=ticket_id,
            type_id=type_id,
            generation=generation,
            valid_from=_from_epoch(start),
            valid_until=_from_epoch(end),
            kid=kid,
        )
