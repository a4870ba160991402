"""svc_tweet's caller-marks cache against the real Redis of the stack: marks come back as stored
until the user's version is replaced, marks read before a change never land where a later read
looks, and with Redis down lookups miss while invalidations ask for a retry."""

from __future__ import annotations

import logging

import pytest

from mesh.errors import Unavailable
from svc_tweet.adapters.redis_marks import RedisMarksCache
from svc_tweet.domain import CallerMarks
from tests.integration.scratch import scratch_redis, unreachable_redis

ANN, BOB = 7, 8
EVERY_MARK = {
    101: CallerMarks(),
    102: CallerMarks(liked=True),
    103: CallerMarks(retweeted=True),
    104: CallerMarks(liked=True, retweeted=True),
}


@pytest.fixture
async def cache(stack):
    async with scratch_redis(stack, "marks") as (client, prefix):
        yield RedisMarksCache(client, ttl_s=60, prefix=prefix)


async def test_marks_miss_then_hit_until_the_user_is_invalidated(cache):
    missed = await cache.lookup(ANN, list(EVERY_MARK))
    assert missed.hits == {} and missed.version is not None
    await cache.store(ANN, EVERY_MARK, missed.version)

    hit = await cache.lookup(ANN, [*EVERY_MARK, 999])
    assert hit.hits == EVERY_MARK and hit.version == missed.version  # 999 was never stored
    assert (await cache.lookup(BOB, list(EVERY_MARK))).hits == {}  # marks are per user

    await cache.invalidate(BOB)  # another user
    assert (await cache.lookup(ANN, [102])).hits == {102: CallerMarks(liked=True)}
    await cache.invalidate(ANN)
    after = await cache.lookup(ANN, list(EVERY_MARK))
    assert after.hits == {} and after.version != missed.version


async def test_a_hash_is_filled_field_by_field_under_one_version(cache):
    seen = await cache.lookup(ANN, [101, 102])
    await cache.store(ANN, {101: EVERY_MARK[101]}, seen.version)
    await cache.store(ANN, {102: EVERY_MARK[102]}, seen.version)
    assert (await cache.lookup(ANN, [101, 102])).hits == {101: EVERY_MARK[101], 102: EVERY_MARK[102]}


async def test_a_user_cached_whole_answers_for_any_tweet_until_invalidated(cache):
    missed = await cache.lookup(ANN, [101])
    assert not missed.complete and not missed.too_many
    await cache.store_all(ANN, {102: EVERY_MARK[102], 104: EVERY_MARK[104]}, missed.version)

    whole = await cache.lookup(ANN, [101, 102, 999])
    assert whole.complete and whole.hits == {102: EVERY_MARK[102]}  # 101, 999: no marks

    await cache.invalidate(ANN)
    assert not (await cache.lookup(ANN, [102])).complete


async def test_a_user_with_too_many_marks_is_marked_so_and_cached_per_tweet(cache):
    missed = await cache.lookup(ANN, [101])
    await cache.store_all(ANN, None, missed.version)
    await cache.store(ANN, {101: EVERY_MARK[101]}, missed.version)

    marked = await cache.lookup(ANN, [101, 102])
    assert marked.too_many and not marked.complete and marked.hits == {101: EVERY_MARK[101]}


async def test_marks_read_before_a_change_can_never_be_served_after_it(cache):
    reader_saw = await cache.lookup(ANN, [102])  # a reader looks up, misses, reads the stores...
    await cache.invalidate(ANN)  # ...meanwhile a like commits and invalidates...
    await cache.store(ANN, {102: CallerMarks()}, reader_saw.version)  # ...then it stores what it read

    assert (await cache.lookup(ANN, [102])).hits == {}  # not served: the next reader reads the stores


async def test_with_redis_down_lookups_miss_and_invalidations_ask_for_a_retry(caplog):
    async with unreachable_redis() as client:
        down = RedisMarksCache(client, ttl_s=60, prefix="it:marks:down")
        with caplog.at_level(logging.WARNING, logger="mesh.redis_versioned"):
            missed = await down.lookup(ANN, [101])
            await down.store(ANN, EVERY_MARK, "some-version")  # best effort: raises nothing
        assert missed.hits == {} and missed.version is None  # and nothing read may be stored
        assert "marks cache unavailable" in caplog.text and "could not cache liked/retweeted marks" in caplog.text

        with pytest.raises(Unavailable) as refused:
            await down.invalidate(ANN)
    assert refused.value.reason == "MARKS_CACHE_UNAVAILABLE" and "retry" in refused.value.message
