"""The caller-marks cache in Redis: per user, what they did to each original tweet they were shown.

Keys: `tweet:marks:v:<user>` (the version) and `tweet:marks:m1:<user>:<version>` (a hash: field the
original tweet id, value `l` liked, `r` retweeted, `lr` both, `-` neither); the versioning, expiry
and failure behaviour are mesh/redis_versioned.py's. `m1` names that format: a change of it takes a
new tag, and the old entries simply expire.

Every committed like, unlike, retweet and undo by the user replaces their version, so their whole
hash goes at once. Tweets the user did nothing to (`-`, most of a timeline) are cached like any
other: the like or retweet that would change one invalidates it. A user's hash may be complete
(store_all, the marker of VersionedRedisCache.lookup_set): every tweet they liked or retweeted is
in it, so any other tweet is answered "neither" without a field of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis.asyncio as aioredis

from mesh.redis_versioned import Completeness, VersionedRedisCache
from svc_tweet.domain import CallerMarks
from svc_tweet.ports import CachedMarks

FORMAT = "m1"
_CODES = {
    CallerMarks(): "-",
    CallerMarks(liked=True): "l",
    CallerMarks(retweeted=True): "r",
    CallerMarks(liked=True, retweeted=True): "lr",
}
_MARKS = {code.encode(): marks for marks, code in _CODES.items()}


def encode_marks(marks: CallerMarks) -> str:
    return _CODES[marks]


def decode_marks(raw: bytes) -> CallerMarks | None:
    """None for a value not of this format (a miss, overwritten by the reread)."""
    return _MARKS.get(raw)


class RedisMarksCache:
    def __init__(self, redis: aioredis.Redis, *, ttl_s: int = 3600, prefix: str = "tweet:marks"):
        self._cache = VersionedRedisCache(
            redis, prefix=prefix, values_prefix=f"{prefix}:{FORMAT}", ttl_s=ttl_s,
            what="liked/retweeted marks", reason="MARKS_CACHE_UNAVAILABLE",
        )

    async def lookup(self, user_id: int, tweet_ids: Sequence[int]) -> CachedMarks:
        cached = await self._cache.lookup_set(user_id, tweet_ids)
        decoded = {tweet_id: decode_marks(value) for tweet_id, value in cached.values.items()}
        return CachedMarks(
            {tweet_id: marks for tweet_id, marks in decoded.items() if marks is not None}, cached.version,
            complete=cached.completeness is Completeness.COMPLETE, too_many=cached.completeness is Completeness.TOO_MANY,
        )

    async def store(self, user_id: int, marks: Mapping[int, CallerMarks], version: str | None) -> None:
        await self._cache.store_fields(user_id, {t: encode_marks(m) for t, m in marks.items()}, version)

    async def store_all(self, user_id: int, marks: Mapping[int, CallerMarks] | None, version: str | None) -> None:
        values = None if marks is None else {t: encode_marks(m) for t, m in marks.items()}
        await self._cache.store_set(user_id, values, version)

    async def invalidate(self, user_id: int) -> None:
        await self._cache.invalidate([user_id])
