"""Signing keys at rest: sealed with the key-encryption key, never in plain
in the database; plain keys of an older database sealed at the next start;
a process with another KEK refused; the KEK rotated by the CLI."""

from __future__ import annotations

import asyncio
import stat
from dataclasses import replace

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select, update
from starlette.datastructures import Secret

from server.cli import StartRefused, bootstrap, main
from server.db import Database
from server.features.keys import key_store
from server.key_sealing import (
    KeyEncryptionKey,
    KeySealingError,
    adopt,
    load_key_encryption_key,
    new_key_text,
)
from server.models import KeyEncryption, SigningKey
from server.settings import load_settings


def kek(text: str | None = None) -> KeyEncryptionKey:
    return KeyEncryptionKey.from_text(text or new_key_text(), "test")


def test_a_sealed_key_opens_only_with_its_kek_in_its_row():
    one, other = kek(), kek()
    private = Ed25519PrivateKey.generate().private_bytes_raw()
    sealed = one.seal(private, event_id=7, kid=1)
    assert private not in sealed and len(sealed) == 1 + 12 + 32 + 16
    assert one.unseal(sealed, 7, 1) == private
    with pytest.raises(InvalidTag):
        other.unseal(sealed, 7, 1)
    with pytest.raises(InvalidTag):
        one.unseal(sealed, 8, 1)  # moved to another event's row
    with pytest.raises(InvalidTag):
        one.unseal(sealed, 7, 2)
    assert one.fingerprint != other.fingerprint and len(one.fingerprint) == 16
    assert kek("the same text, long enough").key == kek("the same text, long enough").key
    with pytest.raises(KeySealingError):
        kek("short")


def test_the_key_file_is_made_once_readable_by_its_owner_only(tmp_path):
    settings = load_settings({"MUSTER_DATA_DIR": str(tmp_path / "data")})
    first = load_key_encryption_key(settings)
    path = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_encryption_key(settings).key == first.key  # read, not made again
    # The file's line works as the setting, so the two can be swapped.
    moved = load_settings({"MUSTER_SECRET_KEY": path.read_text().strip()})
    assert load_key_encryption_key(moved).fingerprint == first.fingerprint
    path.chmod(0o644)
    with pytest.raises(KeySealingError, match="chmod 600"):
        load_key_encryption_key(settings)


async def test_no_private_key_is_stored_in_plain(ctx, organiser, event):
    secret = (
        await organiser.post(
            f"/api/v1/events/{event['id']}/tickets", {"holder_name": "王伟"}, expect=201
        )
    )["secret"]
    await organiser.post(f"/api/v1/events/{event['id']}/keys/rotate", {}, expect=201)
    async with ctx.db.reading() as session:
        keys = (await session.scalars(select(SigningKey))).all()
        recorded = await session.get(KeyEncryption, 1)
    assert len(keys) == 2 and recorded is not None
    assert recorded.fingerprint == key_store(ctx).kek.fingerprint
    for key in keys:
        assert key.sealed_by == key_store(ctx).kek.fingerprint
        private = key_store(ctx).kek.private_key(key)
        assert private not in key.private_key
        public = Ed25519PrivateKey.from_private_bytes(private).public_key()
        assert public.public_bytes(Encoding.Raw, PublicFormat.Raw) == key.public_key
    ring = await key_store(ctx).ring(event["id"])
    assert ring.verify(secret).ticket_id  # signed with the unsealed key


async def test_plain_keys_of_an_older_database_are_sealed_at_start(ctx, organiser, event):
    """Before revision 0014 keys were stored in plain: ``adopt`` (run by every
    start) seals them, once, and tickets keep verifying and signing."""
    kek_ = key_store(ctx).kek
    async with ctx.db.writing() as session:
        key = await session.scalar(select(SigningKey).where(SigningKey.event_id == event["id"]))
        assert key is not None
        plain = kek_.private_key(key)
        await session.execute(
            update(SigningKey)
            .where(SigningKey.id == key.id)
            .values(private_key=plain, sealed_by=None)
        )
    assert await adopt(ctx.db, kek_) == 1
    assert await adopt(ctx.db, kek_) == 0
    async with ctx.db.reading() as session:
        key = await session.scalar(select(SigningKey).where(SigningKey.event_id == event["id"]))
    assert key is not None and key.sealed_by == kek_.fingerprint
    assert plain not in key.private_key and kek_.private_key(key) == plain
    key_store(ctx).forget(event["id"])
    issued = await organiser.post(
        f"/api/v1/events/{event['id']}/tickets", {"holder_name": "李娜"}, expect=201
    )
    assert (await key_store(ctx).ring(event["id"])).verify(issued["secret"]).ticket_id == issued[
        "id"
    ]


