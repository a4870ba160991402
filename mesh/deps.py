"""Connections to the shared infrastructure, opened by a service's main.py and closed at its stop.

A service asks only for what it uses (`Dependencies.open(stack, cql=True, nats=True)`, plus the
other services it calls, `peers=("graph",)`: those channels connect lazily); opening
waits for each server to answer a real request, so a service reports SERVING only when it can
actually serve. Each connection carries its own timeouts; adapters add per-call deadlines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import redis.asyncio as aioredis
from cassandra.cluster import Session
from nats.aio.client import Client as NatsClient

from mesh import cql, events
from mesh.clients import peer_channel
from mesh.config import Stack, env_float, env_int
from mesh.errors import Unavailable

if TYPE_CHECKING:
    # imported where a service opens them: the Elasticsearch client costs each process ~28 MB of
    # RSS and boto3 ~8 MB (measured at import), paid only by the services that need them
    from elasticsearch import AsyncElasticsearch

log = logging.getLogger("mesh.deps")

REDIS_TIMEOUT_S = env_float("TM_REDIS_TIMEOUT_S", 0.5)
REDIS_MAX_CONNECTIONS = env_int("TM_REDIS_MAX_CONNECTIONS", 100)
ES_TIMEOUT_S = env_float("TM_ES_TIMEOUT_S", 2.0)
S3_TIMEOUT_S = env_float("TM_S3_TIMEOUT_S", 5.0)
STARTUP_WAIT_S = env_float("TM_STARTUP_WAIT_S", 60.0)


def s3_client(stack: Stack) -> Any:
    """A boto3 S3 client for the object store (path-style: MinIO and most S3-compatible stores)."""
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client(
        "s3",
        endpoint_url=stack.s3_url,
        aws_access_key_id=stack.s3_access_key,
        aws_secret_access_key=stack.s3_secret_key,
        region_name="us-east-1",
        config=BotoConfig(
            s3={"addressing_style": "path"},
            connect_timeout=S3_TIMEOUT_S,
            read_timeout=S3_TIMEOUT_S,
            retries={"max_attempts": 2, "mode": "standard"},
            signature_version="s3v4",
        ),
    )


async def _retry_until_up(what: str, attempt, wait_s: float):
    end = asyncio.get_running_loop().time() + wait_s
    while True:
        try:
            return await attempt()
        except Exception as exc:  # noqa: BLE001 - any failure while the server starts: try again
            if asyncio.get_running_loop().time() >= end:
                raise Unavailable(f"{what} not reachable in {wait_s:.0f}s: {exc}") from exc
            await asyncio.sleep(0.5)


@dataclass
class Dependencies:
    stack: Stack
    cql: Session | None = None
    redis: aioredis.Redis | None = None
    nats: NatsClient | None = None
    es: AsyncElasticsearch | None = None
    s3: Any = None
    # channels to other services of the mesh, by short name ("graph", "tweet", ...)
    peers: dict[str, grpc.aio.Channel] = field(default_factory=dict)

    @classmethod
    async def open(
        cls, stack: Stack, *, name: str, cql: bool = False, redis: bool = False, nats: bool = False,
        es: bool = False, s3: bool = False, peers: Sequence[str] = (),
    ) -> "Dependencies":
        deps = cls(stack, peers={peer: peer_channel(stack, peer) for peer in peers})
        openers = (
            (cql, deps._open_cql),
            (redis, deps._open_redis),
            (nats, lambda: deps._open_nats(name)),
            (es, deps._open_es),
            (s3, deps._open_s3),
        )
        try:
            await asyncio.gather(*(opener() for wanted, opener in openers if wanted))
        except BaseException:
            await deps.close()
            raise
        return deps

    async def _open_cql(self) -> None:
        self.cql = await cql.connect(self.stack, keyspace=self.stack.cql_keyspace, wait_s=STARTUP_WAIT_S)

    async def _open_redis(self) -> None:
        # A blocking pool: past max_connections a command waits for a free connection (within the
        # timeout, and the caller's deadline around it) instead of failing at once, which redis-py's
        # default pool does at 100: a burst of 120 likes then failed their cache invalidations.
        pool = aioredis.BlockingConnectionPool.from_url(
            self.stack.redis_url, max_connections=REDIS_MAX_CONNECTIONS, timeout=REDIS_TIMEOUT_S,
            socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S, health_check_interval=30,
        )
        client = aioredis.Redis.from_pool(pool)
        self.redis = client
        await _retry_until_up(f"Redis at {self.stack.redis_url}", client.ping, STARTUP_WAIT_S)

    async def _open_nats(self, name: str) -> None:
        self.nats = await events.connect(self.stack, name=name, wait_s=STARTUP_WAIT_S)

    async def _open_es(self) -> None:
        from elasticsearch import AsyncElasticsearch

        client = AsyncElasticsearch(self.stack.es_url, request_timeout=ES_TIMEOUT_S)
        self.es = client
        # cluster health, not info()/ping(): the distribution we run locally answers GET / with 405
        await _retry_until_up(f"Elasticsearch at {self.stack.es_url}", client.cluster.health, STARTUP_WAIT_S)

    async def _open_s3(self) -> None:
        client = s3_client(self.stack)
        self.s3 = client
        bucket = self.stack.s3_bucket

        async def head_bucket():
            return await asyncio.to_thread(client.head_bucket, Bucket=bucket)

        await _retry_until_up(f"object store bucket {bucket} at {self.stack.s3_url}", head_bucket, STARTUP_WAIT_S)

    async def close(self) -> None:
        for channel in self.peers.values():
            await channel.close()
        if self.nats is not None and not self.nats.is_closed:
            await self.nats.drain()
        if self.redis is not None:
            await self.redis.aclose()
        if self.es is not None:
            await self.es.close()
        if self.cql is not None:
            await cql.close(self.cql)
