"""Ticket mail with real ``muster serve`` processes and a real SMTP server:
a server stopped mid-job (gracefully, and killed) and started again mails
nobody twice, and two processes on one PostgreSQL share a job, each mail
sent once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import event_body
from tests.servers import LiveServer, start_server
from tests.smtp import LoopbackSmtp, smtp_server


@pytest.fixture
def smtp() -> Iterator[LoopbackSmtp]:
    yield from smtp_server()


def mail_env(smtp: LoopbackSmtp, per_second: float, **more: str) -> dict[str, str]:
    return {
        "MUSTER_SMTP_URL": smtp.url,
        "MUSTER_MAIL_FROM": "Tickets <tickets@example.org>",
        "MUSTER_MAIL_PER_SECOND": str(per_second),
        "MUSTER_MAIL_POLL_INTERVAL": "0.2",
        **more,
    }


def prepare(api: httpx.Client, count: int) -> tuple[int, list[str]]:
    event = api.post("/api/v1/events", json=event_body()).json()
    people = [
        {"holder_name": f"Guest {i}", "holder_email": f"guest{i}@example.com"} for i in range(count)
    ]
    issued = api.post(f"/api/v1/events/{event['id']}/tickets", json={"tickets": people})
    assert issued.status_code == 201, issued.text
    return int(event["id"]), [p["holder_email"] for p in people]


def start_mailing(api: httpx.Client, event_id: int) -> int:
    answer = api.post(f"/api/v1/events/{event_id}/mailings", json={"to": "unsent"})
    assert answer.status_code == 202, answer.text
    return int(answer.json()["id"])


def wait_done(api: httpx.Client, mailing_id: int, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        found: dict[str, Any] = api.get(
            f"/api/v1/mailings/{mailing_id}?status=failed&limit=500"
        ).json()
        if found["done"]:
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def restarted(first: LiveServer, env: dict[str, str]) -> LiveServer:
    server = start_server(first.data_dir, env)
    server.token = first.token
    return server


def test_a_graceful_restart_mid_job_mails_everyone_exactly_once(smtp, tmp_path):
    env = mail_env(smtp, 25)
    first = start_server(tmp_path, env)
    try:
        with first.api() as api:
            event_id, addresses = prepare(api, 60)
            mailing = start_mailing(api, event_id)
        smtp.wait_for(lambda: smtp.handler.count() >= 15)
    finally:
        first.stop()
    stopped_at = smtp.handler.count()
    assert stopped_at < 60, "the job finished before the stop; nothing was tested"
    second = restarted(first, env)
    try:
        with second.api() as api:
            done = wait_done(api, mailing)
    finally:
        second.stop()
    assert done["counts"] == {"queued": 0, "sending": 0, "sent": 60, "failed": 0}
    assert smtp.handler.per_recipient() == dict.fromkeys(addresses, 1)


def test_a_killed_server_mails_nobody_twice(smtp, tmp_path):
    # A short SMTP timeout makes the lease of the killed process's claim
    # (3 × timeout) run out quickly after the restart.
    env = mail_env(smtp, 25, MUSTER_SMTP_TIMEOUT="1")
    first = start_server(tmp_path, env)
    try:
        with first.api() as api:
            event_id, addresses = prepare(api, 60)
            mailing = start_mailing(api, event_id)
        smtp.wait_for(lambda: smtp.handler.count() >= 15)
    finally:
        first.process.kill()
        first.process.wait(10)
    assert smtp.handler.count() < 60
    second = restarted(first, env)
    try:
        with second.api() as api:
            done = wait_done(api, mailing)
    finally:
        second.stop()
    received = smtp.handler.per_recipient()
    assert max(received.values()) == 1, "someone was mailed twice"
    interrupted = {d["holder_email"] for d in done["deliveries"] if d["error"] == "interrupted"}
    assert done["counts"]["failed"] == len(interrupted) <= 1
    assert done["counts"]["sent"] == 60 - len(interrupted)
    # Every ticket got its mail, except at most the one in flight at the
    # kill, which is flagged for a resend (it may or may not have left).
    assert set(addresses) - set(received) <= interrupted


def test_two_processes_share_a_job_each_mail_once(smtp, pg_url, tmp_path):
    env = mail_env(smtp, 40, MUSTER_DATABASE_URL=pg_url)
    first = start_server(tmp_path / "a", env)
    try:
        second = start_server(tmp_path / "b", env)
        second.token = first.token
        try:
            with first.api() as api:
                event_id, addresses = prepare(api, 200)
                mailing = start_mailing(api, event_id)
                done = wait_done(api, mailing)
        finally:
            second.stop()
    finally:
        first.stop()
    assert done["counts"] == {"queued": 0, "sending": 0, "sent": 200, "failed": 0}
    assert smtp.handler.per_recipient() == dict.fromkeys(addresses, 1)
    # Both processes sent: mail came over (at least) two connections, and
    # each connection's share is a real part of the job.
    peers: dict[Any, int] = {}
    for r in smtp.handler.received:
        peers[r.peer] = peers.get(r.peer, 0) + 1
    assert len(peers) >= 2 and min(peers.values()) >= 20, peers
