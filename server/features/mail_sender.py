"""The background sender of ticket mail.

Every server process runs it (a part of the app, see ``server.app.PARTS``,
when ``MUSTER_SMTP_URL`` is set); ``muster send-tickets`` runs the same
code in the terminal. Each mail goes through three committed steps::

    claim     UPDATE mail_deliveries SET status='sending', claimed_at=now
               WHERE id = (SELECT id … WHERE status='queued' ORDER BY id
                           LIMIT 1 FOR UPDATE SKIP LOCKED)   -- PostgreSQL
               RETURNING id …
    send      MAIL FROM, RCPT TO, DATA over one kept SMTP connection
    record    UPDATE … SET status='sent' | 'failed' | 'queued' WHERE id=… AND status='sending'

The claim is one conditional statement, so however many processes run, each
delivery is claimed by exactly one of them (SKIP LOCKED lets the others take
the next row instead of waiting; SQLite has one writer at a time and the
``status='queued'`` condition does the same there).

**At most once.** A process can die between the SMTP server's "250 OK" to
the message and the commit of "sent": the row stays "sending" and nobody
knows whether the mail left. We chose never to send such a mail again by
ourselves: after ``LEASE_TIMEOUTS`` × ``MUSTER_SMTP_TIMEOUT`` (longer than
a live claim can take) any process marks it failed with the code
``interrupted``, and the organiser sees it among the failures with a resend
button. The other choice, sending it again, would mail some people twice
after every crash; a ticket mail sent twice is harmless but the promise
"nobody is mailed twice" is what an organiser can check, while one lost mail
among thousands is visible and one click to fix. The window is one mail per
process per crash. A graceful stop (SIGTERM) finishes and records the mail
in flight before the task ends, so a restart leaves nothing interrupted.

A refusal before the server has taken the message is safe to retry: a lost
connection or a temporary (4xx) answer puts the mail back in the queue
(up to ``MAX_ATTEMPTS`` tries) and the sender pauses with back-off; a
permanent (5xx) answer fails it with the server's reply.

Logs carry delivery and mailing ids and SMTP reply codes only: never an
address, a name or the server's reply text (which often quotes the address).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.policy import compat32
from email.utils import parseaddr
from typing import Any

import aiosmtplib
from sqlalchemy import select, text, update

from server.background import running
from server.context import Muster, Slot
from server.db import Database
from server.features.mail import TicketMail, mail_language, ticket_mail
from server.features.mailings import FAILED, QUEUED, SENDING, SENT
from server.models import Event, MailDelivery, Mailing, Ticket, TicketType, utcnow
from server.settings import Settings, SmtpServer

log = logging.getLogger("muster.mail")

#: A mail "sending" for this many SMTP timeouts was claimed by a process
#: that died (a live claim takes at most one connect and one send, each
#: bounded by the timeout, plus the commits).
LEASE_TIMEOUTS = 3
#: Tries of a mail that met temporary refusals or lost connections.
MAX_ATTEMPTS = 5
#: Longest pause after the SMTP server failed us, in seconds.
MAX_BACKOFF = 60.0

_WIRE = compat32.clone(linesep="\r\n")

# --- the rule: what an SMTP failure means for the mail ----------------------

REFUSED, RETRY, INTERRUPTED = "refused", "retry", "interrupted"


def smtp_failure(phase: str, code: int | None) -> str:
    """What a failed SMTP step means, a pure function of where and what:

    - ``connect`` (connect, STARTTLS, login): nothing was sent → retry;
    - ``envelope`` (MAIL, RCPT) and ``data``: a permanent (5xx) answer →
      refused; a temporary (4xx) answer → retry;
    - no answer (a lost connection, a timeout) in ``envelope`` → retry, but
      in ``data`` the message may have been taken → interrupted (at most once).
    """
    if phase == "connect":
        return RETRY
    if code is not None and code >= 500:
        return REFUSED
    if code is not None and 400 <= code < 500:
        return RETRY
    return INTERRUPTED if phase == "data" else RETRY


@dataclass(frozen=True)
class Outcome:
    status: str
    error_code: str = ""
    smtp_reply: str = ""


class SmtpFailure(Exception):
    def __init__(self, phase: str, code: int | None, reply: str) -> None:
        super().__init__(phase, code)
        self.phase, self.code, self.reply = phase, code, reply


# --- SMTP --------------------------------------------------------------------


class SmtpLink:
    """One kept SMTP connection, opened on first use and again after a loss."""

    def __init__(self, server: SmtpServer, timeout: float) -> None:
        self.server = server
        self.timeout = timeout
        self.client: aiosmtplib.SMTP | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        if self.client is not None and self.client.is_connected:
            return self.client
        s = self.server
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.user or None,
            password=str(s.password) or None,
            use_tls=s.tls == "tls",
            start_tls=s.tls == "starttls",
            timeout=self.timeout,
            local_hostname="muster.local",
        )
        try:
            async with asyncio.timeout(self.timeout):
                await client.connect()
        except aiosmtplib.SMTPResponseException as exc:
            raise SmtpFailure("connect", exc.code, exc.message) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SmtpFailure("connect", None, type(exc).__name__) from None
        self.client = client
        return client

    async def send(self, sender: str, recipient: str, message: bytes) -> str:
        """Send one message; return the server's answer, or raise SmtpFailure."""
        client = await self._connect()
        phase = "envelope"
        try:
            async with asyncio.timeout(self.timeout):
                await client.mail(sender)
                await client.rcpt(recipient, encoding="utf-8")
                phase = "data"
                reply = await client.data(message)
        except aiosmtplib.SMTPResponseException as exc:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                async with asyncio.timeout(self.timeout):
                    await client.rset()
            raise SmtpFailure(phase, exc.code, exc.message) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self.close()
            raise SmtpFailure(phase, None, type(exc).__name__) from None
        return f"{reply.code} {reply.message}"

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    async def quit(self) -> None:
        if self.client is not None and self.client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                async with asyncio.timeout(self.timeout):
                    await self.client.quit()
        self.close()


