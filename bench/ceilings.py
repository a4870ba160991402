"""The raw round trips under the services: what a request could cost at best on this machine.

With the clients the services use (redis.asyncio and the CQL driver, opened by mesh.deps exactly as
a service opens them), from one asyncio loop like a service's:

  redis   GET of a small key
  cql     SELECT of one row by primary key, prepared, at the services' consistency (LOCAL_QUORUM),
          from a scratch keyspace `bench_ceiling` made for it and dropped after
  cql_compose_write
          the strongly consistent writes of a compose, nothing else: a claim INSERT ... IF NOT
          EXISTS (Paxos, LOCAL_SERIAL), then a LOGGED batch of four inserts into four partitions
          (the tweet, its author's list, the month index, the outbox row), in the same keyspace
  envoy   the gateway alone: vegeta at fixed rates against /healthz, which Envoy's health check
          filter answers itself (no token, no upstream)

Each store gets two figures: latency at concurrency 1 (one call after the other), and the closed-loop
throughput with `concurrency` calls in flight (~32). Plain dicts out, stats.latency_summary inside.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mesh import cql
from mesh.config import Stack
from mesh.deps import Dependencies

from bench import openloop, stats

SCRATCH_KEYSPACE = "bench_ceiling"
REDIS_KEY = "bench:ceiling"
VALUE = "x" * 100  # a small value, the size of a cached id list or counter
ROWS = 100


async def closed_loop(call: Callable[[], Awaitable[Any]], *, concurrency: int, duration_s: float) -> dict[str, Any]:
    """`concurrency` tasks each calling `call` back to back for `duration_s`: ops/s and latency."""
    latencies: list[float] = []
    failures = 0
    end = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal failures
        while time.perf_counter() < end:
            sent = time.perf_counter_ns()
            try:
                await call()
            except Exception:  # noqa: BLE001 - a ceiling counts failures, it does not stop on them
                failures += 1
                continue
            latencies.append((time.perf_counter_ns() - sent) / 1e6)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {
        "concurrency": concurrency,
        "duration_s": elapsed,
        "ops": len(latencies),
        "failures": failures,
        "ops_per_s": len(latencies) / elapsed,
        "latency_ms": stats.latency_summary(latencies),
    }


async def _both(call: Callable[[], Awaitable[Any]], *, concurrency: int, duration_s: float) -> dict[str, Any]:
    for _ in range(50):  # warm the connections and the server's caches
        await call()
    return {
        "serial": await closed_loop(call, concurrency=1, duration_s=duration_s),
        "parallel": await closed_loop(call, concurrency=concurrency, duration_s=duration_s),
    }


async def redis_ceiling(deps: Dependencies, *, concurrency: int = 32, duration_s: float = 3.0) -> dict[str, Any]:
    assert deps.redis is not None
    await deps.redis.set(REDIS_KEY, VALUE, ex=600)
    try:
        return {"what": f"redis GET of a {len(VALUE)} B key",
                **await _both(lambda: deps.redis.get(REDIS_KEY), concurrency=concurrency, duration_s=duration_s)}
    finally:
        await deps.redis.delete(REDIS_KEY)


async def cql_ceiling(deps: Dependencies, *, concurrency: int = 32, duration_s: float = 3.0) -> dict[str, Any]:
    session = deps.cql
    assert session is not None
    await _scratch_keyspace(deps)
    await cql.execute(session, f"CREATE TABLE IF NOT EXISTS {SCRATCH_KEYSPACE}.kv (k int PRIMARY KEY, v text)", cap_s=30)
    try:
        insert = await cql.prepare(session, f"INSERT INTO {SCRATCH_KEYSPACE}.kv (k, v) VALUES (?, ?)")
        await asyncio.gather(*(cql.execute(session, insert, (k, VALUE)) for k in range(ROWS)))
        select = await cql.prepare(session, f"SELECT v FROM {SCRATCH_KEYSPACE}.kv WHERE k = ?")
        keys = iter(range(1 << 62))

        async def read_one() -> None:
            rows = await cql.execute(session, select, (next(keys) % ROWS,))
            if not rows:
                raise LookupError("row missing")

        return {"what": f"CQL SELECT of one {len(VALUE)} B row by primary key (prepared, LOCAL_QUORUM)",
                **await _both(read_one, concurrency=concurrency, duration_s=duration_s)}
    finally:
        await drop_scratch(deps)


async def cql_compose_write_ceiling(deps: Dependencies, *, concurrency: int = 32, duration_s: float = 3.0) -> dict[str, Any]:
    """The floor under a compose's latency: its claim and its logged batch, with no service around
    them (svc_tweet's CqlTweetStore.claim_request and .create do these, and more, per compose)."""
    session = deps.cql
    assert session is not None
    await _scratch_keyspace(deps)
    await cql.execute(session, f"CREATE TABLE IF NOT EXISTS {SCRATCH_KEYSPACE}.claims "
                               "(owner bigint, request text, v text, PRIMARY KEY ((owner), request))", cap_s=30)
    await cql.execute(session, f"CREATE TABLE IF NOT EXISTS {SCRATCH_KEYSPACE}.rows "
                               "(k bigint, c bigint, v text, PRIMARY KEY ((k), c))", cap_s=30)
    try:
        claim = await cql.prepare(
            session, f"INSERT INTO {SCRATCH_KEYSPACE}.claims (owner, request, v) VALUES (?, ?, ?) IF NOT EXISTS")
        write = await cql.prepare(session, f"INSERT INTO {SCRATCH_KEYSPACE}.rows (k, c, v) VALUES (?, ?, ?)")
        ids = iter(range(1, 1 << 62))

        async def claim_then_batch() -> None:
            n = next(ids)
            (outcome,) = await cql.execute(session, claim, (n, f"request-{n}", VALUE))
            if not outcome.applied:
                raise LookupError("a fresh claim was refused")
            # four partitions, like the tweet row, its author's list, the month index and the outbox
            await cql.execute_batch(session, [(write, (n * 4 + part, n, VALUE)) for part in range(4)])

        return {"what": "CQL compose writes alone: INSERT IF NOT EXISTS (LOCAL_SERIAL), then a LOGGED batch of 4 partitions",
                **await _both(claim_then_batch, concurrency=concurrency, duration_s=duration_s)}
    finally:
        await drop_scratch(deps)


async def _scratch_keyspace(deps: Dependencies) -> None:
    assert deps.cql is not None
    await cql.execute(
        deps.cql,
        f"CREATE KEYSPACE IF NOT EXISTS {SCRATCH_KEYSPACE} WITH replication = "
        f"{{'class': 'NetworkTopologyStrategy', '{deps.stack.cql_datacenter}': 1}}",
        cap_s=30,
    )


async def drop_scratch(deps: Dependencies) -> None:
    assert deps.cql is not None
    await cql.execute(deps.cql, f"DROP KEYSPACE IF EXISTS {SCRATCH_KEYSPACE}", cap_s=30)


def envoy_ceiling(stack: Stack, *, rates: Sequence[int] = (1000, 2000, 4000, 8000),
                  duration_s: float = 5.0) -> dict[str, Any]:
    """The gateway alone: open-loop runs against /healthz (answered by Envoy, nothing proxied)."""
    target = openloop.Target("GET", f"{stack.envoy_url}/healthz", kind="healthz")
    runs = []
    for rate in rates:
        summary = openloop.run([target], rate, duration_s, name=f"envoy-{rate}", warmup_s=1, stack=stack).summary()
        summary.pop("per_kind")  # one kind only
        runs.append(summary)
    return {"what": "Envoy alone: GET /healthz (health check filter, no upstream)", "runs": runs}


async def measure(stack: Stack | None = None, *, concurrency: int = 32, duration_s: float = 3.0,
                  envoy_rates: Sequence[int] = (1000, 2000, 4000, 8000)) -> dict[str, Any]:
    """Every ceiling: {"redis", "cql", "cql_compose_write", "envoy"} (envoy skipped with no rates)."""
    stack = stack or Stack()
    deps = await Dependencies.open(stack, name="bench-ceilings", cql=True, redis=True)
    try:
        found = {
            "redis": await redis_ceiling(deps, concurrency=concurrency, duration_s=duration_s),
            "cql": await cql_ceiling(deps, concurrency=concurrency, duration_s=duration_s),
            "cql_compose_write": await cql_compose_write_ceiling(deps, concurrency=concurrency, duration_s=duration_s),
        }
    finally:
        await deps.close()
    if envoy_rates:
        # vegeta is a separate process; run it off the loop all the same
        found["envoy"] = await asyncio.to_thread(envoy_ceiling, stack, rates=envoy_rates)
    return found
