"""The hydration cache in Redis: each live tweet with its counts, invalidated by versions.

What is cached: a serialized tweetmesh.tweet.v1.Tweet with what every caller sees alike (text,
media without URLs, reference ids, mentions, counts, create_time); never caller_retweeted nor
caller_liked, never the author's profile (the graph service owns it) nor media URLs (they
expire). The Tweet message has no field for the author of a quoted or retweeted tweet, so those
travel as stubs of quoted_tweet / retweeted_tweet holding only tweet_id and author_id.

Layout, per tweet: `tweet:v:<id>` holds the tweet's current cache version (a random token), and
`tweet:<id>:<version>` the view computed under it. A reader that read the store just before a
delete or a count change committed stores its now stale view under the version it saw before
reading, and the writer replaces the version after committing, so the stale view lands where
nobody looks. Views live `ttl_s`, versions `2 * ttl_s` after the last change, so a version only
expires once every view stored under an earlier one expired too.

Never the source of truth: a Redis error or timeout makes lookups miss and stores and
invalidations no-ops (logged); the call goes on against the store. An invalidation that failed
leaves a view at most `ttl_s` old.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import timezone

import redis.asyncio as aioredis
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp
from redis.exceptions import RedisError

from mesh import context
from mesh.deps import REDIS_TIMEOUT_S
from mesh.errors import Unavailable
from svc_tweet.domain import MediaRef, Tweet, TweetCounts, TweetView
from svc_tweet.ports import CachedViews
from tweetmesh.tweet.v1 import tweet_pb2

log = logging.getLogger("svc_tweet.redis_cache")

_NO_VERSION = "0"  # a tweet that did not change since its version expired
# Unavailable: the caller's deadline is spent (mesh.context.remaining) - skip the cache, not the call
_CACHE_FAILURES = (RedisError, TimeoutError, OSError, Unavailable)


def _id(text: str) -> int | None:
    return int(text) if text else None


def encode_view(view: TweetView) -> bytes:
    tweet = view.tweet
    created = Timestamp()
    created.FromDatetime(tweet.create_time)
    message = tweet_pb2.Tweet(
        tweet_id=str(tweet.tweet_id),
        author_id=str(tweet.author_id),
        text=tweet.text,
        media=[
            tweet_pb2.Media(media_id=str(ref.media_id), owner_user_id=str(tweet.author_id), content_type=ref.content_type,
                            size_bytes=ref.size_bytes, state=tweet_pb2.MEDIA_STATE_READY)
            for ref in tweet.media
        ],
        in_reply_to_tweet_id=str(tweet.in_reply_to_tweet_id or ""),
        in_reply_to_user_id=str(tweet.in_reply_to_user_id or ""),
        quoted_tweet_id=str(tweet.quoted_tweet_id or ""),
        retweet_of_tweet_id=str(tweet.retweet_of_tweet_id or ""),
        mentioned_user_ids=[str(user_id) for user_id in tweet.mentioned_user_ids],
        retweet_count=view.counts.retweets,
        reply_count=view.counts.replies,
        quote_count=view.counts.quotes,
        like_count=view.counts.likes,
        comment_count=view.counts.comments,
        create_time=created,
    )
    if tweet.quoted_tweet_id is not None:
        message.quoted_tweet.CopyFrom(tweet_pb2.Tweet(tweet_id=str(tweet.quoted_tweet_id),
                                                      author_id=str(tweet.quoted_user_id or "")))
    if tweet.retweet_of_tweet_id is not None:
        message.retweeted_tweet.CopyFrom(tweet_pb2.Tweet(tweet_id=str(tweet.retweet_of_tweet_id),
                                                         author_id=str(tweet.retweet_of_user_id or "")))
    return message.SerializeToString()


def decode_view(raw: bytes) -> TweetView:
    message = tweet_pb2.Tweet.FromString(raw)
    tweet = Tweet(
        tweet_id=int(message.tweet_id),
        author_id=int(message.author_id),
        text=message.text,
        create_time=message.create_time.ToDatetime(tzinfo=timezone.utc),
        media=tuple(MediaRef(int(m.media_id), m.content_type, m.size_bytes) for m in message.media),
        in_reply_to_tweet_id=_id(message.in_reply_to_tweet_id),
        in_reply_to_user_id=_id(message.in_reply_to_user_id),
        quoted_tweet_id=_id(message.quoted_tweet_id),
        quoted_user_id=_id(message.quoted_tweet.author_id),
        retweet_of_tweet_id=_id(message.retweet_of_tweet_id),
        retweet_of_user_id=_id(message.retweeted_tweet.author_id),
        mentioned_user_ids=tuple(int(user_id) for user_id in message.mentioned_user_ids),
    )
    counts = TweetCounts(retweets=message.retweet_count, replies=message.reply_count, quotes=message.quote_count,
                         likes=message.like_count, comments=message.comment_count)
    return TweetView(tweet, counts)


class RedisTweetCache:
    def __init__(
        self, redis: aioredis.Redis, *, ttl_s: int = 3600, prefix: str = "tweet", timeout_s: float = REDIS_TIMEOUT_S
    ):
        self._redis = redis
        self._ttl_s = ttl_s
        self._prefix = prefix
        self._timeout_s = timeout_s

    def _version_key(self, tweet_id: int) -> str:
        return f"{self._prefix}:v:{tweet_id}"

    def _view_key(self, tweet_id: int, version: str) -> str:
        return f"{self._prefix}:{tweet_id}:{version}"

    async def lookup(self, tweet_ids: Sequence[int]) -> CachedViews:
        if not tweet_ids:
            return CachedViews({}, {})
        try:
            async with asyncio.timeout(context.remaining(self._timeout_s)):
                raw_versions = await self._redis.mget([self._version_key(t) for t in tweet_ids])
                versions = {t: (v.decode() if v else _NO_VERSION) for t, v in zip(tweet_ids, raw_versions)}
                raw_views = await self._redis.mget([self._view_key(t, versions[t]) for t in tweet_ids])
        except _CACHE_FAILURES as exc:
            log.warning("tweet cache unavailable, reading the store: %r", exc)
            return CachedViews({}, {})
        hits = {}
        for tweet_id, raw in zip(tweet_ids, raw_views):
            if not raw:
                continue
            try:
                hits[tweet_id] = decode_view(raw)
            except (DecodeError, ValueError):
                log.warning("unreadable cached view of tweet %d ignored", tweet_id)
        return CachedViews(hits, versions)

    async def store(self, views: Mapping[int, TweetView], versions: Mapping[int, str]) -> None:
        storable = {t: v for t, v in views.items() if t in versions}  # no version seen: the cache was down
        if not storable:
            return
        try:
            async with asyncio.timeout(context.remaining(self._timeout_s)):
                pipe = self._redis.pipeline(transaction=False)
                for tweet_id, view in storable.items():
                    pipe.set(self._view_key(tweet_id, versions[tweet_id]), encode_view(view), ex=self._ttl_s)
                await pipe.execute()
        except _CACHE_FAILURES as exc:
            log.warning("could not cache tweet views: %r", exc)

    async def invalidate(self, tweet_ids: Iterable[int]) -> None:
        ids = set(tweet_ids)
        if not ids:
            return
        try:
            async with asyncio.timeout(context.remaining(self._timeout_s)):
                pipe = self._redis.pipeline(transaction=False)
                for tweet_id in ids:
                    pipe.set(self._version_key(tweet_id), secrets.token_hex(8), ex=2 * self._ttl_s)
                await pipe.execute()
        except _CACHE_FAILURES as exc:
            # the change is committed; a cached view of it lives at most ttl_s
            log.warning("could not invalidate cached tweets %s (stale for up to %ds): %r", sorted(ids), self._ttl_s, exc)
