"""The Redis hydration cache: its format round-trips, and a broken or slow Redis never fails a read
(the adapter on stub clients, no server)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from mesh import context
from svc_tweet.adapters.redis_cache import RedisTweetCache, decode_view, encode_view
from svc_tweet.domain import MediaRef, Tweet, TweetCounts, TweetView
from svc_tweet.service import TweetReader, TweetSettings
from svc_tweet.testing import (
    FakeCommentStore,
    FakeLikeStore,
    FakeMarksCache,
    FakeObjectStore,
    FakeTweetStore,
    FakeUserDirectory,
)


def test_a_cached_view_round_trips_without_losing_references():
    tweet = Tweet(
        tweet_id=10, author_id=1, text="héllo @bob", create_time=datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=timezone.utc),
        media=(MediaRef(5, "image/png", 99), MediaRef(6, "image/webp", 7)),
        in_reply_to_tweet_id=8, in_reply_to_user_id=2, quoted_tweet_id=9, quoted_user_id=3,
        mentioned_user_ids=(2,),
    )
    view = TweetView(tweet, TweetCounts(retweets=1, replies=2, quotes=3, likes=4, comments=5))
    assert decode_view(encode_view(view)) == view
    retweet = Tweet(tweet_id=11, author_id=4, text="", create_time=tweet.create_time,
                    retweet_of_tweet_id=10, retweet_of_user_id=1)
    assert decode_view(encode_view(TweetView(retweet, TweetCounts()))).tweet == retweet


class BrokenRedis:
    async def mget(self, keys):
        raise RedisConnectionError("Connection refused")

    def pipeline(self, transaction=False):
        raise RedisConnectionError("Connection refused")


class HangingRedis:
    async def mget(self, keys):
        await asyncio.sleep(60)

    def pipeline(self, transaction=False):
        return self

    def set(self, *args, **kwargs):
        return self

    async def execute(self):
        await asyncio.sleep(60)


@pytest.mark.parametrize("redis", [BrokenRedis(), HangingRedis()], ids=["refused", "hanging"])
async def test_reads_fall_back_to_the_store_when_redis_fails(redis):
    store = FakeTweetStore()
    created = datetime(2025, 3, 1, tzinfo=timezone.utc)
    await store.create(Tweet(tweet_id=7, author_id=1, text="still here", create_time=created), ())
    cache = RedisTweetCache(redis, timeout_s=0.05)
    reader = TweetReader(store, cache, FakeUserDirectory(), FakeObjectStore(), TweetSettings(),
                         likes=FakeLikeStore(), comments=FakeCommentStore(), marks=FakeMarksCache())
    token = context.deadline.set(time.monotonic() + 2.0)
    started = time.monotonic()
    try:
        (found,) = await reader.batch_get_tweets(1, [7])
        assert found.tweet.text == "still here"
        assert time.monotonic() - started < 0.5  # a hanging cache costs at most its timeout
        await cache.invalidate([7])  # a write's invalidation does not fail either
    finally:
        context.deadline.reset(token)
