"""Benchmark: ticket mail in bulk, mails/s, against a real SMTP server.

An aiosmtpd process on loopback (its Sink handler: takes every message and
drops it) receives, in alternating rounds:

- **bare**: one aiosmtplib connection sending the same number of already
  built ticket mails (the same size, ~7.5 KB) back to back — the floor of
  SMTP over loopback with this client and server;
- **muster**: a mailing of every ticket of an event (``--tickets``, 2,000)
  sent by ``server.features.mail_sender.MailSender`` with no rate limit: per mail a
  claim and a record committed in the database, the mail composed (words,
  QR PNG, .ics) and sent over its kept connection.

The ratio muster/bare is the figure to compare between runs (the machine
is shared). Also printed: the composition alone, per mail.

    .venv/bin/python -m bench.mail [--tickets 2000] [--rounds 2] [--db sqlite,pg]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.policy import compat32
from pathlib import Path

import aiosmtplib
from starlette.datastructures import Secret

from bench.common import free_port, scratch_database, sqlalchemy_url
from server.auth import TokenVerifier
from server.context import Muster
from server.db import Database
from server.features.issuance import TicketRequest, issue_tickets
from server.features.keys import KEYS, KeyStore, create_event_key
from server.features.mail import TicketMail, ticket_mail
from server.features.mail_sender import MailSender
from server.features.mailings import MailingRequest, create_mailing, read_mailing
from server.key_sealing import KeyEncryptionKey, new_key_text
from server.migrate import upgrade
from server.models import Event, TicketType
from server.settings import SmtpServer, load_settings

WIRE = compat32.clone(linesep="\r\n")


@contextlib.contextmanager
def sink_server() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def sample_mail(i: int) -> TicketMail:
    now = datetime.now(UTC)
    secret = f"M{i:010d}" + "A1B2C3D4E5" * 13
    return TicketMail(
        sender="Muster <tickets@example.org>",
        to_name=f"嘉宾 {i}",
        to_address=f"guest{i}@example.com",
        language="zh",
        event_id=1,
        event_name="新品发布会 2026",
        location="上海国际会议中心",
        starts_at=now,
        ends_at=now + timedelta(hours=8),
        timezone="Asia/Shanghai",
        ticket_id=i,
        ticket_type="Standard 标准票",
        code=f"{i:06d}",
        secret=secret,
        link=f"https://tickets.example.org/t/{secret}",
    )


async def bare_round(port: int, count: int) -> float:
    message = ticket_mail(sample_mail(1), datetime.now(UTC)).as_bytes(policy=WIRE)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
    await client.connect()
    started = time.perf_counter()
    for i in range(count):
        await client.mail("tickets@example.org")
        await client.rcpt(f"guest{i}@example.com")
        await client.data(message)
    elapsed = time.perf_counter() - started
    await client.quit()
    return count / elapsed


def compose_ms(samples: int = 200) -> float:
    mails = [sample_mail(i) for i in range(samples)]
    ticket_mail(mails[0], datetime.now(UTC)).as_bytes(policy=WIRE)
    started = time.perf_counter()
    for mail in mails:
        ticket_mail(mail, datetime.now(UTC)).as_bytes(policy=WIRE)
    return (time.perf_counter() - started) / samples * 1000


@contextlib.asynccontextmanager
async def database(kind: str) -> AsyncIterator[str]:
    if kind == "pg":
        async with scratch_database() as dsn:
            yield sqlalchemy_url(dsn)
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"


async def muster_round(kind: str, port: int, count: int) -> float:
    async with database(kind) as url:
        await upgrade(url)
        settings = replace(
            load_settings({}),
            database_url=Secret(url),
            smtp=SmtpServer.from_url(f"smtp://127.0.0.1:{port}?tls=none"),
            mail_per_second=0,
        )
        db = Database(url)
        kek = KeyEncryptionKey.from_text(new_key_text(), "bench")
        ctx = Muster(settings=settings, db=db, tokens=TokenVerifier(db, 0))
        ctx.keep(KEYS, KeyStore(db, kek))
        try:
            now = datetime.now(UTC)
            async with db.writing() as session:
                event = Event(
                    name="新品发布会 2026",
                    starts_at=now,
                    ends_at=now + timedelta(hours=8),
                    timezone="Asia/Shanghai",
                    location="上海国际会议中心",
                    options={},
                )
                session.add(event)
                await session.flush()
                await create_event_key(session, kek, event.id)
                session.add(TicketType(event_id=event.id, name="Standard 标准票", is_default=True))
            await issue_tickets(
                ctx,
                event.id,
                [TicketRequest(f"嘉宾 {i}", f"guest{i}@example.com") for i in range(count)],
            )
            sender = MailSender(db, settings)
            mailing, queued = await create_mailing(db, event.id, MailingRequest("unsent"), None)
            assert queued == count
            started = time.perf_counter()
            sent = await sender.send_queued(mailing.id)
            elapsed = time.perf_counter() - started
            found = await read_mailing(db, mailing.id)
            assert found is not None and found[1]["sent"] == count == sent, found
            await sender.link.quit()
            return count / elapsed
        finally:
            await db.dispose()


async def main_async(args: argparse.Namespace) -> None:
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    print(f"compose one ticket mail (words, QR PNG, .ics, MIME): {compose_ms():.2f} ms")
    with sink_server() as port:
        await bare_round(port, 200)  # warm-up
        results: dict[str, list[float]] = {"bare": [], **{k: [] for k in kinds}}
        for r in range(args.rounds):
            for kind in ["bare", *kinds]:
                if kind == "bare":
                    rate = await bare_round(port, args.tickets)
                else:
                    rate = await muster_round(kind, port, args.tickets)
                results[kind].append(rate)
                print(f"round {r + 1} {kind:6} {rate:8.0f} mails/s", flush=True)
    bare = statistics.median(results["bare"])
    print(f"\n{args.tickets} tickets, {args.rounds} rounds (medians):")
    print(f"  bare aiosmtplib loop  {bare:8.0f} mails/s")
    for kind in kinds:
        rate = statistics.median(results[kind])
        print(f"  muster on {kind:6}      {rate:8.0f} mails/s  ratio {rate / bare:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--db", default="sqlite,pg", help="sqlite, pg or both")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
