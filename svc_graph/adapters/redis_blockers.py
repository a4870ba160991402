"""The blocker cache in Redis: per user, the complete set of users who block them.

Keys: `graph:blockers:v:<user>` (the version) and `graph:blockers:h1:<user>:<version>` (a hash: a
field per blocker id, value "1", plus the field "0" that marks the set complete: the number of
blockers, or "many" when there are more than the cache keeps); the versioning, expiry and failure
behaviour are mesh/redis_versioned.py's. `h1` names that format: a change of it takes a new tag,
and the old entries simply expire.

A hash rather than one value: a lookup asks for the candidates' fields and the marker only, in one
round trip (VersionedRedisCache.lookup_set), however many blockers the user has.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import redis.asyncio as aioredis

from mesh.redis_versioned import Completeness, VersionedRedisCache
from svc_graph.ports import CachedBlockers

FORMAT = "h1"


class RedisBlockerCache:
    def __init__(self, redis: aioredis.Redis, *, ttl_s: int = 600, prefix: str = "graph:blockers"):
        self._cache = VersionedRedisCache(
            redis, prefix=prefix, values_prefix=f"{prefix}:{FORMAT}", ttl_s=ttl_s,
            what="blockers", reason="BLOCKER_CACHE_UNAVAILABLE",
        )

    async def lookup(self, user_id: int, candidate_ids: Sequence[int]) -> CachedBlockers:
        cached = await self._cache.lookup_set(user_id, candidate_ids)
        among = set(cached.values) if cached.completeness is Completeness.COMPLETE else None
        return CachedBlockers(among, too_many=cached.completeness is Completeness.TOO_MANY, version=cached.version)

    async def store(self, user_id: int, blockers: Collection[int] | None, version: str | None) -> None:
        await self._cache.store_set(user_id, None if blockers is None else dict.fromkeys(blockers, "1"), version)

    async def invalidate(self, user_ids: Iterable[int]) -> None:
        await self._cache.invalidate(user_ids)
