"""Ticket secrets: round trip, tampering, foreign keys, layout."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from checkin.secrets import (
    SECRET_LENGTH,
    KeyRing,
    SecretError,
    Signer,
    TicketClaims,
    generate_key,
)

QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


@pytest.fixture
def key():
    return generate_key(1)


def claims(**overrides):
    base = dict(
        event_id=7,
        ticket_id=123456,
        type_id=3,
        generation=1,
        valid_from=datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
        valid_until=datetime(2026, 12, 1, 16, 0, tzinfo=UTC),
        kid=1,
    )
    base.update(overrides)
    return TicketClaims(**base)


def test_round_trip(key):
    secret = Signer(1, key.private).sign(claims())
    assert len(secret) == SECRET_LENGTH
    assert set(secret) <= QR_ALPHANUMERIC
    assert KeyRing(7, {1: key.public}).verify(secret) == claims()


def test_open_ended_window(key):
    secret = Signer(1, key.private).sign(claims(valid_from=None, valid_until=None))
    got = KeyRing(7, {1: key.public}).verify(secret)
    assert got.valid_from is None and got.valid_until is None


def test_lower_case_and_whitespace_are_accepted(key):
    secret = Signer(1, key.private).sign(claims())
    assert KeyRing(7, {1: key.public}).verify(f"  {secret.lower()}\n").ticket_id == 123456


@pytest.mark.parametrize("position", [0, 10, 40, 60, 140])
def test_any_flipped_character_is_refused(key, position):
    secret = Signer(1, key.private).sign(claims())
    flipped = secret[position].translate(
        str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "BCDEFGHIJKLMNOPQRSTUVWXYZ234567A")
    )
    tampered = secret[:position] + flipped + secret[position + 1 :]
    with pytest.raises(SecretError) as err:
        KeyRing(7, {1: key.public}).verify(tampered)
    assert err.value.reason in ("invalid", "wrong_event")


def test_changed_ticket_id_with_old_signature_is_invalid(key):
    secret = Signer(1, key.private).sign(claims())
    raw = bytearray(base64.b32decode(secret + "==="))
    raw[8] ^= 0x01  # last byte of the ticket id
    forged = base64.b32encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(SecretError) as err:
        KeyRing(7, {1: key.public}).verify(forged)
    assert err.value.reason == "invalid"


def test_signed_by_another_events_key_is_invalid(key):
    other = generate_key(1)
    forged = Signer(1, other.private).sign(claims())  # claims event 7, signed with a foreign key
    with pytest.raises(SecretError) as err:
        KeyRing(7, {1: key.public}).verify(forged)
    assert err.value.reason == "invalid"


def test_secret_of_another_event_is_wrong_event(key):
    secret = Signer(1, key.private).sign(claims(event_id=8))
    with pytest.raises(SecretError) as err:
        KeyRing(7, {1: key.public}).verify(secret)
    assert err.value.reason == "wrong_event"


def test_unknown_key_id_is_invalid(key):
    secret = Signer(2, key.private).sign(claims(kid=2))
    with pytest.raises(SecretError) as err:
        KeyRing(7, {1: key.public}).verify(secret)
    assert err.value.reason == "invalid"


def test_rotated_keys_both_verify(key):
    new = generate_key(2)
    old_secret = Signer(1, key.private).sign(claims())
    new_secret = Signer(2, new.private).sign(claims(kid=2))
    ring = KeyRing(7, {1: key.public, 2: new.public})
    assert ring.verify(old_secret).kid == 1
    assert ring.verify(new_secret).kid == 2


@pytest.mark.parametrize(
    "garbage", ["", "HELLO", "1" * SECRET_LENGTH, "é" * SECRET_LENGTH, "A" * 200]
)
def test_garbage_is_invalid(key, garbage):
    with pytest.raises(SecretError) as err:
        KeyRing(7, {1: key.public}).verify(garbage)
    assert err.value.reason == "invalid"
