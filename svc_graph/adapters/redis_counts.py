"""The follow-count cache in Redis, invalidated by versions rather than deletes.

Layout, per user: `graph:counts:v:<user>` holds the user's current cache version (a random
token), and `graph:counts:<user>:<version>` the counts computed under it ("followers following").

Why versions: a reader that counted just before a follow committed could otherwise write its
stale count back after the writer deleted the cached one. Here the reader stores under the version
it saw before counting, and the writer replaces the version after committing, so a count that may
miss the change lands under a version nobody reads any more. Versions are random, never reused.

Expiry: counts live `ttl_s`, versions `2 * ttl_s` after the last change: a version can only
expire once every count stored under an earlier version expired too. The TTL only bounds memory;
exactness comes from the invalidation.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mesh import context
from mesh.deps import REDIS_TIMEOUT_S
from mesh.errors import Unavailable
from svc_graph.domain import FollowCounts
from svc_graph.ports import CachedCounts

log = logging.getLogger("svc_graph.redis_counts")

_NO_VERSION = "0"  # a user whose follows never changed since their version expired


class RedisCountCache:
    def __init__(self, redis: aioredis.Redis, *, ttl_s: int = 600, prefix: str = "graph:counts"):
        self._redis = redis
        self._ttl_s = ttl_s
        self._prefix = prefix

    def _version_key(self, user_id: int) -> str:
        return f"{self._prefix}:v:{user_id}"

    def _counts_key(self, user_id: int, version: str) -> str:
        return f"{self._prefix}:{user_id}:{version}"

    async def lookup(self, user_ids: Sequence[int]) -> CachedCounts:
        if not user_ids:
            return CachedCounts({}, {})
        try:
            async with asyncio.timeout(context.remaining(REDIS_TIMEOUT_S)):
                raw_versions = await self._redis.mget([self._version_key(u) for u in user_ids])
                versions = {u: (v.decode() if v else _NO_VERSION) for u, v in zip(user_ids, raw_versions)}
                raw_counts = await self._redis.mget([self._counts_key(u, versions[u]) for u in user_ids])
        except (RedisError, TimeoutError) as exc:
            # counting from the store is exact, only slower: serve without the cache
            log.warning("count cache unavailable, counting from the store: %r", exc)
            return CachedCounts({}, {})
        hits = {}
        for user_id, raw in zip(user_ids, raw_counts):
            if raw:
                followers, following = raw.split()
                hits[user_id] = FollowCounts(int(followers), int(following))
        return CachedCounts(hits, versions)

    async def store(self, counts: Mapping[int, FollowCounts], versions: Mapping[int, str]) -> None:
        storable = {u: c for u, c in counts.items() if u in versions}  # no version seen: cache was down
        if not storable:
            return
        try:
            async with asyncio.timeout(context.remaining(REDIS_TIMEOUT_S)):
                pipe = self._redis.pipeline(transaction=False)
                for user_id, c in storable.items():
                    pipe.set(self._counts_key(user_id, versions[user_id]), f"{c.followers} {c.following}", ex=self._ttl_s)
                await pipe.execute()
        except (RedisError, TimeoutError) as exc:
            log.warning("could not cache counts: %r", exc)

    async def invalidate(self, user_ids: Iterable[int]) -> None:
        try:
            async with asyncio.timeout(context.remaining(REDIS_TIMEOUT_S)):
                pipe = self._redis.pipeline(transaction=False)
                for user_id in set(user_ids):
                    pipe.set(self._version_key(user_id), secrets.token_hex(8), ex=2 * self._ttl_s)
                await pipe.execute()
        except (RedisError, TimeoutError) as exc:
            raise Unavailable(
                "the change is saved, but the follower counts could not be refreshed; retry the request",
                reason="COUNT_CACHE_UNAVAILABLE",
            ) from exc
