"""Key rotation: new tickets get the new key once it is active; old ones keep verifying."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from server.features.keys import KEY_ACTIVATION_DELAY, KeyStore, active_key, key_store
from server.models import SigningKey, utcnow


async def test_rotation(organiser, api_as, ctx, event, ticket):
    base = f"/api/v1/events/{event['id']}"
    [first] = (await organiser.get(f"{base}/keys"))["keys"]
    assert first["kid"] == 1 and first["activates_at"] is None
    assert "private" not in str(first)

    rotated = await organiser.post(f"{base}/keys/rotate", {}, expect=201)
    assert rotated["kid"] == 2
    # Not active yet: new tickets are still signed with key 1, so that no
    # process or phone meets a key id it has not loaded.
    early = await organiser.post(f"{base}/tickets", {"holder_name": "Early"}, expect=201)
    assert (await key_store(ctx).ring(event["id"])).verify(early["secret"]).kid == 1

    async with ctx.db.writing() as session:
        await session.execute(
            update(SigningKey)
            .where(SigningKey.event_id == event["id"])
            .values(activates_at=utcnow() - timedelta(seconds=1))
            .where(SigningKey.kid == 2)
        )
        await session.execute(
            update(SigningKey)
            .where(SigningKey.event_id == event["id"], SigningKey.kid == 1)
            .values(retired_at=utcnow() - timedelta(seconds=1))
        )
    key_store(ctx).forget(event["id"])
    late = await organiser.post(f"{base}/tickets", {"holder_name": "Late"}, expect=201)
    ring = await key_store(ctx).ring(event["id"])
    assert ring.verify(late["secret"]).kid == 2
    assert ring.verify(ticket["secret"]).kid == 1  # issued before: still good

    keys = (await organiser.get(f"{base}/keys"))["keys"]
    assert [k["kid"] for k in keys] == [1, 2] and keys[0]["retired_at"] is not None
    door = await api_as("door", event["id"])
    await door.post(f"{base}/keys/rotate", {}, expect=403)


async def test_other_processes_pick_up_a_rotation(organiser, ctx, event):
    """A second KeyStore (another process) refreshes within its refresh period."""
    other = KeyStore(ctx.db, key_store(ctx).kek, refresh_seconds=0.0)
    assert set(await other.public_keys(event["id"])) == {1}
    await organiser.post(f"/api/v1/events/{event['id']}/keys/rotate", {}, expect=201)
    assert set(await other.public_keys(event["id"])) == {1, 2}


def test_active_key_choice():
    now = utcnow()
    first = SigningKey(kid=1, activates_at=None, retired_at=now + KEY_ACTIVATION_DELAY)
    second = SigningKey(kid=2, activates_at=now + KEY_ACTIVATION_DELAY, retired_at=None)
    assert active_key([first, second], now).kid == 1
    assert active_key([first, second], now + KEY_ACTIVATION_DELAY).kid == 2
