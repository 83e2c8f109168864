"""Signing keys at rest: sealed with a key-encryption key kept outside the database.

A copy of the database (a backup, a dump, a stolen disk) must not be enough
to forge tickets. Each event's Ed25519 private key is stored sealed with
AES-256-GCM under the *key-encryption key* (KEK), with the event and the key
id as associated data, so a sealed key moved to another row does not open.

The KEK comes from ``MUSTER_SECRET_KEY`` when it is set, else from the file
``MUSTER_SECRET_KEY_FILE`` (``$MUSTER_DATA_DIR/secret.key``), which the first
start creates with 32 random bytes, readable by its owner only (0600). Either
way the text is stretched to 32 bytes with HKDF-SHA256, so the file's line can
be moved into the setting as it is. Every process of one database needs the
same KEK: the database records the KEK's fingerprint (``key_encryption``) at
the first start, and a process holding another one refuses to start, before
it could seal a key that the others cannot open.

Keys stored before sealing existed (``sealed_by`` NULL) are sealed by the
next start (``adopt``); until then they are read as they are.

``rotate`` re-seals every key under a new KEK in one transaction
(``muster secret-key rotate``); the servers are stopped for it, since a
running one would keep the old KEK.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from server.db import Database
from server.models import KeyEncryption, SigningKey, utcnow
from server.settings import Settings

log = logging.getLogger("muster")

#: The first byte of a sealed key: how it was sealed.
SEALED_V1 = 1
NONCE_BYTES = 12
KEY_FILE_MODE = 0o600


class KeySealingError(Exception):
    """The KEK is missing, unreadable, or not the one the database was sealed with:
    one line for the operator."""


def _associated_data(event_id: int, kid: int) -> bytes:
    return f"muster signing key v1 event={event_id} kid={kid}".encode("ascii")


@dataclass(frozen=True)
class KeyEncryptionKey:
    key: bytes
    #: Where it came from, for messages: the setting's name or the file's path.
    source: str

    @classmethod
    def from_text(cls, text: str, source: str) -> KeyEncryptionKey:
        material = text.strip().encode("utf-8")
        if len(material) < 16:
            raise KeySealingError(
                f"muster: the key-encryption key in {source} is too short"
                " (use `openssl rand -base64 32`)"
            )
        kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"muster kek v1")
        return cls(kdf.derive(material), source)

    @property
    def fingerprint(self) -> str:
        """Names the KEK without revealing it (16 hex digits)."""
        return hmac.new(self.key, b"muster kek fingerprint", hashlib.sha256).hexdigest()[:16]

    def seal(self, private: bytes, event_id: int, kid: int) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.key).encrypt(nonce, private, _associated_data(event_id, kid))
        return bytes([SEALED_V1]) + nonce + sealed

    def unseal(self, sealed: bytes, event_id: int, kid: int) -> bytes:
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[0] != SEALED_V1:
            raise KeySealingError(f"muster: signing key {kid} of event {event_id} is not sealed")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        return AESGCM(self.key).decrypt(nonce, body, _associated_data(event_id, kid))

    def private_key(self, key: SigningKey) -> bytes:
        """The raw private key of ``key``: unsealed, or as stored if not sealed yet."""
        if key.sealed_by is None:
            return key.private_key
        if key.sealed_by != self.fingerprint:
            raise KeySealingError(
                f"muster: signing key {key.kid} of event {key.event_id} is sealed with KEK"
                f" {key.sealed_by}, and this process holds {self.fingerprint} ({self.source})"
            )
        return self.unseal(key.private_key, key.event_id, key.kid)


def new_key_text() -> str:
    """A new KEK as text: 32 random bytes, base64."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def write_key_file(path: Path, text: str, *, replace: bool = False) -> None:
    """Write ``text`` to ``path``, 0600 from its first byte (never world-readable
    for an instant). Without ``replace``, an existing file is an error
    (FileExistsError): two processes starting at once keep the first one's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    fd = os.open(path, flags, KEY_FILE_MODE)
    try:
        os.write(fd, (text + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_key_file(path: Path) -> KeyEncryptionKey:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeySealingError(
            f"muster: {path} can be read by others (mode {mode:o}); `chmod 600 {path}`"
        )
    return KeyEncryptionKey.from_text(path.read_text(encoding="ascii"), str(path))


def load_key_encryption_key(settings: Settings) -> KeyEncryptionKey:
    """The KEK of these settings: ``MUSTER_SECRET_KEY``, else the key file
    (created on first use)."""
    given = str(settings.secret_key)
    if given:
        return KeyEncryptionKey.from_text(given, "MUSTER_SECRET_KEY")
    path = settings.secret_key_file
    if not path.exists():
        try:
            write_key_file(path, new_key_text())
            log.info("created the key-encryption key %s", path)
        except FileExistsError:
            pass  # another process made it first: use theirs
    try:
        return read_key_file(path)
    except OSError as exc:
        raise KeySealingError(f"muster: cannot read {path}: {exc.strerror}") from None


async def adopt(db: Database, kek: KeyEncryptionKey) -> int:
    """Make ``kek`` the database's, or refuse if it has another; then seal
    the keys still stored in plain. Returns how many were sealed.

    Safe with several processes starting at once: the first insert of the
    fingerprint wins and the others compare with it; each plain key is
    sealed by one conditional UPDATE.
    """
    async with db.reading() as session:
        recorded = await session.get(KeyEncryption, 1)
    if recorded is None:
        try:
            async with db.writing() as session:
                session.add(KeyEncryption(id=1, fingerprint=kek.fingerprint))
        except IntegrityError:
            pass
        async with db.reading() as session:
            recorded = await session.get(KeyEncryption, 1)
    assert recorded is not None
    if recorded.fingerprint != kek.fingerprint:
        raise KeySealingError(
            f"muster: this database's signing keys are sealed with the key-encryption key"
            f" {recorded.fingerprint}, and {kek.source} holds {kek.fingerprint}: give every"
            " process the same MUSTER_SECRET_KEY or key file (docs/security.md)"
        )
    sealed = 0
    async with db.writing() as session:
        plain = (
            await session.scalars(select(SigningKey).where(SigningKey.sealed_by.is_(None)))
        ).all()
        for key in plain:
            done = await session.execute(
                update(SigningKey)
                .where(SigningKey.id == key.id, SigningKey.sealed_by.is_(None))
                .values(
                    private_key=kek.seal(key.private_key, key.event_id, key.kid),
                    sealed_by=kek.fingerprint,
                )
            )
            sealed += done.rowcount or 0  # type: ignore[attr-defined]
    if sealed:
        log.info("sealed %d signing keys with the key-encryption key %s", sealed, kek.fingerprint)
    return sealed


async def rotate(db: Database, old: KeyEncryptionKey, new: KeyEncryptionKey) -> int:
    """Re-seal every signing key from ``old`` to ``new``, and record ``new``
    as the database's KEK, in one transaction. Returns how many keys."""
    async with db.writing() as session:
        recorded = await session.get(KeyEncryption, 1)
        if recorded is not None and recorded.fingerprint != old.fingerprint:
            raise KeySealingError(
                f"muster: the database's key-encryption key is {recorded.fingerprint},"
                f" not {old.fingerprint} ({old.source})"
            )
        keys = (await session.scalars(select(SigningKey).order_by(SigningKey.id))).all()
        for key in keys:
            private = old.private_key(key)
            key.private_key = new.seal(private, key.event_id, key.kid)
            key.sealed_by = new.fingerprint
        if recorded is None:
            session.add(KeyEncryption(id=1, fingerprint=new.fingerprint))
        else:
            recorded.fingerprint = new.fingerprint
            recorded.rotated_at = utcnow()
    return len(keys)
