"""Scratch places in the stack's stores for integration tests, removed afterwards: a CQL session on
a keyspace of its own (migrated like the real one), a Redis key prefix of its own, and a Redis
client that reaches nothing (for "the cache is down")."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from cassandra.cluster import Session

from mesh import cql
from mesh.config import Stack
from mesh.deps import Dependencies
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


@contextlib.asynccontextmanager
async def scratch_redis(stack: Stack, label: str) -> AsyncIterator[tuple[aioredis.Redis, str]]:
    """The stack's Redis and a key prefix no other test uses; its keys are deleted afterwards."""
    require_listening(stack.host, stack.redis_port, "Redis")
    deps = await Dependencies.open(stack, name="integration-test", redis=True)
    prefix = f"it:{label}:{uuid.uuid4().hex[:8]}"
    try:
        yield deps.redis, prefix
    finally:
        keys = [key async for key in deps.redis.scan_iter(f"{prefix}:*")]
        if keys:
            await deps.redis.delete(*keys)
        await deps.close()


@contextlib.asynccontextmanager
async def unreachable_redis() -> AsyncIterator[aioredis.Redis]:
    """A Redis client of a port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = aioredis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    try:
        yield client
    finally:
        await client.aclose()