class Pacer:
    """At most ``per_second`` sends a second (0: no limit)."""

    def __init__(self, per_second: float) -> None:
        self.gap = 1.0 / per_second if per_second > 0 else 0.0
        self.next_at = 0.0

    async def wait(self) -> None:
        if not self.gap:
            return
        now = time.monotonic()
        if self.next_at > now:
            await asyncio.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.gap


# --- the database steps -------------------------------------------------------

_CLAIM_PG = text(
    """
    UPDATE mail_deliveries SET status = 'sending', claimed_at = :now
     WHERE id = (SELECT id FROM mail_deliveries WHERE status = 'queued'
                  {scope} ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
       AND status = 'queued'
    RETURNING id, mailing_id, ticket_id, attempts
    """
)
_CLAIM_SQLITE = text(
    """
    UPDATE mail_deliveries SET status = 'sending', claimed_at = :now
     WHERE id = (SELECT id FROM mail_deliveries WHERE status = 'queued'
                  {scope} ORDER BY id LIMIT 1)
       AND status = 'queued'
    RETURNING id, mailing_id, ticket_id, attempts
    """
)


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    mailing_id: int
    ticket_id: int
    attempts: int


async def claim_next(db: Database, now: datetime, mailing_id: int | None = None) -> Claimed | None:
    """Claim the oldest queued delivery (of one mailing, or of any), or None."""
    template = _CLAIM_SQLITE if db.is_sqlite else _CLAIM_PG
    scope = "AND mailing_id = :mailing" if mailing_id is not None else ""
    statement = text(template.text.format(scope=scope))
    params: dict[str, Any] = {"now": now}
    if mailing_id is not None:
        params["mailing"] = mailing_id
    async with db.writing() as session:
        row = (await session.execute(statement, params)).first()
    return None if row is None else Claimed(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


async def record(db: Database, claimed: Claimed, outcome: Outcome, generation: int | None) -> bool:
    """Record how a claimed delivery ended; False if it was no longer ours
    (another process marked it interrupted while the database was away)."""
    values: dict[str, Any] = {
        "status": outcome.status,
        "error_code": outcome.error_code,
        "smtp_reply": outcome.smtp_reply[:1000],
    }
    if outcome.status == SENT:
        values.update(sent_at=utcnow(), generation=generation)
    if outcome.status == QUEUED:
        values.update(attempts=claimed.attempts + 1, claimed_at=None)
    async with db.writing() as session:
        result = await session.execute(
            update(MailDelivery)
            .where(MailDelivery.id == claimed.delivery_id, MailDelivery.status == SENDING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def mark_interrupted(db: Database, lease: float, now: datetime | None = None) -> int:
    """Fail the deliveries left "sending" by a process that died; how many."""
    cutoff = (now or utcnow()) - timedelta(seconds=lease)
    async with db.writing() as session:
        result = await session.execute(
            update(MailDelivery)
            .where(MailDelivery.status == SENDING, MailDelivery.claimed_at < cutoff)
            .values(status=FAILED, error_code=INTERRUPTED, smtp_reply="")
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def load_mail(
    db: Database, settings: Settings, claimed: Claimed
) -> tuple[TicketMail | None, Outcome | None, int]:
    """The mail of a claimed delivery, or the reason it cannot be sent."""
    async with db.reading() as session:
        row = (
            await session.execute(
                select(Ticket, TicketType.name, Event, Mailing.note)
                .join(TicketType, TicketType.id == Ticket.type_id)
                .join(Event, Event.id == Ticket.event_id)
                .join(Mailing, Mailing.id == claimed.mailing_id)
                .where(Ticket.id == claimed.ticket_id)
            )
        ).first()
    if row is None:
        return None, Outcome(FAILED, "no_ticket"), 0
    ticket, type_name, event, note = row
    if ticket.status != "valid":
        return None, Outcome(FAILED, "revoked"), ticket.generation
    if not ticket.holder_email:
        return None, Outcome(FAILED, "no_email"), ticket.generation
    base = settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"
    mail = TicketMail(
        sender=settings.mail_from,
        to_name=ticket.holder_name,
        to_address=ticket.holder_email,
        language=mail_language(ticket.language, event.language),
        event_id=event.id,
        event_name=event.name,
        location=event.location,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        timezone=event.timezone,
        ticket_id=ticket.id,
        ticket_type=type_name,
        code=ticket.code,
        secret=ticket.secret,
        link=f"{base}/t/{ticket.secret}",
        note=note,
    )
    return mail, None, ticket.generation


# --- the loop -------------------------------------------------------------------


class MailSender:
    """Claims, sends and records queued ticket mail, one at a time."""

    def __init__(self, db: Database, settings: Settings) -> None:
        assert settings.smtp is not None
        self.db = db
        self.settings = settings
        self.link = SmtpLink(settings.smtp, settings.smtp_timeout)
        self.pacer = Pacer(settings.mail_per_second)
        self.envelope_from = parseaddr(settings.mail_from)[1]
        self.lease = LEASE_TIMEOUTS * settings.smtp_timeout
        self.wakeup = asyncio.Event()
        self.backoff = 0.0

    def wake(self) -> None:
        """A mailing was queued in this process: look at once."""
        self.wakeup.set()

    async def _deliver(self, claimed: Claimed) -> Outcome:
        mail, refusal, generation = await load_mail(self.db, self.settings, claimed)
        if refusal is not None:
            await record(self.db, claimed, refusal, generation)
            return refusal
        assert mail is not None
        message = ticket_mail(mail, utcnow()).as_bytes(policy=_WIRE)
        try:
            reply = await self.link.send(self.envelope_from, mail.to_address, message)
            outcome = Outcome(SENT, "", reply)
        except SmtpFailure as failure:
            meaning = smtp_failure(failure.phase, failure.code)
            reply = f"{failure.code} {failure.reply}" if failure.code else failure.reply
            if meaning == RETRY and claimed.attempts + 1 < MAX_ATTEMPTS:
                outcome = Outcome(QUEUED, "deferred", reply)
            elif meaning == RETRY:
                outcome = Outcome(FAILED, "deferred", reply)
            else:
                outcome = Outcome(FAILED, meaning, reply)
            log.warning(
                "mail %s of mailing %s: %s at %s (SMTP %s)",
                claimed.delivery_id,
                claimed.mailing_id,
                outcome.error_code,
                failure.phase,
                failure.code or "no answer",
            )
        await self._record_surely(claimed, outcome, generation)
        return outcome

    async def _record_surely(self, claimed: Claimed, outcome: Outcome, generation: int) -> None:
        """Record the outcome, retrying through a database blip for up to half
        the lease (after that the mail will be marked interrupted anyway)."""
        deadline = time.monotonic() + self.lease / 2
        pause = 0.2
        while True:
            try:
                await record(self.db, claimed, outcome, generation)
                return
            except Exception as exc:
                if time.monotonic() + pause > deadline:
                    raise
                if not self.db.health.absorb(exc):
                    log.warning("recording mail %s failed; trying again", claimed.delivery_id)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def _one(self, mailing_id: int | None) -> Outcome | None:
        claimed = await claim_next(self.db, utcnow(), mailing_id)
        if claimed is None:
            return None
        return await self._deliver(claimed)

    async def send_one(self, mailing_id: int | None = None) -> Outcome | None:
        """Claim, send and record one mail (None: nothing queued).

        Once claimed, a mail is seen through even if the task is cancelled
        meanwhile (a graceful stop): its claim, send and record are bounded
        by the SMTP timeout, and a mail left "sending" would be lost to the
        at-most-once rule above. The cancellation is raised afterwards.
        """
        job = asyncio.ensure_future(self._one(mailing_id))
        cancelled = False
        while not job.done():
            try:
                await asyncio.shield(job)
            except asyncio.CancelledError:
                cancelled = True  # see the mail through, then stop
        outcome = job.result()
        if cancelled:
            raise asyncio.CancelledError
        return outcome

    async def send_queued(self, mailing_id: int | None = None) -> int:
        """Send until nothing is queued or the SMTP server fails us; how many sent."""
        sent = 0
        while True:
            await self.pacer.wait()
            outcome = await self.send_one(mailing_id)
            if outcome is None:
                return sent
            if outcome.status == SENT:
                sent += 1
                self.backoff = 0.0
            if outcome.status == QUEUED:
                # The server is away or busy: pause before the next try.
                self.backoff = min(max(self.backoff * 2, 1.0), MAX_BACKOFF)
                return sent

    async def run(self) -> None:
        """Forever: mark dead claims, send what is queued, wait for more."""
        poll = self.settings.mail_poll_interval
        while True:
            try:
                interrupted = await mark_interrupted(self.db, self.lease)
                if interrupted:
                    log.warning("%s mail(s) interrupted by a stopped process", interrupted)
                sent = await self.send_queued()
                if sent:
                    log.info("%s ticket mail(s) sent", sent)
            except Exception as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                if not self.db.health.absorb(exc):  # an outage is logged once, there
                    log.exception("mail sender failed; trying again")
                self.backoff = min(max(self.backoff * 2, 1.0), MAX_BACKOFF)
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=max(poll, self.backoff))


#: Where the running mail sender is found (``Muster.part(MAIL)``).
MAIL: Slot[MailSender] = Slot("mail")


@contextlib.asynccontextmanager
async def mail_sender(ctx: Muster) -> AsyncIterator[None]:
    """The app part: the mail sender, for the app's lifetime (off without
    ``MUSTER_SMTP_URL``)."""
    if ctx.settings.smtp is None:
        yield
        return
    sender = MailSender(ctx.db, ctx.settings)
    async with running(sender.run()):
        with ctx.holding(MAIL, sender):
            yield
    await sender.link.quit()
