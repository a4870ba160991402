"""svc_ratelimit's token buckets against the real Redis of the stack, under a key prefix of their own."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from mesh.deps import Dependencies
from svc_ratelimit.adapters.redis_buckets import RedisBuckets
from svc_ratelimit.domain import BucketId, Budget, Caller, Kind
from tests.conftest import require_listening


@pytest.fixture
async def redis(stack):
    require_listening(stack.host, stack.redis_port, "Redis")
    deps = await Dependencies.open(stack, name="integration-test", redis=True)
    yield deps.redis
    await deps.close()


@pytest.fixture
async def prefix(redis):
    name = f"it-rl-{uuid.uuid4().hex[:10]}"
    yield name
    async for key in redis.scan_iter(match=f"{name}:*"):
        await redis.delete(key)


def _bucket() -> BucketId:
    return BucketId(Kind.WRITE, Caller.USER, uuid.uuid4().hex[:8])


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_takes_on_a_bucket_of_b_tokens_grant_exactly_b(redis, prefix):
    buckets = RedisBuckets(redis, prefix=prefix)
    bucket, budget = _bucket(), Budget(per_s=0.001, burst=25)  # no refill worth a token during the test
    takes = await asyncio.gather(*(buckets.take(bucket, budget, 1) for _ in range(200)))
    assert sum(t.granted for t in takes) == 25
    assert min(t.tokens for t in takes) < 1


async def test_two_limiter_instances_share_one_budget(redis, stack, prefix):
    other = await Dependencies.open(stack, name="integration-test-2", redis=True)
    try:
        first, second = RedisBuckets(redis, prefix=prefix), RedisBuckets(other.redis, prefix=prefix)
        bucket, budget = _bucket(), Budget(per_s=0.001, burst=10)
        takes = await asyncio.gather(*(replica.take(bucket, budget, 1) for _ in range(15) for replica in (first, second)))
        assert sum(t.granted for t in takes) == 10
        # and a third caller's bucket is untouched
        assert (await first.take(_bucket(), budget, 1)).tokens == 9
    finally:
        await other.close()


async def test_a_bucket_refills_with_time_up_to_its_burst(redis, prefix):
    clock = Clock()
    buckets = RedisBuckets(redis, prefix=prefix, clock=clock)
    bucket, budget = _bucket(), Budget(per_s=4, burst=8)
    for _ in range(8):
        assert (await buckets.take(bucket, budget, 1)).granted
    refused = await buckets.take(bucket, budget, 1)
    assert not refused.granted and refused.tokens == 0
    clock.now += 0.5  # 2 tokens
    assert [(await buckets.take(bucket, budget, 1)).granted for _ in range(3)] == [True, True, False]
    clock.now += 60  # long idle: full, never more
    assert (await buckets.take(bucket, budget, 1)).tokens == 7
    clock.now -= 30  # a clock that goes back gives nothing
    assert (await buckets.take(bucket, budget, 1)).tokens == 6


async def test_redis_time_refills_too(redis, prefix):
    buckets = RedisBuckets(redis, prefix=prefix)
    bucket, budget = _bucket(), Budget(per_s=50, burst=5)
    for _ in range(5):
        await buckets.take(bucket, budget, 1)
    await asyncio.sleep(0.1)  # ~5 tokens at 50 a second
    assert (await buckets.take(bucket, budget, 1)).granted


async def test_a_take_needing_more_than_is_left_takes_nothing(redis, prefix):
    buckets = RedisBuckets(redis, prefix=prefix, clock=Clock())
    bucket, budget = _bucket(), Budget(per_s=1, burst=5)
    assert (await buckets.take(bucket, budget, 4)).tokens == 1
    refused = await buckets.take(bucket, budget, 2)
    assert not refused.granted and refused.tokens == 1
    assert (await buckets.take(bucket, budget, 1)).granted


async def test_an_idle_bucket_expires_once_it_would_be_full_again(redis, prefix):
    buckets = RedisBuckets(redis, prefix=prefix)
    bucket, budget = _bucket(), Budget(per_s=10, burst=20)  # full again after 2 s
    await buckets.take(bucket, budget, 1)
    ttl_ms = await redis.pttl(buckets.key_of(bucket))
    assert 2_000 < ttl_ms <= 3_000
    short = BucketId(Kind.READ, Caller.ADDRESS, "10.1.2.3")
    await buckets.take(short, Budget(per_s=1000, burst=1), 1)  # expires after 1 ms + 1 s
    await asyncio.sleep(1.2)
    assert not await redis.exists(buckets.key_of(short))
