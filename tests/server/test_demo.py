"""``muster demo`` as a real process: it serves, builds the sample event and
plays the day; what it did is read back through the API (the post-event
report, the incidents, the stock ledger, the alerts). On SQLite (the
embedded default) and on PostgreSQL (``MUSTER_DATABASE_URL``).

Faster than the default (``--speed 300``) and with fewer tickets, so the
door that drops off the network is back, with its conflict, in well under
a minute on a busy machine; on SQLite the test waits for the afternoon's
fire drill too (about two minutes in).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.servers import ROOT, free_port, start_demo

DEADLINE = 300  # seconds: a bound for the slowest machine, not a sleep


def wait_for(what, condition, deadline):
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"never happened: {what}")


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_the_demo_plays_a_day_through_the_api(database_url, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    env |= {
        "MUSTER_DATA_DIR": str(tmp_path),
        "MUSTER_DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
    }
    process, lines = start_demo(env, "--port", str(port), "--speed", "300", "--tickets", "600")
    deadline = time.monotonic() + DEADLINE
    try:
        console = wait_for(
            "the console link",
            lambda: next(
                (m for line in lines if (m := re.search(r"#token=(mst_[\w-]+)&event=(\d+)", line))),
                None,
            ),
            deadline,
        )
        token, event = console.group(1), int(console.group(2))
        assert any("/command/#event=" in line and "&token=mst_" in line for line in lines)
        assert any("/app/#pair=" in line for line in lines)
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

        def report():
            return api.get(f"/api/v1/events/{event}/report").json()

        def far_enough():
            found = report()
            conflict = found["scans"]["conflicts"] >= 1
            incidents = found["incidents"]
            return (
                found if conflict and incidents["total"] >= 3 and incidents["escalated"] else None
            )

        found = wait_for("a conflict at sync, three incidents, an escalation", far_enough, deadline)
        scans = found["scans"]
        assert scans["accepted"] > 200 and scans["offline"] >= 1
        refused = scans["refused_by_reason"]
        for reason in ("already_inside", "invalid", "revoked", "wrong_zone"):
            assert refused.get(reason, 0) >= 1, (reason, refused)
        assert found["tickets"]["checked_in"] > 100
        zones = {z["name"]: z for z in found["zones"]}
        assert len(zones) == 3 and any("Expo" in name for name in zones)

        incidents = api.get(f"/api/v1/events/{event}/incidents").json()["incidents"]
        assert len(incidents) >= 3 and "resolved" in {i["status"] for i in incidents}
        assert any(i["reports"] >= 2 for i in incidents), "no report was linked to an open one"
        assert any(i["escalation_level"] >= 1 for i in incidents)

        movements = api.get(f"/api/v1/events/{event}/stock/movements").json()["movements"]
        assert {m["kind"] for m in movements} >= {"issue", "receive"}
        alerts = api.get(f"/api/v1/events/{event}/alerts").json()["alerts"]
        kinds = {a["kind"] for a in alerts}
        assert {"low_stock", "conflict", "escalation"} <= kinds, kinds

        if "sqlite" in database_url:  # once is enough for the slower half of the day
            drill = wait_for(
                "the fire drill, ended",
                lambda: next(
                    (
                        e
                        for e in api.get(f"/api/v1/events/{event}/evacuations").json()[
                            "evacuations"
                        ]
                        if not e["active"]
                    ),
                    None,
                ),
                deadline,
            )
            assert drill["kind"] == "drill"
            summary = api.get(f"/api/v1/evacuations/{drill['id']}").json()
            assert 0 < summary["accounted"] < summary["total"], summary
            assert summary["statuses"].get("needs_help", 0) >= 1, summary

        # Ctrl-C stops it, cleanly.
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, "\n".join(lines[-30:])
        wait_for("the last line", lambda: lines and lines[-1] == "Muster demo stopped.", deadline)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_demo_stops_by_itself_after_its_minutes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    env |= {"MUSTER_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    process, lines = start_demo(
        env, "--port", str(free_port()), "--tickets", "100", "--minutes", "0.25"
    )
    try:
        assert process.wait(timeout=60) == 0, "\n".join(lines[-30:])
    finally:
        if process.poll() is None:
            process.kill()
    assert time.monotonic() - started >= 15
    assert (tmp_path / "muster.db").is_file(), "the demo did not use MUSTER_DATA_DIR"
    assert any(line.startswith("Muster demo on ") for line in lines)


def test_the_demo_says_when_its_port_is_taken(tmp_path):

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "server.cli", "demo", "--port", str(port)],
            cwd=tmp_path,
            env={**os.environ, "MUSTER_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"muster: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
