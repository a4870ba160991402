"""What the parts of the dataset loader share: the connections to the mesh, progress lines,
waiting for the mesh's consumers, a few REST calls, and svc_graph's follow rows in bulk."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from cassandra.cluster import Session
from elasticsearch import AsyncElasticsearch

from bench.bulk import CqlBulk, FollowTemplate
from bench.rest import Gateway
from bench.synthetic import as_datetime
from mesh import cql
from mesh.clients import peer_channel
from mesh.config import Stack, env_int
from mesh.deps import Dependencies
from mesh.errors import Unavailable
from mesh.events import CONSUMERS
from svc_graph.adapters.redis_counts import RedisCountCache
from svc_graph.adapters.redis_relationships import RedisRelationshipCache
from tweetmesh.graph.v1 import graph_service_pb2_grpc

REQUEST_PREFIX = "bench8"  # request ids of the loader's mutations (AIP-155: per caller)
REST_WORKERS = 48
DRAIN_TIMEOUT_S = 300.0


class LoadFailed(RuntimeError):
    pass


def say(message: str) -> None:
    print(message, flush=True)


class Progress:
    """Counts one phase; prints a line every few seconds and one at the end with the rate."""

    def __init__(self, label: str, total: int, unit: str, every_s: float = 5.0):
        self.label, self.total, self.unit = label, total, unit
        self.done = 0
        self._started = self._printed = time.monotonic()
        self._every_s = every_s

    def add(self, count: int = 1, extra: str = "") -> None:
        self.done += count
        now = time.monotonic()
        if now - self._printed >= self._every_s:
            self._printed = now
            rate = self.done / max(now - self._started, 1e-9)
            say(f"  {self.label}: {self.done:,}/{self.total:,} {self.unit} ({rate:,.0f}/s){extra}")

    def finish(self, extra: str = "") -> float:
        elapsed = time.monotonic() - self._started
        say(f"  {self.label}: {self.done:,} {self.unit} in {elapsed:.1f}s ({self.done / max(elapsed, 1e-9):,.0f}/s){extra}")
        return round(elapsed, 2)


def check(condition: bool, what: str) -> None:
    if not condition:
        raise LoadFailed(what)


@dataclass
class Mesh:
    """What the loader talks to: the gateway, and the stores for the bulk parts and the checks."""

    stack: Stack
    deps: Dependencies
    gateway: Gateway
    graph: graph_service_pb2_grpc.GraphServiceStub
    http: httpx.AsyncClient  # NATS monitoring

    @property
    def cql(self) -> Session:
        return self.deps.cql

    @property
    def es(self) -> AsyncElasticsearch:
        return self.deps.es

    @property
    def keyspace(self) -> str:
        return self.stack.cql_keyspace

    @classmethod
    @asynccontextmanager
    async def open(cls, stack: Stack) -> AsyncIterator["Mesh"]:
        deps = await Dependencies.open(stack, name="bench-load", cql=True, redis=True, es=True)
        channel = peer_channel(stack, "graph")
        mesh = cls(stack, deps, Gateway(stack, in_flight=REST_WORKERS), graph_service_pb2_grpc.GraphServiceStub(channel),
                   httpx.AsyncClient())
        try:
            yield mesh
        finally:
            await mesh.gateway.close()
            await mesh.http.aclose()
            await channel.close()
            await deps.close()


async def cql_rows(mesh: Mesh, query: str, values: tuple) -> list:
    return list(await cql.execute(mesh.cql, await cql.prepare(mesh.cql, query), values, cap_s=30.0) or ())


# ---------------------------------------------------------------------------------------------
# Waiting for the mesh to digest what the API was sent


async def wait_for_consumers(mesh: Mesh, label: str) -> float:
    """Until every durable consumer of the mesh (mesh/events.py) has nothing pending: the fan-out,
    notifications and indexing of what was just posted are done before anything is measured."""
    durables = {consumer.durable for consumer in CONSUMERS}
    url = f"http://{mesh.stack.host}:{mesh.stack.nats_monitor_port}/jsz"
    started = time.monotonic()
    printed = started
    quiet = 0
    while True:
        body = (await mesh.http.get(url, params={"consumers": "true"}, timeout=10.0)).json()
        pending = sum(
            consumer["num_pending"] + consumer["num_ack_pending"]
            for account in body.get("account_details", [])
            for stream in account.get("stream_detail", [])
            for consumer in stream.get("consumer_detail", []) or []
            if consumer["name"] in durables
        )
        quiet = quiet + 1 if pending == 0 else 0
        if quiet >= 2:
            elapsed = time.monotonic() - started
            say(f"  {label}: consumers caught up in {elapsed:.1f}s")
            return round(elapsed, 2)
        now = time.monotonic()
        if now - started > DRAIN_TIMEOUT_S:  # other traffic may keep them busy: say so, go on
            say(f"  WARNING {label}: consumers still have {pending} events pending after {DRAIN_TIMEOUT_S:.0f}s")
            return round(now - started, 2)
        if now - printed >= 5:
            printed = now
            say(f"  {label}: {pending:,} events pending in the consumers")
        await asyncio.sleep(0.5)


# ---------------------------------------------------------------------------------------------
# REST calls more than one part makes


def rest_extra(gateway: Gateway) -> str:
    """The gateway's counters, for a progress line."""
    stats = gateway.stats
    return f", 429s waited {stats.throttled}, shed and resent {stats.shed}, resent {stats.resent}, errors {len(stats.errors)}"


