"""Benchmark: a bounded schemathesis run against a real ``muster serve`` (issue 13).

Every operation of the server's own ``/openapi.json``, with the organiser's
token, sent ``--examples`` generated requests fitting the document and as many
breaking it, plus every path id past 64 bits (``tests/hostile.py`` says what
is sent and checked); then the attacks of ``bench/attacks.py``: ~50 forged or
altered QR codes per ticket at a door, a 100 MB streamed body, hostile images. On SQLite (a new file) and on PostgreSQL (a new
database on ``MUSTER_TEST_PG``, dropped after), one after the other.

It prints, per database, the operations run, the requests sent, the answers
by status, the 5xx found and the schema violations (status, content type or
body not as documented), each with a curl command that repeats it.

    .venv/bin/python -m bench.hostile [--examples 10] [--database sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from bench.attacks import attack
from bench.common import sqlalchemy_url
from tests.hostile import explore
from tests.servers import start_server

PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def database(kind: str, folder: Path, dsn: str) -> Iterator[dict[str, str]]:
    """The server's environment for a new database of ``kind``."""
    if kind == "sqlite":
        yield {"MUSTER_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'hostile.db'}"}
        return
    name = f"muster_hostile_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(dsn, f'CREATE DATABASE "{name}"'))
    try:
        url = sqlalchemy_url(f"{dsn.rsplit('/', 1)[0]}/{name}")
        yield {"MUSTER_DATABASE_URL": url}
    finally:
        asyncio.run(_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10, help="per operation and kind")
    parser.add_argument("--seconds", type=float, default=600, help="wall-clock bound per run")
    parser.add_argument("--database", default="sqlite,postgres")
    parser.add_argument("--tickets", type=int, default=20, help="tickets whose QR codes are forged")
    parser.add_argument("--pg", default=PG_DSN, help="PostgreSQL server for the new database")
    args = parser.parse_args()
    command = " ".join(["python -m bench.hostile", *sys.argv[1:]])
    found = 0
    for kind in args.database.split(","):
        with tempfile.TemporaryDirectory() as folder, database(kind, Path(folder), args.pg) as env:
            server = start_server(Path(folder) / "data", env)
            try:
                findings = explore(server, examples=args.examples, seconds=args.seconds)
                attacked = attack(server, tickets=args.tickets)
            finally:
                server.stop()
        print(f"\n== {kind}, {args.examples} examples per operation and kind")
        print(findings.summary())
        print(attacked.summary())
        found += len(findings.found) + len(attacked.found)
    print(f"\nreproduce: .venv/bin/{command}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
