"""mesh.cql.execute answers the whole bounded result, not the driver's first page of 5000 rows."""

from __future__ import annotations

import pytest

from mesh import cql
from mesh.config import Stack
from tests.integration.scratch import scratch_cql_session

pytestmark = pytest.mark.integration

ROWS = 5003  # the driver's default fetch size is 5000


async def test_a_limit_above_the_driver_page_size_returns_every_row_asked_for():
    async with scratch_cql_session(Stack()) as session:
        table = f"{session.scratch_keyspace}.paging_probe"
        await cql.execute(session, f"CREATE TABLE {table} (p int, c int, PRIMARY KEY ((p), c))", cap_s=30)
        insert = await cql.prepare(session, f"INSERT INTO {table} (p, c) VALUES (?, ?)")
        for start in range(0, ROWS, 100):
            await cql.execute_batch(session, [(insert, (0, c)) for c in range(start, min(start + 100, ROWS))], logged=False)
        select = await cql.prepare(session, f"SELECT c FROM {table} WHERE p = ? LIMIT ?")

        rows = await cql.execute(session, select, (0, 5001))
        assert [row.c for row in rows] == list(range(5001))
        assert len(await cql.execute(session, select, (0, ROWS + 10))) == ROWS
        assert [row.c for row in await cql.execute(session, select, (0, 3))] == [0, 1, 2]
        assert await cql.execute(session, select, (1, 10)) == []