async def post_tweet(gateway: Gateway, user_id: int, content: str, k: int) -> None:
    """The user's k-th tweet of the dataset; its request id makes a repeat return the first one."""
    await gateway.call("POST", "/v1/tweets", user=user_id, accept=(200, 201), body={
        "twitterContent": content, "requestId": f"{REQUEST_PREFIX}-tweet-{k}",
    })


async def tweet_count(gateway: Gateway, user_id: int, at_most: int = 100) -> int:
    response = await gateway.call("GET", f"/v1/users/{user_id}/tweets", user=user_id, params={"pageSize": at_most})
    return len(response.json().get("tweets", [])) if response is not None else 0


async def get_profile(gateway: Gateway, caller: int, user_id: int) -> dict | None:
    response = await gateway.call("GET", f"/v1/users/{user_id}", user=caller, accept=(200, 404))
    if response is None or response.status_code == 404:
        return None
    return response.json()["user"]


# ---------------------------------------------------------------------------------------------
# The follow graph in bulk


async def write_follows(mesh: Mesh, follower: Sequence[int], followee: Sequence[int], follow_ms: Sequence[int],
                        id_of: Callable[[int], int], timings: dict[str, float]) -> None:
    """The rows of svc_graph for each follow (follower[i] follows followee[i] since follow_ms[i];
    users as numbers, `id_of` their ids), in bulk: the followees' partitions, then the followers',
    each side sorted by partition so a batch holds few partitions. No events (bench/bulk.py)."""
    template = FollowTemplate(mesh.keyspace)
    for side, rows, key in (("followers", template.followee_side, followee),
                            ("following", template.follower_side, follower)):
        cql_bulk = CqlBulk(mesh.cql)
        progress = Progress(f"follows, {side} partitions", len(key), "follows")
        statements = []
        for position in sorted(range(len(key)), key=key.__getitem__):
            statements += template.bind(rows, id_of(follower[position]), id_of(followee[position]),
                                        as_datetime(follow_ms[position]))
            if len(statements) >= 200:
                await cql_bulk.send(statements)
                progress.add(len(statements) // len(rows))
                statements = []
        await cql_bulk.send(statements)
        progress.add(len(statements) // len(rows))
        await cql_bulk.drain()
        timings[f"follows_{side}"] = progress.finish(f", {cql_bulk.rows:,} CQL rows, {cql_bulk.retries} batches resent")


async def invalidate_follow_caches(mesh: Mesh, user_ids: Sequence[int], *, chunk: int = 500,
                                   attempts: int = 5) -> None:
    """What svc_graph invalidates after a follow, for every user the bulk follows touched: its
    cached follow counts and relationships (new cache versions; svc_graph's own adapters), in
    chunks that fit their Redis timeout, each retried. A value cached before the load is stale."""
    caches = (
        RedisCountCache(mesh.deps.redis, ttl_s=env_int("TM_GRAPH_COUNT_CACHE_TTL_S", 600)),
        RedisRelationshipCache(mesh.deps.redis, ttl_s=env_int("TM_GRAPH_RELATIONSHIP_CACHE_TTL_S", 600)),
    )
    for cache in caches:
        for start in range(0, len(user_ids), chunk):
            for attempt in range(1, attempts + 1):
                try:
                    await cache.invalidate(user_ids[start:start + chunk])
                    break
                except Unavailable:
                    if attempt == attempts:
                        raise
                    await asyncio.sleep(attempt)
