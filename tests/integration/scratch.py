"""A CQL session on a scratch keyspace, migrated like the real one and dropped afterwards, for the
integration tests of CQL adapters (each module gets its own keyspace, so tests never share rows)."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator

from cassandra.cluster import Session

from mesh import cql
from mesh.config import Stack
from mesh.schema import migrate_cql
from tests.conftest import require_listening


@contextlib.asynccontextmanager
async def scratch_cql_session(stack: Stack) -> AsyncIterator[Session]:
    """The session's `scratch_keyspace` attribute names the keyspace."""
    require_listening(stack.host, stack.cql_port, "Cassandra")
    scratch = dataclasses.replace(stack, cql_keyspace=f"it_{uuid.uuid4().hex[:12]}")
    await migrate_cql(scratch)
    opened = await cql.connect(scratch, keyspace=scratch.cql_keyspace)
    opened.scratch_keyspace = scratch.cql_keyspace
    try:
        yield opened
    finally:
        try:
            await cql.execute(opened, f"DROP KEYSPACE IF EXISTS {scratch.cql_keyspace}", cap_s=60)
        finally:
            await cql.close(opened)
