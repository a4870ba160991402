"""Token buckets in Redis: one hash per bucket, refilled and taken from by ONE Lua script.

Key `<prefix>:v1:<kind>:<user|remote_address>:<subject>`, fields `tokens` (a float) and `ts` (the
time of the last take, seconds). The script reads both, adds `rate x elapsed` (capped at burst),
takes `cost` tokens when there are that many, writes both back and sets the key's TTL, all in one
step: Redis runs a script alone, so any number of limiter replicas, behind any number of Envoys,
take from the same budget and N concurrent takes on a bucket of B tokens grant exactly B.

Time: the script asks Redis for it (TIME), so replicas with skewed clocks still agree. Tests may
pass a clock instead (`clock=`); a store uses one or the other for every take, never both.
TTL: a bucket untouched for `burst / rate` seconds is full again, exactly what a missing key means,
so the key expires then (plus a second): idle callers cost no memory.

Failures: a Redis error or timeout raises Unavailable (also when a burst of checks waited too long
for one of the client's connections); the servicer answers UNAVAILABLE and Envoy
applies its failure mode (reads pass, writes are refused; envoy/envoy.yaml).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mesh import context
from mesh.deps import REDIS_TIMEOUT_S
from mesh.errors import Unavailable
from svc_ratelimit.domain import BucketId, Budget, Take

FORMAT_VERSION = 1  # of the hash layout; part of every key

# KEYS[1] bucket; ARGV: rate per second, burst, cost, now in seconds ('' = Redis TIME)
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[4])
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local granted = 0
if tokens >= cost then
  tokens = tokens - cost
  granted = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {granted, string.format('%.17g', tokens)}
"""


class RedisBuckets:
    def __init__(self, redis: aioredis.Redis, *, prefix: str = "ratelimit", clock: Callable[[], float] | None = None):
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        self._take = redis.register_script(_TAKE)
        # redis-py's default pool refuses a command beyond its connection limit instead of waiting
        # (mesh.deps gives the services a blocking pool, but a client made elsewhere may not be): a
        # burst of checks waits here for a connection, within the caller's deadline
        self._slots = asyncio.Semaphore(redis.connection_pool.max_connections)

    def key_of(self, bucket: BucketId) -> str:
        return f"{self._prefix}:v{FORMAT_VERSION}:{bucket.name}"

    async def take(self, bucket: BucketId, budget: Budget, cost: int) -> Take:
        now = "" if self._clock is None else repr(self._clock())
        try:
            async with asyncio.timeout(context.remaining(REDIS_TIMEOUT_S)), self._slots:
                granted, tokens = await self._take(keys=[self.key_of(bucket)], args=[repr(float(budget.per_s)), budget.burst, cost, now])
        except (RedisError, TimeoutError, OSError) as exc:
            raise Unavailable(f"rate limit store: {exc.__class__.__name__}", reason="RATE_LIMIT_STORE_UNAVAILABLE") from exc
        return Take(granted=int(granted) == 1, tokens=float(tokens))
