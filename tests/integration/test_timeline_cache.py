"""svc_timeline's Redis cache against the real Redis of the stack, under a key prefix of its own."""

from __future__ import annotations

import pytest

from mesh.errors import Unavailable
from svc_timeline.adapters.redis_timeline_cache import RedisTimelineCache
from svc_timeline.domain import MergeSources, TimelineEntry, TimelineKey
from svc_timeline.ports import CachedMergeSources
from tests.integration.scratch import scratch_redis, unreachable_redis

BIG = 1 << 60  # above 2**53: a double score could not tell BIG + 1 from BIG + 2
HOME = TimelineKey.home(7)


@pytest.fixture
async def scratch(stack):
    async with scratch_redis(stack, "timeline") as opened:
        yield opened


@pytest.fixture
def redis(scratch):
    return scratch[0]


@pytest.fixture
def prefix(scratch):
    return scratch[1]


def _entries(*offsets: int, author: int = 5) -> list[TimelineEntry]:
    return [TimelineEntry(BIG + o, author) for o in offsets]


async def _filled(cache: RedisTimelineCache, entries: list[TimelineEntry], complete: bool) -> None:
    await cache.begin_fill([HOME])
    await cache.fill(HOME, entries, complete=complete)


async def test_a_timeline_is_cached_only_once_a_reader_filled_it(redis, prefix):
    cache = RedisTimelineCache(redis, capacity=10, ttl_s=600, prefix=prefix)
    assert await cache.read([HOME], None, 5) == {}
    await cache.add_where_cached([HOME], _entries(1))  # an inactive timeline: not created by a writer
    assert not await redis.exists(cache.key_of(HOME))

    await cache.begin_fill([HOME])
    assert await cache.read([HOME], None, 5) == {}  # being filled: still a miss for readers
    await cache.add_where_cached([HOME], _entries(9))  # a tweet fanned out during the fill is kept
    await cache.fill(HOME, _entries(3, 2, 1), complete=True)
    hit = (await cache.read([HOME], None, 5))[HOME]
    assert [e.tweet_id for e in hit.entries] == [BIG + 9, BIG + 3, BIG + 2, BIG + 1] and hit.complete
    assert 0 < await redis.ttl(cache.key_of(HOME)) <= 600


async def test_ranges_are_exact_for_ids_above_two_to_the_53(redis, prefix):
    cache = RedisTimelineCache(redis, capacity=10, prefix=prefix)
    retweet = TimelineEntry(BIG + 4, 6, retweet_of_tweet_id=BIG - 1, retweet_of_author_id=8)
    await _filled(cache, [retweet, *_entries(3, 2, 1)], complete=True)
    below = (await cache.read([HOME], BIG + 3, 10))[HOME]
    assert [e.tweet_id for e in below.entries] == [BIG + 2, BIG + 1]
    assert (await cache.read([HOME], None, 1))[HOME].entries == [retweet]


async def test_capacity_keeps_the_newest_and_an_incomplete_timeline_refuses_older_entries(redis, prefix):
    cache = RedisTimelineCache(redis, capacity=3, prefix=prefix)
    await _filled(cache, _entries(5, 4, 3), complete=False)  # the store had more below 3
    await cache.add_where_cached([HOME], _entries(6))
    hit = (await cache.read([HOME], None, 10))[HOME]
    assert [e.tweet_id for e in hit.entries] == [BIG + 6, BIG + 5, BIG + 4] and not hit.complete
    await cache.remove_where_cached([HOME], [BIG + 5])
    await cache.add_where_cached([HOME], _entries(2))  # older than the oldest cached: the store has it
    assert [e.tweet_id for e in (await cache.read([HOME], None, 10))[HOME].entries] == [BIG + 6, BIG + 4]


async def test_a_complete_timeline_stops_being_complete_once_trimmed(redis, prefix):
    cache = RedisTimelineCache(redis, capacity=3, prefix=prefix)
    await _filled(cache, _entries(2, 1), complete=True)
    await cache.add_where_cached([HOME], _entries(0))  # complete: an older entry is welcome
    assert (await cache.read([HOME], None, 10))[HOME].complete
    await cache.add_where_cached([HOME], _entries(3))
    hit = (await cache.read([HOME], None, 10))[HOME]
    assert [e.tweet_id for e in hit.entries] == [BIG + 3, BIG + 2, BIG + 1] and not hit.complete


async def test_a_fill_after_an_invalidation_is_dropped(redis, prefix):
    cache = RedisTimelineCache(redis, capacity=10, prefix=prefix)
    await cache.begin_fill([HOME])
    await cache.invalidate([HOME])  # an unfollow removed entries while the filler read the store
    await cache.fill(HOME, _entries(2, 1), complete=True)  # what the filler read may be stale
    assert not await redis.exists(cache.key_of(HOME))


async def test_many_timelines_are_read_and_written_in_one_go(redis, prefix):
    cache = RedisTimelineCache(redis, capacity=10, prefix=prefix)
    keys = [TimelineKey.user(u) for u in range(1, 6)]
    await cache.begin_fill(keys[:3])
    for key in keys[:3]:
        await cache.fill(key, _entries(1, author=key.owner_id), complete=True)
    await cache.add_where_cached(keys, _entries(2))
    found = await cache.read(keys, None, 10)
    assert set(found) == set(keys[:3])
    assert all([e.tweet_id for e in found[k].entries] == [BIG + 2, BIG + 1] for k in keys[:3])


