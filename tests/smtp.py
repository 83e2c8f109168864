"""A real SMTP server on loopback for tests (aiosmtpd in its own thread),
keeping every message it accepts and refusing the recipients it is told to."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.servers import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    #: The client's (address, port): which connection (so which process) sent it.
    peer: Any = None

    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class MailHandler:
    #: Recipients answered with a permanent refusal at RCPT.
    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content,
                    session.peer,
                )
            )
        return "250 2.0.0 queued as test"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_tos]

    def per_recipient(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = {}
            for r in self.received:
                for address in r.rcpt_tos:
                    counts[address] = counts.get(address, 0) + 1
            return counts

    def count(self) -> int:
        with self.lock:
            return len(self.received)


@dataclass
class LoopbackSmtp:
    handler: MailHandler
    port: int
    controller: Controller

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?tls=none"

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; {self.handler.count()} mails received")
            time.sleep(0.02)


def start_smtp() -> LoopbackSmtp:
    handler = MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, data_size_limit=None)
    controller.start()
    return LoopbackSmtp(handler, port, controller)


def smtp_server() -> Iterator[LoopbackSmtp]:
    server = start_smtp()
    try:
        yield server
    finally:
        server.controller.stop()
