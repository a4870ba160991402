"""The caller's marks (liked, retweeted) on the tweets they are shown, on in-memory fakes: read from
the stores once, then served by the marks cache until a like, unlike, retweet or undo of the caller
changes them; a change is never hidden by a read that raced it, nor by a cache that was down."""

from __future__ import annotations

import pytest

from mesh.errors import Unavailable
from svc_tweet.service import TweetSettings
from tests.unit.test_tweet_service import ANN, BOB, CY, World

EVERY = "every"  # what a read of all of a caller's likes (or retweets) asks for


@pytest.fixture
def world() -> World:
    return World()


def store_reads(world: World) -> list[tuple[str, int, list[int]]]:
    """From now on, every read of the stores that answer caller_liked and caller_retweeted, as
    (store, caller, ids asked or EVERY)."""
    reads: list[tuple[str, int, list[int] | str]] = []
    liked_by, retweeted_by = world.like_store.liked_by, world.store.retweeted_by
    likes_of, retweets_of = world.like_store.likes_of, world.store.retweets_of

    async def liked(user_id, ids):
        reads.append(("likes", user_id, sorted(ids)))
        return await liked_by(user_id, ids)

    async def retweeted(user_id, ids):
        reads.append(("retweets", user_id, sorted(ids)))
        return await retweeted_by(user_id, ids)

    async def every_like(user_id, limit):
        reads.append(("likes", user_id, EVERY))
        return await likes_of(user_id, limit)

    async def every_retweet(user_id, limit):
        reads.append(("retweets", user_id, EVERY))
        return await retweets_of(user_id, limit)

    world.like_store.liked_by, world.store.retweeted_by = liked, retweeted
    world.like_store.likes_of, world.store.retweets_of = every_like, every_retweet
    return reads


async def marks(world: World, tweet_id: int, caller: int = ANN) -> tuple[bool, bool]:
    shown = await world.reader.get_tweet(caller, tweet_id)
    return shown.caller_liked, shown.caller_retweeted


async def test_a_second_hydration_by_the_same_caller_reads_neither_store(world):
    tweet_ids = [await world.post(BOB, f"t{i}") for i in range(3)]
    await world.likes.like_tweet(ANN, tweet_ids[0])
    await world.tweets.retweet(ANN, tweet_ids[1])
    reads = store_reads(world)

    first = await world.reader.batch_get_tweets(ANN, tweet_ids)
    assert sorted(reads) == [("likes", ANN, EVERY), ("retweets", ANN, EVERY)]
    reads.clear()
    second = await world.reader.batch_get_tweets(ANN, tweet_ids)
    assert reads == []
    shown = [(t.caller_liked, t.caller_retweeted) for t in second]
    assert shown == [(t.caller_liked, t.caller_retweeted) for t in first]
    assert shown == [(True, False), (False, True), (False, False)]

    await world.reader.batch_get_tweets(CY, tweet_ids)  # another caller's marks are their own
    assert {caller for _, caller, _ in reads} == {CY}


async def test_after_one_miss_a_tweet_never_shown_to_the_caller_is_answered_from_the_cache(world):
    a, b, c = [await world.post(BOB, f"t{i}") for i in range(3)]
    await world.likes.like_tweet(ANN, c)
    await world.reader.batch_get_tweets(ANN, [a])  # the miss caches every mark of ANN
    reads = store_reads(world)
    await world.likes.like_tweet(CY, b)  # someone else's like changes nothing of ANN's marks

    shown = await world.reader.batch_get_tweets(ANN, [a, b, c])

    assert reads == []
    assert [(t.caller_liked, t.caller_retweeted) for t in shown] == [(False, False), (False, False), (True, False)]


async def test_a_caller_with_more_marks_than_the_cache_keeps_whole_is_read_per_tweet():
    world = World(TweetSettings(default_page_size=3, max_cached_marks=1))
    a, b, c = [await world.post(BOB, f"t{i}") for i in range(3)]
    await world.likes.like_tweet(ANN, a)
    await world.likes.like_tweet(ANN, b)
    await world.reader.batch_get_tweets(ANN, [a, b])
    reads = store_reads(world)

    shown = await world.reader.batch_get_tweets(ANN, [a, b, c])

    assert sorted(reads) == [("likes", ANN, [c]), ("retweets", ANN, [c])]  # the too-many mark is cached too
    assert [t.caller_liked for t in shown] == [True, True, False]


