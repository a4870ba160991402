"""Per-user caches in Redis invalidated by versions rather than deletes (svc_graph's follow counts,
user rows and relationships, svc_tweet's caller marks).

Layout, per user: `<prefix>:v:<user>` holds the user's current cache version (a random token), and
`<values_prefix>:<user>:<version>` the value computed under it (`values_prefix` carries the
encoding's format, so a new format never reads an old one; the versions stay shared, so writers on
either format invalidate both).

Why versions: a reader that read the store just before a change committed could otherwise write
its stale value back after the writer deleted the cached one. Here the reader stores under the
version it saw before reading, and the writer replaces the version after committing, so a value
that may miss the change lands under a version nobody reads any more. Versions are random, never
reused.

A user's value is either one string (`lookup`/`store`: follow counts, user rows) or a hash of
fields under the same key (`lookup_fields`/`store_fields`: relationships, a field per other user),
which a reader fills field by field; one version still covers the whole hash. A hash may also be
marked complete (`lookup_set`/`store_set`): the field 0 (user and tweet ids start at 1, so it is
nobody's) then says the hash holds every field there is (their number) or that there were more
than the cache keeps ("many"), so a field missing from a complete hash is known to be absent, and
a lookup of any ids, asked before or not, is answered without the store. `lookup_fields` is
one round trip: a small Lua script reads the version and the fields under it (the hash key depends
on the version, so a pipeline cannot). The script names only the version key in KEYS, which a single
Redis allows; on Redis Cluster both keys would first need one hash slot (a `{user}` tag).

Expiry: values live `ttl_s`, versions `2 * ttl_s` after the last change: a version can only expire
once every value stored under an earlier version expired too (readers store within their call's
deadline, far below `ttl_s`; a hash's expiry is renewed by each store into it, all under its
own version). The TTL only bounds memory; exactness comes from the invalidation.

Failures: a lookup that Redis cannot answer misses everything (logged; the caller reads the store)
and a failed store is only logged. A failed invalidation raises Unavailable: the change is
committed but a stale value may still be served, so the client must retry the (idempotent) call,
whose retry invalidates again.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mesh import context
from mesh.deps import REDIS_TIMEOUT_S
from mesh.errors import Unavailable

log = logging.getLogger("mesh.redis_versioned")

_NO_VERSION = "0"  # a user who did not change since their version expired

# KEYS[1] the version key; ARGV: the version when there is none, the user's values prefix, the fields
_LOOKUP_FIELDS = """
local version = redis.call('GET', KEYS[1]) or ARGV[1]
return {version, redis.call('HMGET', ARGV[2] .. ':' .. version, unpack(ARGV, 3))}
"""

V = TypeVar("V")

COMPLETE_FIELD = 0  # the marker field of a complete hash (see lookup_set)
_TOO_MANY = b"many"


class Completeness(enum.Enum):
    UNKNOWN = "unknown"  # the hash holds what readers put in it, field by field
    COMPLETE = "complete"  # the hash holds every field there is: one not in it is absent
    TOO_MANY = "too_many"  # there were more than the cache keeps whole: ask field by field


@dataclass(frozen=True)
class CachedSet:
    """What `lookup_set` answered for one user."""

    values: dict[int, bytes]  # of the fields asked, those in the hash
    completeness: Completeness
    version: str | None  # as lookup_fields': None if Redis could not answer


@dataclass(frozen=True)
class Cached(Generic[V]):
    """What a per-user cache answered."""

    hits: dict[int, V]
    # per user, the cache version the lookup saw: values read from the store after the lookup may
    # be stored under it, and an invalidation in between makes them unreachable instead of stale
    versions: dict[int, str]


class VersionedRedisCache:
    """Raw values (bytes in, bytes out) by user id; the services' cache adapters encode on top of it.

    `what` names the cached values in logs and in the error of a failed invalidation, `reason` is
    that error's ErrorInfo reason.
    """

    def __init__(
        self, redis: aioredis.Redis, *, prefix: str, values_prefix: str | None = None, ttl_s: int, what: str, reason: str
    ):
        self._redis = redis
        self._prefix = prefix
        self._values_prefix = values_prefix or prefix
        self._ttl_s = ttl_s
        self._what = what
        self._reason = reason
        self._lookup_fields = redis.register_script(_LOOKUP_FIELDS)

    def _version_key(self, user_id: int) -> str:
        return f"{self._prefix}:v:{user_id}"

    def _values_of(self, user_id: int) -> str:
        return f"{self._values_prefix}:{user_id}"

    def _value_key(self, user_id: int, version: str) -> str:
        return f"{self._values_of(user_id)}:{version}"

    async def lookup(self, user_ids: Sequence[int]) -> Cached[bytes]:
        """Two MGETs (versions, then the values under them), whatever the number of users."""
        if not user_ids:
            return Cached({}, {})
        try:
            async with asyncio.timeout(context.remaining(REDIS_TIMEOUT_S)):
                raw_versions = await self._redis.mget([self._version_key(u) for u in user_ids])
                versions = {u: (v.decode() if v else _NO_VERSION) for u, v in zip(user_ids, raw_versions)}
                raw_values = await self._redis.mget([self._value_key(u, versions[u]) for u in user_ids])
        except (RedisError, TimeoutError) as exc:
            # the store is exact, only slower: serve without the cache
            log.warning("%s cache unavailable, reading the store: %r", self._what, exc)
            return Cached({}, {})
        return Cached({u: raw for u, raw in zip(user_ids, raw_values) if raw}, versions)

    async def store(self, values: Mapping[int, bytes | str], versions: Mapping[int, str]) -> None:
        """Best effort, under the versions a lookup saw before the values were read."""
        storable = {u: v for u, v in values.items() if u in versions}  # no version seen: cache was down
        if not storable:
            return
        try:
            async with asyncio.timeout(context.remaining(REDIS_TIMEOUT_S)):
                pipe = self._redis.pipeline(transaction=False)
                for user_id, value in storable.items():
                    pipe.set(self._value_key(user_id, versions[user_id]), value, ex=self._ttl_s)
                await pipe.execute()
        except (RedisError, TimeoutError) as exc:
            log.warning("could not cache %s: %r", self._what, exc)

    async def lookup_fields(self, user_id: int, fields: Sequence[int]) -> tuple[dict[int, bytes], str | None]:
        """The fields of one user's hash cached under their current version, and that version
        (None if Redis could not answer: then no hits, and nothing may be stored)."""
        if not fields:
            return {}, None
        try:
            async with asyncio.timeout(context.remaining(REDIS_TIMEOUT_S)):
                raw_version, raw_values = await self._lookup_fields(
                    keys=[self._version_key(user_id)], args=[_NO_VERSION, self._values_of(user_id), *fields]
                )
        except (RedisError, TimeoutError) as exc:
            log.warning("%s cache unavailable, reading the store: %r", self._what, exc)
            return {}, None
        return {f: raw for f, raw in zip(fields, raw_values) if raw is not None}, raw_version.decode()

    async def store_fields(self, user_id: int, values: Mapping[int, bytes | str], version: str | None) -> None:
        """Best effort, into the hash under the version a lookup_fields saw before the values were read."""
        if version is None or not values:
            return
        key = self._value_key(user_id, version)
        try:
            async with asyncio.timeout(context.remaining(REDIS_TIMEOUT_S)):
                pipe = self._redis.pipeline(transaction=False)
                pipe.hset(key, mapping=dict(values))
                pipe.expire(key, self._ttl_s)
                await pipe.execute()
        except (RedisError, TimeoutError) as exc:
            log.warning("could not cache %s: %r", self._what, exc)

    async def lookup_set(self, user_id: int, fields: Sequence[int]) -> CachedSet:
        """lookup_fields, and whether the hash is complete: the same one round trip."""
        asked = [f for f in dict.fromkeys(fields) if f != COMPLETE_FIELD]
        values, version = await self.lookup_fields(user_id, [COMPLETE_FIELD, *asked])
        marker = values.pop(COMPLETE_FIELD, None)
        if marker is None:
            completeness = Completeness.UNKNOWN
        else:
            completeness = Completeness.TOO_MANY if marker == _TOO_MANY else Completeness.COMPLETE
        return CachedSet(values, completeness, version)

    async def store_set(self, user_id: int, values: Mapping[int, bytes | str] | None, version: str | None) -> None:
        """Store the user's every field, marked complete, in one HSET (a reader that sees the
        marker sees every field); None: there are more than the cache keeps whole."""
        if values is None:
            marked: dict[int, bytes | str] = {COMPLETE_FIELD: _TOO_MANY}
        else:
            marked = {COMPLETE_FIELD: str(len(values)), **values}
        await self.store_fields(user_id, marked, version)

    async def invalidate(self, user_ids: Iterable[int]) -> None:
        wanted = set(user_ids)
        if not wanted:
            return
        try:
            async with asyncio.timeout(context.remaining(REDIS_TIMEOUT_S)):
                pipe = self._redis.pipeline(transaction=False)
                for user_id in wanted:
                    pipe.set(self._version_key(user_id), secrets.token_hex(8), ex=2 * self._ttl_s)
                await pipe.execute()
        except (RedisError, TimeoutError) as exc:
            raise Unavailable(
                f"the change is saved, but the {self._what} could not be refreshed; retry the request",
                reason=self._reason,
            ) from exc