async def test_a_fan_out_to_hundreds_of_homes_reaches_every_cached_one(redis, prefix):
    cache = RedisTimelineCache(redis, capacity=10, prefix=prefix)
    keys = [TimelineKey.home(u) for u in range(1, 451)]  # several script calls' worth of homes
    cached = keys[::37] + [keys[-1]]
    await cache.begin_fill(cached)
    for key in cached:
        await cache.fill(key, _entries(1), complete=True)
    await cache.add_where_cached(keys, _entries(2))
    found = await cache.read(keys, None, 10)
    assert set(found) == set(cached)  # no uncached home was created by the writer
    assert all([e.tweet_id for e in found[k].entries] == [BIG + 2, BIG + 1] for k in cached)


async def test_a_full_cached_timeline_stays_in_redis_compact_encoding(redis, prefix):
    cache = RedisTimelineCache(redis, prefix=prefix)  # the default capacity
    entries = [  # retweets: the longest members
        TimelineEntry(BIG + i, BIG + 7, retweet_of_tweet_id=BIG - i, retweet_of_author_id=BIG + 9)
        for i in range(300, 0, -1)
    ]
    await _filled(cache, entries, complete=False)
    await cache.add_where_cached([HOME], [TimelineEntry(BIG + 301, BIG + 7)])
    assert len((await cache.read([HOME], None, 1000))[HOME].entries) == cache.capacity
    assert await redis.object("encoding", cache.key_of(HOME)) == b"listpack"  # ~5 KB, not ~30 KB


async def _computed(cache: RedisTimelineCache, reader: int, sources: MergeSources) -> None:
    """What a reader that missed does: look up, compute (here: given), store as of the lookup."""
    await cache.store_merge_sources(reader, sources, (await cache.merge_sources(reader)).as_of)


async def test_merge_sources_are_cached_until_the_reader_follows_change(redis, prefix):
    cache = RedisTimelineCache(redis, prefix=prefix, merge_sources_ttl_s=30)
    assert (await cache.merge_sources(1)).sources is None
    await _computed(cache, 1, MergeSources((BIG + 1, 42)))
    await _computed(cache, 2, MergeSources(()))
    assert (await cache.merge_sources(1)).sources == MergeSources((BIG + 1, 42))
    assert (await cache.merge_sources(2)).sources == MergeSources(())  # none is an answer too
    assert 0 < await redis.ttl(cache.sources_key_of(1)) <= 30
    await cache.forget_merge_sources([1])
    assert (await cache.merge_sources(1)).sources is None
    assert (await cache.merge_sources(2)).sources == MergeSources(())


async def test_a_store_as_of_before_a_change_lands_nowhere(redis, prefix):
    cache = RedisTimelineCache(redis, prefix=prefix)
    for change in (lambda: cache.note_celebrity(42, True), lambda: cache.forget_merge_sources([1])):
        seen = await cache.merge_sources(1)  # a reader misses and asks the graph...
        await change()  # ... which changes before the reader stores what it answered
        await cache.store_merge_sources(1, MergeSources(()), seen.as_of)
        assert (await cache.merge_sources(1)).sources is None


async def test_only_a_crossing_of_the_celebrity_threshold_drops_every_reader_sources(redis, prefix):
    cache = RedisTimelineCache(redis, prefix=prefix)
    await cache.note_celebrity(42, True)
    for reader in (1, 2):
        await _computed(cache, reader, MergeSources((42,)))
    await cache.note_celebrity(42, True)  # each of a celebrity's tweets says so: no crossing
    await cache.note_celebrity(43, False)
    assert [(await cache.merge_sources(r)).sources for r in (1, 2)] == [MergeSources((42,))] * 2

    await cache.note_celebrity(42, False)  # dropped below the threshold
    assert [(await cache.merge_sources(r)).sources for r in (1, 2)] == [None, None]
    await _computed(cache, 1, MergeSources(()))
    await cache.note_celebrity(43, True)  # crossed it
    assert (await cache.merge_sources(1)).sources is None


async def test_a_lost_epoch_is_created_anew_and_what_was_stored_before_misses(redis, prefix):
    cache = RedisTimelineCache(redis, prefix=prefix)
    await _computed(cache, 1, MergeSources((42,)))
    await redis.delete(f"{prefix}:celebrity-epoch")  # evicted, or Redis restarted without its data
    assert (await cache.merge_sources(1)).sources is None
    await _computed(cache, 1, MergeSources((42,)))
    assert (await cache.merge_sources(1)).sources == MergeSources((42,))


async def test_an_unreachable_redis_is_a_miss_for_readers_and_an_error_for_writers():
    async with unreachable_redis() as dead:
        cache = RedisTimelineCache(dead, prefix="it-dead")
        assert await cache.read([HOME], None, 5) == {}
        assert await cache.merge_sources(1) == CachedMergeSources(None, None)
        await cache.store_merge_sources(1, MergeSources(()), "as of a lookup elsewhere")  # best effort: no error
        await cache.begin_fill([HOME])
        await cache.fill(HOME, _entries(1), complete=True)
        with pytest.raises(Unavailable):
            await cache.add_where_cached([HOME], _entries(1))
        with pytest.raises(Unavailable):
            await cache.invalidate([HOME])
        with pytest.raises(Unavailable):
            await cache.forget_merge_sources([1])
        with pytest.raises(Unavailable):
            await cache.note_celebrity(42, True)
