"""The blocker cache in Redis: per user, the complete set of users who block them.

Keys: `graph:blockers:v:<user>` (the version) and `graph:blockers:h1:<user>:<version>` (a hash: a
field per blocker id, value "1", plus the field "0" that marks the set complete: the number of
blockers, or "many" when there are more than the cache keeps); the versioning, expiry and failure
behaviour are mesh/redis_versioned.py's. `h1` names that format: a change of it takes a new tag,
and the old entries simply expire.

A hash rather than one value: a lookup asks for the candidates' fields and the marker only, in one
round trip (VersionedRedisCache.lookup_fields), however many blockers the user has. The whole set
is written by one HSET, marker included, so a reader that sees the marker sees every blocker.
User ids start at 1, so the marker's field is nobody's.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence

import redis.asyncio as aioredis

from mesh.redis_versioned import VersionedRedisCache
from svc_graph.ports import CachedBlockers

log = logging.getLogger("svc_graph.redis_blockers")

FORMAT = "h1"
_COMPLETE = 0  # the marker's field
_TOO_MANY = b"many"


class RedisBlockerCache:
    def __init__(self, redis: aioredis.Redis, *, ttl_s: int = 600, prefix: str = "graph:blockers"):
        self._cache = VersionedRedisCache(
            redis, prefix=prefix, values_prefix=f"{prefix}:{FORMAT}", ttl_s=ttl_s,
            what="blockers", reason="BLOCKER_CACHE_UNAVAILABLE",
        )

    async def lookup(self, user_id: int, candidate_ids: Sequence[int]) -> CachedBlockers:
        candidates = [c for c in dict.fromkeys(candidate_ids) if c != _COMPLETE]
        raw, version = await self._cache.lookup_fields(user_id, [_COMPLETE, *candidates])
        marker = raw.pop(_COMPLETE, None)
        if marker is None:
            return CachedBlockers(None, too_many=False, version=version)
        if marker == _TOO_MANY:
            return CachedBlockers(None, too_many=True, version=version)
        return CachedBlockers(set(raw), too_many=False, version=version)

    async def store(self, user_id: int, blockers: Collection[int] | None, version: str | None) -> None:
        if blockers is None:
            values: dict[int, bytes | str] = {_COMPLETE: _TOO_MANY}
        else:
            values = {_COMPLETE: str(len(blockers)), **{blocker: "1" for blocker in blockers}}
        await self._cache.store_fields(user_id, values, version)

    async def invalidate(self, user_ids: Iterable[int]) -> None:
        await self._cache.invalidate(user_ids)
