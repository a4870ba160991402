"""The follow-count cache in Redis: "followers following" per user, invalidated by versions.

Keys: `graph:counts:v:<user>` (the version) and `graph:counts:<user>:<version>` (the counts); the
versioning, expiry and failure behaviour are mesh/redis_versioned.py's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import redis.asyncio as aioredis

from mesh.redis_versioned import VersionedRedisCache
from svc_graph.domain import FollowCounts
from svc_graph.ports import Cached, CachedCounts


class RedisCountCache:
    def __init__(self, redis: aioredis.Redis, *, ttl_s: int = 600, prefix: str = "graph:counts"):
        self._cache = VersionedRedisCache(
            redis, prefix=prefix, ttl_s=ttl_s, what="follower counts", reason="COUNT_CACHE_UNAVAILABLE"
        )

    async def lookup(self, user_ids: Sequence[int]) -> CachedCounts:
        raw = await self._cache.lookup(user_ids)
        hits = {}
        for user_id, value in raw.hits.items():
            followers, following = value.split()
            hits[user_id] = FollowCounts(int(followers), int(following))
        return Cached(hits, raw.versions)

    async def store(self, values: Mapping[int, FollowCounts], versions: Mapping[int, str]) -> None:
        await self._cache.store({u: f"{c.followers} {c.following}" for u, c in values.items()}, versions)

    async def invalidate(self, user_ids: Iterable[int]) -> None:
        await self._cache.invalidate(user_ids)
