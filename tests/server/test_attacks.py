"""The attacks of issue 13 on a real ``muster serve`` (bench/attacks.py), on
SQLite and PostgreSQL: forged and altered QR codes at a door (none admitted),
a 100 MB streamed body and a declared length past the cap (413, memory
flat), hostile images as incident photos (4xx each) — and no 5xx anywhere.
``python -m bench.hostile`` runs the same with more forgeries."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.attacks import attack
from tests.servers import start_server


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_no_attack_gets_in_or_breaks_the_server(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {}
    if kind == "postgres":
        env["MUSTER_DATABASE_URL"] = request.getfixturevalue("pg_url")
    server = start_server(tmp_path / "data", env)
    try:
        found = attack(server, tickets=5, per_ticket=20)
    finally:
        server.stop()
    print(found.summary())
    assert found.forgeries >= 50
    assert found.admitted == [] and found.server_errors == []
    assert found.rss_growth_mb < 20
    photos = {k: v for k, v in found.statuses.items() if k.startswith("photo ")}
    assert sum(photos.values()) == 5 and all(k[-3] == "4" for k in photos)
