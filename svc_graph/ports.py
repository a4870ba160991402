"""What the use cases of svc_graph need from the outside world, as small Protocols.

The composition root (main.py) passes the real adapters (adapters/); unit tests pass in-memory
fakes. Every method that does I/O is async and honours the caller's deadline (mesh.context).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from mesh.redis_versioned import Cached
from svc_graph.domain import (
    AccessToken,
    Account,
    Direction,
    Edge,
    EdgePage,
    FollowCounts,
    GraphChange,
    ListPosition,
    Relation,
    Relationship,
    RefreshTokenRecord,
    Rotation,
    User,
    UserCreated,
    UserUpdated,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current UTC time, to the millisecond (what the store keeps)."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> int: ...


class PasswordHasher(Protocol):
    """A slow salted hash (argon2id). Both calls take tens of milliseconds of CPU."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """True if the password matches; False for a wrong password or an unreadable hash."""
        ...


class TokenIssuer(Protocol):
    def issue(self, user_id: int, session_id: int, now: datetime) -> AccessToken: ...


class UserStore(Protocol):
    async def insert_unclaimed(self, user: User, password_hash: str) -> None:
        """Store the user's row; nothing refers to it until its handle is claimed."""
        ...

    async def claim_handle(self, handle: str, user_id: int, now: datetime) -> bool:
        """Make the handle (case-insensitively) point at the user, atomically: True if this call
        claimed it, False if another user holds it. The commit point of a sign-up."""
        ...

    async def discard_unclaimed(self, user_id: int) -> None:
        """Delete the row of a user whose handle claim failed."""
        ...

    async def announce_created(self, event: UserCreated) -> None:
        """Queue the event of a committed sign-up for publishing."""
        ...

    async def get(self, user_id: int) -> User | None: ...

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]:
        """The users that exist among `user_ids`, by id."""
        ...

    async def user_id_by_handle(self, handle: str) -> int | None:
        """Who holds the handle (case-insensitively), if anybody."""
        ...

    async def account_by_handle(self, handle: str) -> Account | None: ...

    async def update_profile(self, user: User, changed_fields: Sequence[str], event: UserUpdated, now: datetime) -> None:
        """Write the changed fields of `user` and queue the event, together."""
        ...


class GraphStore(Protocol):
    async def apply(self, change: GraphChange) -> None:
        """Add and remove edges (both directions, lists and lookups) and queue the events, as one
        atomic write: all of it is stored or none. Adding an existing edge overwrites it; removing
        a missing one does nothing."""
        ...

    async def edges_from(self, relation: Relation, source_id: int, target_ids: Sequence[int]) -> dict[int, Edge]:
        """The `relation` edges from `source_id` to any of `target_ids` (at most 100), by target id."""
        ...

    async def edges_to(self, relation: Relation, target_id: int, source_ids: Sequence[int]) -> dict[int, Edge]:
        """The `relation` edges to `target_id` from any of `source_ids` (at most 100), by source id."""
        ...

    async def page(
        self, relation: Relation, direction: Direction, user_id: int, after: ListPosition | None, limit: int
    ) -> EdgePage:
        """A user's edges, most recent first, starting after `after`."""
        ...

    async def count_follows(self, user_id: int) -> FollowCounts:
        """Exact counts, read from the edges themselves (costs a partition scan)."""
        ...

    async def sources_to(self, relation: Relation, target_id: int, limit: int) -> list[int]:
        """Up to `limit` of the users with a `relation` edge to `target_id` (who blocks them), in
        no particular order; one partition read."""
        ...

    async def targets_from(self, relation: Relation, source_id: int, limit: int) -> list[int]:
        """Up to `limit` of the users `source_id` has a `relation` edge to (whom they follow), in
        no particular order; one partition read."""
        ...


V = TypeVar("V")

CachedCounts = Cached[FollowCounts]
CachedUsers = Cached[User]


class VersionedCache(Protocol[V]):
    """A per-user cache invalidated by versions (mesh/redis_versioned.py explains them)."""

    async def lookup(self, user_ids: Sequence[int]) -> Cached[V]:
        """Cached values; a cache that cannot answer returns no hits rather than failing."""
        ...

    async def store(self, values: Mapping[int, V], versions: Mapping[int, str]) -> None:
        """Best effort, under the versions a lookup saw before the values were read: a failure only
        costs a store read later."""
        ...

    async def invalidate(self, user_ids: Iterable[int]) -> None:
        """Make every cached value of these users unreachable; called after each committed change.
        Raises if it could not, because the values would then stay stale; the change it follows
        is already committed and idempotent, so the caller retries the whole call."""
        ...


class CountCache(VersionedCache[FollowCounts], Protocol):
    """Follow counts, invalidated by every change of the user's follows."""


class UserCache(VersionedCache[User], Protocol):
    """Users as UserStore.get returns them, invalidated by every change of their row. Only users
    that exist are cached: an absent one is read from the store each time, so a sign-up never has
    a cached absence to undo."""


@dataclass(frozen=True)
class CachedRelationships:
    """What the relationship cache answered for one subject."""

    hits: dict[int, Relationship]  # by target id
    # the subject's cache version the lookup saw (see Cached.versions); None if the cache could not
    # answer, and then nothing read from the store may be stored
    version: str | None
    # every relationship of the subject is cached (store_all): a target not in `hits` has none
    complete: bool = False
    # the subject has more edges than the cache keeps whole: the misses are read per target
    too_many: bool = False


class RelationshipCache(Protocol):
    """Relationships (subject -> target) as relationships_between computes them, cached per subject
    under a version that every committed change of an edge of the subject replaces (a follow,
    block or mute of or by them, or its removal); failures behave as VersionedCache's."""

    async def lookup(self, subject_id: int, target_ids: Sequence[int]) -> CachedRelationships: ...

    async def store(self, subject_id: int, relationships: Sequence[Relationship], version: str | None) -> None: ...

    async def store_all(self, subject_id: int, relationships: Sequence[Relationship] | None, version: str | None) -> None:
        """Store the subject's relationships with everyone they have an edge with, marked complete
        (any other target: none); None: the subject has more edges than the cache keeps whole."""
        ...

    async def invalidate(self, user_ids: Iterable[int]) -> None: ...


class SessionStore(Protocol):
    async def save(self, record: RefreshTokenRecord, now: datetime) -> None:
        """Store a refresh token until its expire_time (writing the same record again is harmless
        and leaves a rotation already recorded on it in place)."""
        ...

    async def get(self, token_hash: bytes) -> RefreshTokenRecord | None: ...

    async def record_rotation(self, record: RefreshTokenRecord, rotation: Rotation) -> Rotation | None:
        """Mark the token exchanged, unless it already was: returns the rotation that counts (this
        one, or the one of a concurrent exchange that committed first); None if the token is gone
        (revoked or expired meanwhile)."""
        ...

    async def is_revoked(self, session_id: int) -> bool: ...

    async def revoke(self, session_id: int, now: datetime, token_hash: bytes | None = None) -> None:
        """End the session for good (and delete the token, when given)."""
        ...
