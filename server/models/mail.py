"""Ticket mail: mailings (jobs) and the delivery of each ticket's mail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class Mailing(Base):
    """One send: every ticket not yet mailed, a selection, or one ticket."""

    __tablename__ = "mailings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    #: "unsent", "selection" or "resend" (the latter two name their tickets).
    kind: Mapped[str] = mapped_column(String(16))
    #: "" or "reissued": the mail says that the old code no longer works.
    note: Mapped[str] = mapped_column(String(16), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailDelivery(Base):
    """One ticket's mail in one mailing, and how far it got.

    ``status`` moves queued → sending → sent | failed, each step committed
    before the next begins (``server.features.mail_sender`` explains why a mail left
    in "sending" by a process that died becomes failed/``interrupted``
    instead of being sent again).
    """

    __tablename__ = "mail_deliveries"
    __table_args__ = (
        Index("ix_mail_deliveries_mailing", "mailing_id", "status"),
        Index("ix_mail_deliveries_ticket", "ticket_id"),
        # The sender's claim reads the oldest queued rows.
        Index("ix_mail_deliveries_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mailing_id: Mapped[int] = mapped_column(ForeignKey("mailings.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    #: Tries that ended in a temporary refusal (4xx) or a lost connection
    #: before the server took the message; each puts it back in the queue.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The ticket generation the mail carried (set when it is sent).
    generation: Mapped[int | None] = mapped_column(Integer)
    #: When the sending process claimed it (a lease: see the module above).
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    #: Why it failed: a stable code ("refused", "no_email", "interrupted"…)…
    error_code: Mapped[str] = mapped_column(String(32), default="")
    #: …and the SMTP server's own answer ("550 5.1.1 no such user"), if any.
    smtp_reply: Mapped[str] = mapped_column(Text, default="")
