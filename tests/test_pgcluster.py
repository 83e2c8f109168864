"""The throwaway PostgreSQL cluster (tests/pgcluster.py) starts, stops, restarts
and keeps its data, on its own port."""

from __future__ import annotations

import asyncpg
import pytest

from tests.pgcluster import PgCluster


async def _count(cluster: PgCluster) -> int:
    conn = await asyncpg.connect(cluster.dsn("muster"), timeout=5)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM kept"))
    finally:
        await conn.close()


async def test_a_cluster_restarts_on_its_port_and_keeps_what_it_committed(pg_cluster: PgCluster):
    assert pg_cluster.port != 5432
    url = pg_cluster.create_database("muster")
    assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{pg_cluster.port}/muster"
    pg_cluster.sql(
        "CREATE TABLE kept (n int); INSERT INTO kept SELECT generate_series(1, 3)", "muster"
    )
    assert await _count(pg_cluster) == 3

    pg_cluster.stop()
    assert not pg_cluster.running and not pg_cluster.accepts_connections()
    with pytest.raises(OSError):
        await asyncpg.connect(pg_cluster.dsn("muster"), timeout=5)

    pg_cluster.start()
    assert pg_cluster.running
    assert await _count(pg_cluster) == 3

    pg_cluster.restart("immediate")  # as a crash: committed rows survive
    assert await _count(pg_cluster) == 3
