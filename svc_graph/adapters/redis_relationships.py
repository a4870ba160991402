"""The relationship cache in Redis: per subject, a hash of the subject's relationships by target.

Keys: `graph:rel:v:<subject>` (the version) and `graph:rel:b1:<subject>:<version>` (a hash: field
target id, value the five flags as a bit mask in decimal, e.g. "5" = following and blocking); the
versioning, expiry and failure behaviour are mesh/redis_versioned.py's. `b1` names that format: a
change of it takes a new tag, and the old entries simply expire.

A relationship depends only on the edges between its two users, and every change of such an edge
replaces the versions of both (SocialGraph), so a subject's whole hash goes at once. Relationships
with nobody (all false, also for ids that do not exist) are cached like any other: the edge that
would change one invalidates it. A subject's hash may be complete (store_all, the marker of
VersionedRedisCache.lookup_set): every user they have an edge with is in it, so any other target
is answered "none" without a field of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import redis.asyncio as aioredis

from mesh.redis_versioned import Completeness, VersionedRedisCache
from svc_graph.domain import Relationship
from svc_graph.ports import CachedRelationships

log = logging.getLogger("svc_graph.redis_relationships")

FORMAT = "b1"
_FLAGS = ("following", "followed_by", "blocking", "blocked_by", "muting")  # bit 0, 1, ...


def encode_flags(relationship: Relationship) -> str:
    return str(sum(1 << bit for bit, flag in enumerate(_FLAGS) if getattr(relationship, flag)))


def decode_flags(subject_id: int, target_id: int, raw: bytes | str) -> Relationship:
    mask = int(raw)
    if not 0 <= mask < 1 << len(_FLAGS):
        raise ValueError(f"not a relationship mask: {mask}")
    return Relationship(subject_id, target_id, **{flag: bool(mask >> bit & 1) for bit, flag in enumerate(_FLAGS)})


class RedisRelationshipCache:
    def __init__(self, redis: aioredis.Redis, *, ttl_s: int = 600, prefix: str = "graph:rel"):
        self._cache = VersionedRedisCache(
            redis, prefix=prefix, values_prefix=f"{prefix}:{FORMAT}", ttl_s=ttl_s,
            what="relationships", reason="RELATIONSHIP_CACHE_UNAVAILABLE",
        )

    async def lookup(self, subject_id: int, target_ids: Sequence[int]) -> CachedRelationships:
        cached = await self._cache.lookup_set(subject_id, target_ids)
        hits = {}
        for target_id, value in cached.values.items():
            try:
                hits[target_id] = decode_flags(subject_id, target_id, value)
            except ValueError as exc:  # not this format: a miss, overwritten by the reread
                log.warning("unreadable cached relationship %d -> %d: %r", subject_id, target_id, exc)
        return CachedRelationships(
            hits, cached.version, complete=cached.completeness is Completeness.COMPLETE,
            too_many=cached.completeness is Completeness.TOO_MANY,
        )

    async def store(self, subject_id: int, relationships: Sequence[Relationship], version: str | None) -> None:
        await self._cache.store_fields(subject_id, {r.target_user_id: encode_flags(r) for r in relationships}, version)

    async def store_all(self, subject_id: int, relationships: Sequence[Relationship] | None, version: str | None) -> None:
        values = None if relationships is None else {r.target_user_id: encode_flags(r) for r in relationships}
        await self._cache.store_set(subject_id, values, version)

    async def invalidate(self, user_ids: Iterable[int]) -> None:
        await self._cache.invalidate(user_ids)
