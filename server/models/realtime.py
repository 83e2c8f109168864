"""Tables of the realtime hub: the bus epoch and door devices' live status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base


class BusEpoch(Base):
    """One row: the epoch of every stream topic's offsets in this database.

    Offsets of stream topics are table ids, so they are only comparable
    within one database. The epoch is made once, when the schema is created;
    a client that remembers offsets of another database (restored, recreated)
    presents another epoch and gets a fresh snapshot instead of a replay.
    """

    __tablename__ = "bus_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32))


class DeviceStatus(Base):
    """What the command centre's gate health shows of one door device.

    Written by the server process that holds the device's socket, at a
    bounded rate (on connect and disconnect, a reported queue length at most
    every few seconds, a heartbeat every ``realtime.devices.HEARTBEAT``), so
    every process can tell which doors are online.
    """

    __tablename__ = "device_status"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    gate_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The live socket that holds the device; None once it disconnected. A
    #: disconnect only clears its own socket, so a phone that reconnected to
    #: another process first stays online.
    connection: Mapped[str | None] = mapped_column(String(32))
    #: Refreshed by the heartbeat; online needs it to be recent as well (a
    #: process that died cannot say its sockets closed).
    last_seen_at: Mapped[datetime]
    #: Scans waiting in the phone's offline queue, as it last reported.
    queue_length: Mapped[int] = mapped_column(Integer, default=0)
    queue_reported_at: Mapped[datetime | None]
