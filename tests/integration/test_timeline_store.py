"""svc_timeline's CQL adapters against the real Cassandra of the stack, in a scratch keyspace."""

from __future__ import annotations

import time
import uuid

import pytest

from svc_timeline.adapters.cql_home import CqlHomeTimelines
from svc_timeline.adapters.cql_user_timeline import CqlUserTimelines
from svc_timeline.domain import TimelineEntry
from tests.integration.scratch import scratch_cql_session

BIG = 1 << 60  # ids above 2**53, like every Snowflake id made since 2024


@pytest.fixture(scope="module")
async def session(stack):
    async with scratch_cql_session(stack) as opened:
        yield opened


@pytest.fixture
def homes(session) -> CqlHomeTimelines:
    return CqlHomeTimelines(session, session.scratch_keyspace)


@pytest.fixture
def user_timelines(session) -> CqlUserTimelines:
    return CqlUserTimelines(session, session.scratch_keyspace)


def _users(count: int) -> list[int]:
    base = uuid.uuid4().int >> 72  # fresh partitions for every test
    return [base + i for i in range(count)]


async def test_fan_out_reaches_every_home_once_however_often_it_is_delivered(homes):
    followers = _users(1200)  # several batches
    entry = TimelineEntry(BIG + 7, author_id=BIG + 1)
    started = time.perf_counter()
    await homes.insert_for_each(followers, entry)
    elapsed = time.perf_counter() - started
    await homes.insert_for_each(followers, entry)  # redelivered
    for follower in (followers[0], followers[599], followers[-1]):
        assert await homes.read(follower, None, 10) == [entry]
    print(f"fan-out to {len(followers)} homes: {elapsed * 1000:.0f} ms")


async def test_reads_are_newest_first_below_the_cursor_and_keep_retweet_fields(homes):
    (reader,) = _users(1)
    entries = [TimelineEntry(BIG + i, BIG + 100 + i % 3) for i in range(1, 26)]
    retweet = TimelineEntry(BIG + 30, BIG + 200, retweet_of_tweet_id=BIG + 2, retweet_of_author_id=BIG + 101)
    await homes.insert_many(reader, [*entries, retweet])
    first = await homes.read(reader, None, 10)
    assert first[0] == retweet and [e.tweet_id for e in first[1:]] == [BIG + i for i in range(25, 16, -1)]
    second = await homes.read(reader, first[-1].tweet_id, 10)
    assert [e.tweet_id for e in second] == [BIG + i for i in range(16, 6, -1)]
    assert second[0].retweet_of_tweet_id is None  # absent stays absent (written UNSET, not null)


async def test_removals_by_tweet_by_author_and_by_trimming(homes):
    readers = _users(3)
    entries = [TimelineEntry(BIG + i, BIG + 100 + i % 2) for i in range(1, 21)]
    for reader in readers:
        await homes.insert_many(reader, entries)
    await homes.remove_from_each(readers, BIG + 20)
    for reader in readers:
        assert (await homes.read(reader, None, 1))[0].tweet_id == BIG + 19

    removed = await homes.remove_matching(readers[0], lambda entry: entry.author_id == BIG + 100)
    assert sorted(removed) == [BIG + i for i in range(2, 20, 2)]
    assert {e.author_id for e in await homes.read(readers[0], None, 100)} == {BIG + 101}

    await homes.trim(readers[1], keep=5)
    assert [e.tweet_id for e in await homes.read(readers[1], None, 100)] == [BIG + i for i in range(19, 14, -1)]
    await homes.trim(readers[1], keep=5)  # nothing more to trim

    await homes.remove(readers[2], [BIG + 1, BIG + 2, BIG + 2])
    assert [e.tweet_id for e in await homes.read(readers[2], BIG + 4, 100)] == [BIG + 3]


async def test_user_timelines_hold_what_their_author_wrote(user_timelines):
    (author,) = _users(1)
    post = TimelineEntry(BIG + 1, author)
    retweet = TimelineEntry(BIG + 2, author, retweet_of_tweet_id=BIG - 5, retweet_of_author_id=BIG - 6)
    await user_timelines.insert(post)
    await user_timelines.insert(retweet)
    await user_timelines.insert(retweet)
    assert await user_timelines.read(author, None, 10) == [retweet, post]
    assert await user_timelines.read(author, BIG + 2, 10) == [post]
    await user_timelines.remove(author, [BIG + 1])
    assert await user_timelines.read(author, None, 10) == [retweet]
