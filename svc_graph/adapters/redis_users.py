"""The user-row cache in Redis: each user as UserStore.get returns them, invalidated by versions.

Keys: `graph:users:v:<user>` (the version) and `graph:users:j1:<user>:<version>` (the user); the
versioning, expiry and failure behaviour are mesh/redis_versioned.py's. The value is the JSON
array `[handle, display_name, bio, create_time in µs since the epoch]` (the id is in the key). `j1`
names that format: a change of it takes a new tag, and the old entries simply expire.

Only users that exist are cached. A cached absence would have to be undone by the sign-up that
creates the user, and a sign-up cannot fail after its handle claim committed (a retry would only
hear HANDLE_TAKEN), so a failed invalidation there would have nowhere to go; absent ids are rare
reads anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone

import redis.asyncio as aioredis

from mesh.redis_versioned import VersionedRedisCache
from svc_graph.domain import User
from svc_graph.ports import Cached, CachedUsers

log = logging.getLogger("svc_graph.redis_users")

FORMAT = "j1"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def encode_user(user: User) -> str:
    return json.dumps(
        [user.handle, user.display_name, user.bio, (user.create_time - _EPOCH) // _MICROSECOND],
        ensure_ascii=False, separators=(",", ":"),
    )


def decode_user(user_id: int, raw: bytes | str) -> User:
    handle, display_name, bio, create_time_us = json.loads(raw)
    return User(user_id, handle, display_name, bio, _EPOCH + create_time_us * _MICROSECOND)


class RedisUserCache:
    def __init__(self, redis: aioredis.Redis, *, ttl_s: int = 600, prefix: str = "graph:users"):
        self._cache = VersionedRedisCache(
            redis, prefix=prefix, values_prefix=f"{prefix}:{FORMAT}", ttl_s=ttl_s,
            what="cached profiles", reason="USER_CACHE_UNAVAILABLE",
        )

    async def lookup(self, user_ids: Sequence[int]) -> CachedUsers:
        raw = await self._cache.lookup(user_ids)
        hits = {}
        for user_id, value in raw.hits.items():
            try:
                hits[user_id] = decode_user(user_id, value)
            except (ValueError, TypeError) as exc:  # not this format: a miss, overwritten by the reread
                log.warning("unreadable cached user %d: %r", user_id, exc)
        return Cached(hits, raw.versions)

    async def store(self, values: Mapping[int, User], versions: Mapping[int, str]) -> None:
        await self._cache.store({u: encode_user(user) for u, user in values.items()}, versions)

    async def invalidate(self, user_ids: Iterable[int]) -> None:
        await self._cache.invalidate(user_ids)