async def test_likes_retweets_and_their_undoing_show_on_the_next_hydration(world):
    tweet_id = await world.post(BOB)
    assert await marks(world, tweet_id) == (False, False)  # now cached
    await world.likes.like_tweet(ANN, tweet_id)
    assert await marks(world, tweet_id) == (True, False)
    await world.tweets.retweet(ANN, tweet_id)
    assert await marks(world, tweet_id) == (True, True)
    await world.likes.unlike_tweet(ANN, tweet_id)
    assert await marks(world, tweet_id) == (False, True)
    await world.tweets.undo_retweet(ANN, tweet_id)
    assert await marks(world, tweet_id) == (False, False)
    retweet_id, _ = await world.tweets.retweet(ANN, tweet_id)
    assert await marks(world, tweet_id) == (False, True)
    await world.tweets.delete_tweet(ANN, retweet_id)  # deleting a retweet undoes it
    assert await marks(world, tweet_id) == (False, False)


async def test_marks_read_before_a_like_committed_are_never_served_after_it(world):
    tweet_id = await world.post(BOB)
    likes_of = world.like_store.likes_of

    async def liked_meanwhile(user_id, limit):
        before = await likes_of(user_id, limit)  # the reader read the store...
        await world.likes.like_tweet(ANN, tweet_id)  # ...then the like commits and invalidates...
        return before  # ...and the reader caches what it read, late

    world.like_store.likes_of = liked_meanwhile
    assert await marks(world, tweet_id) == (False, False)  # fine: the read began before the like
    world.like_store.likes_of = likes_of
    assert await marks(world, tweet_id) == (True, False)


async def _like(world: World, tweet_id: int) -> None:
    await world.likes.like_tweet(ANN, tweet_id)


async def _unlike(world: World, tweet_id: int) -> None:
    await world.likes.unlike_tweet(ANN, tweet_id)


async def _retweet(world: World, tweet_id: int) -> None:
    await world.tweets.retweet(ANN, tweet_id)


async def _undo_retweet(world: World, tweet_id: int) -> None:
    await world.tweets.undo_retweet(ANN, tweet_id)


@pytest.mark.parametrize(
    "before, change, after",
    [(None, _like, (True, False)), (_like, _unlike, (False, False)),
     (None, _retweet, (False, True)), (_retweet, _undo_retweet, (False, False))],
    ids=["like", "unlike", "retweet", "undo"],
)
async def test_a_change_the_cache_missed_asks_for_a_retry_which_shows_it(world, before, change, after):
    tweet_id = await world.post(BOB)
    if before is not None:
        await before(world, tweet_id)
    cached = await marks(world, tweet_id)

    world.marks.answering = False  # Redis is down
    with pytest.raises(Unavailable) as refused:
        await change(world, tweet_id)
    assert refused.value.reason == "MARKS_CACHE_UNAVAILABLE"
    assert await marks(world, tweet_id) == after  # committed, and read from the stores

    world.marks.answering = True  # back, with the marks of before the change
    assert await marks(world, tweet_id) == cached  # which is why the client was told to retry
    await change(world, tweet_id)  # the retry: nothing left to change, but it invalidates
    assert await marks(world, tweet_id) == after


async def test_a_new_tweet_is_answered_without_reading_marks_but_a_quoted_one_has_its_own(world):
    quoted = await world.post(BOB, "quote me")
    await world.likes.like_tweet(ANN, quoted)
    reads = store_reads(world)
    plain = await world.tweets.create_tweet(ANN, "nobody can have liked this yet", request_id="r-plain")
    assert (plain.caller_liked, plain.caller_retweeted) == (False, False)
    assert reads == []  # a tweet whose id was never given out has no marks to read

    quote = await world.tweets.create_tweet(ANN, "look", quoted_tweet_id=quoted)
    assert quote.quoted is not None and quote.quoted.caller_liked
    assert sorted(reads) == [("likes", ANN, EVERY), ("retweets", ANN, EVERY)]