async def test_a_process_with_another_kek_refuses_to_start(ctx, settings, event, tmp_path):
    other = kek()
    with pytest.raises(KeySealingError, match=key_store(ctx).kek.fingerprint):
        await adopt(ctx.db, other)
    elsewhere = replace(settings, secret_key=Secret(new_key_text()))
    with pytest.raises(StartRefused, match="same MUSTER_SECRET_KEY"):
        await bootstrap(elsewhere)


def test_rotating_the_kek_reseals_every_key(database_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MUSTER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MUSTER_DATABASE_URL", database_url)
    monkeypatch.delenv("MUSTER_SECRET_KEY", raising=False)
    settings = load_settings()
    old = load_key_encryption_key(settings)
    old_text = settings.secret_key_file.read_text().strip()
    privates = asyncio.run(_seed_keys(database_url, old))

    assert main(["secret-key", "rotate"]) == 0
    out = capsys.readouterr().out
    new = load_key_encryption_key(settings)
    assert new.fingerprint != old.fingerprint
    assert (
        f"Re-sealed 2 signing keys: key-encryption key {old.fingerprint} -> {new.fingerprint}"
        in out
    )
    assert stat.S_IMODE(settings.secret_key_file.stat().st_mode) == 0o600
    assert not (tmp_path / "secret.key.new").exists()
    keys = asyncio.run(_keys(database_url))
    assert [new.private_key(k) for k in keys] == privates
    assert {k.sealed_by for k in keys} == {new.fingerprint}
    with pytest.raises(KeySealingError):
        old.private_key(keys[0])
    # The new key is the database's now: a start with it passes, the old one is refused.
    asyncio.run(bootstrap(settings))
    with pytest.raises(StartRefused):
        asyncio.run(bootstrap(replace(settings, secret_key=Secret(old_text))))


def test_rotating_a_kek_given_by_the_setting_takes_the_new_one_from_a_file(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MUSTER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MUSTER_DATABASE_URL", raising=False)
    old_text = new_key_text()
    monkeypatch.setenv("MUSTER_SECRET_KEY", old_text)
    settings = load_settings()
    asyncio.run(bootstrap(settings))
    assert main(["secret-key", "rotate"]) == 2
    assert "--new-key-file" in capsys.readouterr().err
    new_file = tmp_path / "new.key"
    new_file.write_text(new_key_text() + "\n")
    assert main(["secret-key", "rotate", "--new-key-file", str(new_file)]) == 0
    assert "Set MUSTER_SECRET_KEY to the new key" in capsys.readouterr().out
    monkeypatch.setenv("MUSTER_SECRET_KEY", new_file.read_text().strip())
    asyncio.run(bootstrap(load_settings()))  # the new one is the database's
    assert not (tmp_path / "secret.key").exists()  # the setting wins: no file made


async def _seed_keys(url: str, kek_: KeyEncryptionKey) -> list[bytes]:
    """Two events' keys, one stored sealed, one in plain (as before 0014)."""
    from datetime import UTC, datetime, timedelta

    from server.features.keys import create_event_key
    from server.models import Event

    db = Database(url)
    try:
        await adopt(db, kek_)
        async with db.writing() as session:
            now = datetime.now(UTC)
            for name in ("A", "B"):
                event = Event(
                    name=name, starts_at=now, ends_at=now + timedelta(hours=1), options={}
                )
                session.add(event)
                await session.flush()
                await create_event_key(session, kek_, event.id)
        keys = await _keys(url)
        async with db.writing() as session:
            await session.execute(
                update(SigningKey)
                .where(SigningKey.id == keys[1].id)
                .values(private_key=kek_.private_key(keys[1]), sealed_by=None)
            )
        return [kek_.private_key(k) for k in await _keys(url)]
    finally:
        await db.dispose()


async def _keys(url: str) -> list[SigningKey]:
    db = Database(url)
    try:
        async with db.reading() as session:
            return list((await session.scalars(select(SigningKey).order_by(SigningKey.id))).all())
    finally:
        await db.dispose()


def test_import_tickets_with_another_kek_is_one_line(tmp_path, monkeypatch, capsys):
    """The CLI signs tickets too: holding another KEK than the database's, it
    says so in one line and imports nothing."""
    monkeypatch.setenv("MUSTER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MUSTER_DATABASE_URL", raising=False)
    monkeypatch.setenv("MUSTER_SECRET_KEY", new_key_text())
    asyncio.run(bootstrap(load_settings()))
    monkeypatch.setenv("MUSTER_SECRET_KEY", new_key_text())
    guests = tmp_path / "guests.csv"
    guests.write_text("name\nGuest\n")
    assert main(["import-tickets", str(guests), "--event", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "same MUSTER_SECRET_KEY" in err[0]
