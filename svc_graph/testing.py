"""In-memory fakes of svc_graph's ports, for unit tests: no I/O, same contracts as the adapters.

Each fake keeps what the real store keeps and records the events it was given, so tests assert on
behaviour (who follows whom, what was announced) rather than on calls. The fakes of the Clock and
IdGenerator ports are mesh.testing's (ManualClock, SequentialIds).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from mesh.errors import Unavailable
from svc_graph.domain import (
    AccessToken,
    Account,
    Direction,
    Edge,
    EdgePage,
    FollowCounts,
    GraphChange,
    GraphEvent,
    ListPosition,
    RefreshTokenRecord,
    Relation,
    Relationship,
    Rotation,
    User,
    UserCreated,
    UserUpdated,
    handle_key,
)
from svc_graph.ports import Cached, CachedRelationships

V = TypeVar("V")


class FakePasswordHasher:
    """Fast and obviously fake; counts verifications to check the timing-equaliser runs."""

    def __init__(self) -> None:
        self.verifications = 0

    async def hash(self, password: str) -> str:
        return "fake$" + hashlib.sha256(password.encode()).hexdigest()

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        return password_hash == await self.hash(password)


class FakeTokenIssuer:
    def __init__(self, ttl: timedelta = timedelta(minutes=15)):
        self._ttl = ttl
        self._serial = itertools.count(1)

    def issue(self, user_id: int, session_id: int, now: datetime) -> AccessToken:
        return AccessToken(f"access-{user_id}-{session_id}-{next(self._serial)}", now + self._ttl)


class FakeUserStore:
    def __init__(self) -> None:
        self.rows: dict[int, tuple[User, str]] = {}
        self.handles: dict[str, int] = {}
        self.events: list[GraphEvent] = []
        self.rows_read = 0  # by get and get_many: what a cache in front of the store saves

    async def insert_unclaimed(self, user: User, password_hash: str) -> None:
        self.rows[user.user_id] = (user, password_hash)

    async def claim_handle(self, handle: str, user_id: int, now: datetime) -> bool:
        # check and set with no await between: atomic on the event loop, like IF NOT EXISTS
        return self.handles.setdefault(handle_key(handle), user_id) == user_id

    async def discard_unclaimed(self, user_id: int) -> None:
        self.rows.pop(user_id, None)

    async def announce_created(self, event: UserCreated) -> None:
        self.events.append(event)

    async def get(self, user_id: int) -> User | None:
        self.rows_read += 1
        row = self.rows.get(user_id)
        return None if row is None else row[0]

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]:
        self.rows_read += len(user_ids)
        return {u: self.rows[u][0] for u in user_ids if u in self.rows}

    async def user_id_by_handle(self, handle: str) -> int | None:
        return self.handles.get(handle_key(handle))

    async def account_by_handle(self, handle: str) -> Account | None:
        user_id = self.handles.get(handle_key(handle))
        return None if user_id is None else Account(user_id, self.rows[user_id][1])

    async def update_profile(self, user: User, changed_fields: Sequence[str], event: UserUpdated, now: datetime) -> None:
        self.rows[user.user_id] = (user, self.rows[user.user_id][1])
        self.events.append(event)


class FakeGraphStore:
    def __init__(self) -> None:
        self.edges: dict[tuple[Relation, int, int], datetime] = {}
        self.events: list[GraphEvent] = []
        self.changes: list[GraphChange] = []
        self.lookups = 0  # edges_from, edges_to and sources_to calls: what a cache in front of the store saves

    async def apply(self, change: GraphChange) -> None:
        for edge in change.added:
            self.edges[(edge.relation, edge.source_id, edge.target_id)] = edge.create_time
        for edge in change.removed:
            self.edges.pop((edge.relation, edge.source_id, edge.target_id), None)
        self.events.extend(change.events)
        self.changes.append(change)

    def has(self, relation: Relation, source_id: int, target_id: int) -> bool:
        return (relation, source_id, target_id) in self.edges

    async def edges_from(self, relation: Relation, source_id: int, target_ids: Sequence[int]) -> dict[int, Edge]:
        self.lookups += 1
        return {
            t: Edge(relation, source_id, t, self.edges[(relation, source_id, t)])
            for t in target_ids
            if (relation, source_id, t) in self.edges
        }

    async def edges_to(self, relation: Relation, target_id: int, source_ids: Sequence[int]) -> dict[int, Edge]:
        self.lookups += 1
        return {
            s: Edge(relation, s, target_id, self.edges[(relation, s, target_id)])
            for s in source_ids
            if (relation, s, target_id) in self.edges
        }

    async def sources_to(self, relation: Relation, target_id: int, limit: int) -> list[int]:
        self.lookups += 1
        return [s for (r, s, t) in self.edges if r is relation and t == target_id][:limit]

    async def targets_from(self, relation: Relation, source_id: int, limit: int) -> list[int]:
        self.lookups += 1
        return [t for (r, s, t) in self.edges if r is relation and s == source_id][:limit]

    async def page(
        self, relation: Relation, direction: Direction, user_id: int, after: ListPosition | None, limit: int
    ) -> EdgePage:
        outgoing = direction is Direction.OUTGOING
        mine = [
            Edge(r, s, t, at)
            for (r, s, t), at in self.edges.items()
            if r is relation and (s if outgoing else t) == user_id
        ]

        def key(edge: Edge) -> tuple[int, int]:
            return int(edge.create_time.timestamp() * 1000), edge.other_than(user_id)

        ordered = sorted(mine, key=key, reverse=True)  # newest first, like the *_by_time tables
        if after is not None:
            ordered = [e for e in ordered if key(e) < (after.create_time_ms, after.other_id)]
        page, more = ordered[:limit], len(ordered) > limit
        return EdgePage(page, ListPosition(*key(page[-1])) if more else None)

    async def count_follows(self, user_id: int) -> FollowCounts:
        followers = sum(1 for (r, _, t) in self.edges if r is Relation.FOLLOW and t == user_id)
        following = sum(1 for (r, s, _) in self.edges if r is Relation.FOLLOW and s == user_id)
        return FollowCounts(followers, following)


class _FakeVersionedCache(Generic[V]):
    """Versioned like the Redis caches: a value stored under a version invalidated since is lost."""

    unavailable_reason = ""

    def __init__(self) -> None:
        self.values: dict[tuple[int, str], V] = {}
        self.versions: dict[int, int] = {}
        self.fail_invalidation = False

    async def lookup(self, user_ids: Sequence[int]) -> Cached[V]:
        versions = {u: str(self.versions.get(u, 0)) for u in user_ids}
        hits = {u: self.values[(u, v)] for u, v in versions.items() if (u, v) in self.values}
        return Cached(hits, versions)

    async def store(self, values: Mapping[int, V], versions: Mapping[int, str]) -> None:
        for user_id, value in values.items():
            if user_id in versions:  # like the adapters: no version seen, nothing stored
                self.values[(user_id, versions[user_id])] = value

    async def invalidate(self, user_ids: Iterable[int]) -> None:
        if self.fail_invalidation:
            raise Unavailable("cache down", reason=self.unavailable_reason)
        for user_id in user_ids:
            self.versions[user_id] = self.versions.get(user_id, 0) + 1


class FakeCountCache(_FakeVersionedCache[FollowCounts]):
    unavailable_reason = "COUNT_CACHE_UNAVAILABLE"


class FakeUserCache(_FakeVersionedCache[User]):
    unavailable_reason = "USER_CACHE_UNAVAILABLE"


class FakeRelationshipCache:
    """Per subject, relationships by target under the subject's version, like the Redis hash (with
    its completeness marker under the target 0)."""

    def __init__(self) -> None:
        self._cache = _FakeVersionedCache[dict[int, Relationship | str]]()
        self._cache.unavailable_reason = "RELATIONSHIP_CACHE_UNAVAILABLE"

    @property
    def fail_invalidation(self) -> bool:
        return self._cache.fail_invalidation

    @fail_invalidation.setter
    def fail_invalidation(self, fail: bool) -> None:
        self._cache.fail_invalidation = fail

    async def lookup(self, subject_id: int, target_ids: Sequence[int]) -> CachedRelationships:
        cached = await self._cache.lookup([subject_id])
        by_target = cached.hits.get(subject_id, {})
        marker = by_target.get(0)
        return CachedRelationships(
            {t: by_target[t] for t in target_ids if t in by_target and t != 0}, cached.versions[subject_id],
            complete=marker == "complete", too_many=marker == "many",
        )

    async def store(self, subject_id: int, relationships: Sequence[Relationship], version: str | None) -> None:
        await self._store(subject_id, {r.target_user_id: r for r in relationships}, version)

    async def store_all(self, subject_id: int, relationships: Sequence[Relationship] | None, version: str | None) -> None:
        if relationships is None:
            await self._store(subject_id, {0: "many"}, version)
        else:
            await self._store(subject_id, {0: "complete", **{r.target_user_id: r for r in relationships}}, version)

    async def _store(self, subject_id: int, values: dict[int, Relationship | str], version: str | None) -> None:
        if version is None:
            return
        by_target = dict(self._cache.values.get((subject_id, version), {}))
        by_target.update(values)
        await self._cache.store({subject_id: by_target}, {subject_id: version})

    async def invalidate(self, user_ids: Iterable[int]) -> None:
        await self._cache.invalidate(user_ids)


class FakeSessionStore:
    def __init__(self) -> None:
        self.records: dict[bytes, RefreshTokenRecord] = {}
        self.revoked: set[int] = set()

    async def save(self, record: RefreshTokenRecord, now: datetime) -> None:
        existing = self.records.get(record.token_hash)
        if existing is not None and existing.rotate_time is not None:
            # like the CQL insert, which leaves the rotation columns alone
            record = RefreshTokenRecord(
                record.token_hash, record.session_id, record.user_id, record.issue_time, record.expire_time,
                existing.rotate_time, existing.rotation_nonce,
            )
        self.records[record.token_hash] = record

    async def get(self, token_hash: bytes) -> RefreshTokenRecord | None:
        return self.records.get(token_hash)

    async def record_rotation(self, record: RefreshTokenRecord, rotation: Rotation) -> Rotation | None:
        current = self.records.get(record.token_hash)
        if current is None:
            return None
        if current.rotate_time is not None and current.rotation_nonce is not None:
            return Rotation(current.rotate_time, current.rotation_nonce)
        self.records[record.token_hash] = RefreshTokenRecord(
            current.token_hash, current.session_id, current.user_id, current.issue_time, current.expire_time,
            rotation.rotate_time, rotation.nonce,
        )
        return rotation

    async def is_revoked(self, session_id: int) -> bool:
        return session_id in self.revoked

    async def revoke(self, session_id: int, now: datetime, token_hash: bytes | None = None) -> None:
        self.revoked.add(session_id)
        if token_hash is not None:
            self.records.pop(token_hash, None)
