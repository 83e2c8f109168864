"""Migrations run from empty to head on both databases, and match the models."""

from __future__ import annotations

import uuid

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from server.db import make_engine
from server.migrate import upgrade
from server.models import Base
from tests.conftest import _pg_admin, sqlalchemy_pg_url


async def _check(url: str) -> None:
    await upgrade(url)
    await upgrade(url)  # a second run finds nothing to do
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert diff == [], f"models and migrations differ: {diff}"


async def test_sqlite_from_empty(tmp_path):
    await _check(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")


async def test_postgres_from_empty(pg_available):
    import pytest

    if not pg_available:
        pytest.skip("PostgreSQL is not reachable")
    name = f"muster_m_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        await _check(sqlalchemy_pg_url(name))
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
