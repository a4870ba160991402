"""The CQL adapter and the migration runner against the real Cassandra of the stack."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest

from mesh import context, cql
from mesh.errors import Unavailable
from mesh.schema import MIGRATIONS_DIR, MigrationError, migrate_cql
from tests.conftest import require_listening


@pytest.fixture
async def scratch_stack(stack):
    require_listening(stack.host, stack.cql_port, "Cassandra")
    scratch = dataclasses.replace(stack, cql_keyspace=f"it_{uuid.uuid4().hex[:12]}")
    yield scratch
    session = await cql.connect(stack)
    try:
        await cql.execute(session, f"DROP KEYSPACE IF EXISTS {scratch.cql_keyspace}", cap_s=30)
    finally:
        await cql.close(session)


async def test_migrations_apply_once_in_order_and_are_recorded(scratch_stack, tmp_path):
    folder = tmp_path / "cql"
    folder.mkdir()
    (folder / "0001_notes.cql").write_text(
        "CREATE TABLE IF NOT EXISTS {keyspace}.notes (id int PRIMARY KEY, body text);"
    )
    (folder / "0002_notes_author.cql").write_text("ALTER TABLE {keyspace}.notes ADD author text;")

    assert await migrate_cql(scratch_stack, folder) == ["0001_notes", "0002_notes_author"]
    assert await migrate_cql(scratch_stack, folder) == []  # second run: nothing pending

    session = await cql.connect(scratch_stack, keyspace=scratch_stack.cql_keyspace)
    try:
        await cql.execute(session, "INSERT INTO notes (id, body, author) VALUES (%s, %s, %s)", (1, "hi", "ann"))
        (row,) = await cql.execute(session, "SELECT body, author FROM notes WHERE id = 1")
        assert (row.body, row.author) == ("hi", "ann")
        recorded = await cql.execute(session, "SELECT version, name FROM schema_migrations")
        assert sorted((r.version, r.name) for r in recorded) == [(1, "notes"), (2, "notes_author")]
        replication = await cql.execute(
            session,
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (scratch_stack.cql_keyspace,),
        )
        # ScyllaDB-portable and production-shaped: per-datacenter replication
        assert replication[0].replication["class"].endswith("NetworkTopologyStrategy")
    finally:
        await cql.close(session)


async def test_an_applied_migration_edited_later_is_refused(scratch_stack, tmp_path):
    path = tmp_path / "0001_t.cql"
    path.write_text("CREATE TABLE IF NOT EXISTS {keyspace}.t (id int PRIMARY KEY);")
    await migrate_cql(scratch_stack, tmp_path)
    path.write_text("CREATE TABLE IF NOT EXISTS {keyspace}.t (id bigint PRIMARY KEY);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate_cql(scratch_stack, tmp_path)


async def test_project_migrations_apply_to_a_fresh_keyspace(scratch_stack):
    applied = await migrate_cql(scratch_stack, MIGRATIONS_DIR / "cql")
    assert applied and applied[0] == "0001_request_log"


async def test_statement_is_not_sent_when_the_caller_has_no_time_left(stack):
    session = await cql.connect(stack)
    token = context.deadline.set(time.monotonic() - 0.01)
    try:
        with pytest.raises(Unavailable, match="ran out of time"):
            await cql.execute(session, "SELECT release_version FROM system.local")
    finally:
        context.deadline.reset(token)
        await cql.close(session)


async def test_statement_errors_surface_as_exceptions(stack):
    session = await cql.connect(stack)
    try:
        with pytest.raises(Exception, match="(?i)unconfigured table|does not exist"):
            await cql.execute(session, "SELECT * FROM system.no_such_table")
    finally:
        await cql.close(session)
