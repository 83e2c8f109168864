"""``muster send-tickets``: a real process mails through a real SMTP server,
shows a progress bar, lists failures, and a second run mails only what is
not yet sent."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.server.test_cli import make_event
from tests.servers import ROOT
from tests.smtp import LoopbackSmtp, smtp_server


@pytest.fixture
def smtp() -> Iterator[LoopbackSmtp]:
    yield from smtp_server()


def muster(data_dir, smtp, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MUSTER_DATA_DIR": str(data_dir),
        "MUSTER_SMTP_URL": smtp.url,
        "MUSTER_MAIL_PER_SECOND": "0",
    }
    env.pop("MUSTER_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_send_tickets_with_a_progress_bar_and_failures(tmp_path, smtp):
    event_id = make_event(tmp_path)
    sheet = tmp_path / "people.csv"
    rows = [f"Guest {i},guest{i}@example.com" for i in range(8)]
    sheet.write_text("name,email\n" + "\n".join(rows) + "\n", encoding="utf-8")
    imported = muster(tmp_path, smtp, "import-tickets", str(sheet), "--event", str(event_id))
    assert imported.returncode == 0, imported.stderr
    smtp.handler.refuse.add("guest3@example.com")

    first = muster(tmp_path, smtp, "send-tickets", "--event", str(event_id))
    assert first.returncode == 1, first.stderr
    assert "sending [" in first.stderr and "8/8" in first.stderr
    assert "refused (550 5.1.1" in first.stderr
    assert first.stdout.strip() == "Sent 7, failed 1."
    assert smtp.handler.count() == 7

    smtp.handler.refuse.clear()
    second = muster(tmp_path, smtp, "send-tickets", "--event", str(event_id))
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "Sent 1, failed 0."
    assert smtp.handler.per_recipient() == {f"guest{i}@example.com": 1 for i in range(8)}


def test_send_tickets_needs_an_smtp_server(tmp_path, smtp):
    env = {**os.environ, "MUSTER_DATA_DIR": str(tmp_path)}
    env.pop("MUSTER_SMTP_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "send-tickets", "--event", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "MUSTER_SMTP_URL" in done.stderr
