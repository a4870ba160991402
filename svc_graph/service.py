"""The use cases of svc_graph: sign-up and profiles, sessions, and the social graph.

Plain async classes over the ports (ports.py); they raise the typed errors of domain.py and never
see protobuf or gRPC. The caller is passed in as a user id (None when anonymous), which grpc_api.py
takes from the verified identity of the call, never from a request body.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from mesh.errors import NotTheCaller, UserNotFound, require_caller
from mesh.paging import decode_page_token, encode_page_token, page_size
from mesh.shared_loads import SharedLoads, unshared
from svc_graph.domain import (
    REFRESH_REUSE_GRACE,
    REFRESH_TOKEN_TTL,
    BlockCreated,
    BlockDeleted,
    BlockedByUser,
    Direction,
    Edge,
    FollowCounts,
    FollowCreated,
    FollowDeleted,
    GraphChange,
    GraphEvent,
    HandleTaken,
    InvalidCredentials,
    ListPosition,
    MuteCreated,
    MuteDeleted,
    Profile,
    ProfileChanges,
    RefreshTokenInvalid,
    RefreshTokenRecord,
    RefreshTokenReused,
    Relation,
    Relationship,
    Rotation,
    SelfRelation,
    SessionTokens,
    User,
    UserCreated,
    UserUpdated,
    YouBlockUser,
    encode_refresh_token,
    refresh_token_hash,
    successor_refresh_token,
)
from svc_graph.ports import (
    Clock,
    CountCache,
    GraphStore,
    IdGenerator,
    PasswordHasher,
    RelationshipCache,
    SessionStore,
    TokenIssuer,
    UserCache,
    UserStore,
    VersionedCache,
)

log = logging.getLogger("svc_graph.service")

V = TypeVar("V")


@dataclass(frozen=True)
class GraphSettings:
    # a user with more followers than this is a celebrity (see domain.Profile.celebrity)
    celebrity_threshold: int = 10_000
    # public lists (users hydrated with profiles) and internal id lists (timeline fan-out)
    default_page_size: int = 20
    max_page_size: int = 100
    default_id_page_size: int = 1000
    max_id_page_size: int = 5000
    # a user with more follows, followers, blocks, blockers or mutes than this has their
    # relationships cached per target instead of whole (RelationshipReader): bounds a cache entry
    # and the read that fills it
    max_cached_edges: int = 1000


async def relationships_between(graph: GraphStore, subject_id: int, target_ids: Sequence[int]) -> list[Relationship]:
    """How the subject relates to each target, in the order given; five single-partition reads."""
    targets = list(target_ids)
    following, followed_by, blocking, blocked_by, muting = await asyncio.gather(
        graph.edges_from(Relation.FOLLOW, subject_id, targets),
        graph.edges_to(Relation.FOLLOW, subject_id, targets),
        graph.edges_from(Relation.BLOCK, subject_id, targets),
        graph.edges_to(Relation.BLOCK, subject_id, targets),
        graph.edges_from(Relation.MUTE, subject_id, targets),
    )
    return _relationships(subject_id, targets, following, followed_by, blocking, blocked_by, muting)


async def every_relationship(graph: GraphStore, subject_id: int, cap: int) -> list[Relationship] | None:
    """How the subject relates to every user they have an edge with, either way (anyone else: no
    relationship); None if they have more than `cap` edges of one kind. Five partition reads."""
    following, followed_by, blocking, blocked_by, muting = await asyncio.gather(
        graph.targets_from(Relation.FOLLOW, subject_id, cap + 1),
        graph.sources_to(Relation.FOLLOW, subject_id, cap + 1),
        graph.targets_from(Relation.BLOCK, subject_id, cap + 1),
        graph.sources_to(Relation.BLOCK, subject_id, cap + 1),
        graph.targets_from(Relation.MUTE, subject_id, cap + 1),
    )
    edges = (following, followed_by, blocking, blocked_by, muting)
    if any(len(ids) > cap for ids in edges):
        return None
    others = sorted(set().union(*edges))
    return _relationships(subject_id, others, *(set(ids) for ids in edges))


def _relationships(
    subject_id: int, targets: Sequence[int], following: Container[int], followed_by: Container[int],
    blocking: Container[int], blocked_by: Container[int], muting: Container[int],
) -> list[Relationship]:
    return [
        Relationship(
            user_id=subject_id,
            target_user_id=target,
            following=target in following,
            followed_by=target in followed_by,
            blocking=target in blocking,
            blocked_by=target in blocked_by,
            muting=target in muting,
        )
        for target in targets
    ]


async def _read_through(
    cache: VersionedCache[V],
    user_ids: Sequence[int],
    read: Callable[[list[int]], Awaitable[dict[int, V]]],
    shared: SharedLoads[tuple[int, object], V],
) -> dict[int, V]:
    """The cached values of `user_ids`; the misses `read` from the store (shared with concurrent
    misses under the same versions) and cached under the versions the lookup saw, so a change
    committed meanwhile leaves them unreachable."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return {}
    cached = await cache.lookup(wanted)
    missing = [user_id for user_id in wanted if user_id not in cached.hits]
    if not missing:
        return cached.hits

    async def read_keys(keys: list[tuple[int, object]]) -> dict[tuple[int, object], V]:
        values = await read([user_id for user_id, _ in keys])
        return {key: values[key[0]] for key in keys if key[0] in values}

    keys = [(user_id, cached.versions.get(user_id) or unshared()) for user_id in missing]
    found = {user_id: value for (user_id, _), value in (await shared.load(keys, read_keys)).items()}
    await cache.store(found, cached.versions)
    return {**cached.hits, **found}


class Profiles:
    """Users with their follow counts: what every read of a user returns.

    Users come from the UserCache, the store only for misses; every committed change of a user row
    is followed by UserCache.invalidate (Accounts). Counts are exact: COUNT of the user's edge
    partitions, cached until the next change of that user's follows invalidates them (the
    mutations below call CountCache.invalidate after they commit). A count is a function of the
    edges, so retries and races can never skew it the way a counter would.
    """

    # recounts at once per process: a cold page of thousands of ids must not flood the store
    MAX_PARALLEL_RECOUNTS = 64

    def __init__(
        self, users: UserStore, user_cache: UserCache, graph: GraphStore, counts: CountCache, settings: GraphSettings
    ):
        self._users = users
        self._user_cache = user_cache
        self._graph = graph
        self._counts = counts
        self._settings = settings
        self._recount_slots = asyncio.Semaphore(self.MAX_PARALLEL_RECOUNTS)
        # concurrent misses of the same user share one store read (mesh/shared_loads.py): with the
        # cache cold, every home read recounted the same followed users at once
        self._user_loads: SharedLoads[tuple[int, object], User] = SharedLoads()
        self._count_loads: SharedLoads[tuple[int, object], FollowCounts] = SharedLoads()

    async def users(self, user_ids: Sequence[int]) -> dict[int, User]:
        """The users that exist among `user_ids`, by id."""
        return await _read_through(self._user_cache, user_ids, self._users.get_many, self._user_loads)

    async def user(self, user_id: int) -> User | None:
        return (await self.users([user_id])).get(user_id)

    async def counts_of(self, user_ids: Sequence[int]) -> dict[int, FollowCounts]:
        return await _read_through(self._counts, user_ids, self._recount, self._count_loads)

    async def _recount(self, user_ids: list[int]) -> dict[int, FollowCounts]:
        async def count(user_id: int) -> FollowCounts:
            async with self._recount_slots:
                return await self._graph.count_follows(user_id)

        return dict(zip(user_ids, await asyncio.gather(*(count(u) for u in user_ids))))

    def is_celebrity(self, counts: FollowCounts) -> bool:
        return counts.followers > self._settings.celebrity_threshold

    async def of_users(self, users: Sequence[User]) -> list[Profile]:
        counts = await self.counts_of([user.user_id for user in users])
        return [Profile(user, counts[user.user_id], self.is_celebrity(counts[user.user_id])) for user in users]

    async def by_ids(self, user_ids: Sequence[int]) -> list[Profile]:
        """Profiles in the order asked, users that do not exist left out."""
        found = await self.users(user_ids)
        return await self.of_users([found[user_id] for user_id in user_ids if user_id in found])

    async def by_id(self, user_id: int) -> Profile:
        user = await self.user(user_id)
        if user is None:
            raise UserNotFound(user_id=user_id)
        (profile,) = await self.of_users([user])
        return profile


class RelationshipReader:
    """Relationships read through the RelationshipCache (SocialGraph and Accounts both answer them)."""

    def __init__(self, graph: GraphStore, cache: RelationshipCache, settings: GraphSettings):
        self._graph = graph
        self._relationships = cache
        self._settings = settings

    async def of(self, user_id: int, target_ids: Sequence[int]) -> list[Relationship]:
        """How the user relates to each target, in the order given; unknown targets: all false.
        From the cache; the misses from the store, cached under the version the lookup saw, so a
        change committed meanwhile leaves them unreachable.

        The first miss reads the subject's every relationship (every_relationship) and caches
        them whole: from then on any target is answered from the cache, asked before or not
        (cached per pair only, a user timeline or a page of authors is mostly pairs never asked
        before: five store reads each). A subject with more edges than `max_cached_edges` is
        cached as such, and their misses are read per target."""
        targets = list(target_ids)
        if not targets:
            return []
        cached = await self._relationships.lookup(user_id, targets)
        if cached.complete:
            return [cached.hits.get(target) or Relationship(user_id, target) for target in targets]
        missing = [target for target in dict.fromkeys(targets) if target not in cached.hits]
        if not missing:
            return [cached.hits[target] for target in targets]
        if not cached.too_many and cached.version is not None:
            everyone = await every_relationship(self._graph, user_id, self._settings.max_cached_edges)
            await self._relationships.store_all(user_id, everyone, cached.version)
            if everyone is not None:
                found = {r.target_user_id: r for r in everyone}
                return [found.get(target) or Relationship(user_id, target) for target in targets]
        read = await relationships_between(self._graph, user_id, missing)
        await self._relationships.store(user_id, read, cached.version)
        found = {**cached.hits, **{r.target_user_id: r for r in read}}
        return [found[target] for target in targets]


class Accounts:
    """Sign-up and profiles."""

    def __init__(
        self,
        users: UserStore,
        user_cache: UserCache,
        relationships: RelationshipReader,
        profiles: Profiles,
        hasher: PasswordHasher,
        ids: IdGenerator,
        clock: Clock,
    ):
        self._users = users
        self._user_cache = user_cache
        self._relationships = relationships
        self._profiles = profiles
        self._hasher = hasher
        self._ids = ids
        self._clock = clock

    async def create_user(self, handle: str, password: str, display_name: str) -> Profile:
        """Sign up. The user row is written first under a fresh id, unreferenced; claiming the
        handle (a conditional write in the store) is the commit point, so of two concurrent
        sign-ups with one handle exactly one wins, whatever the timing."""
        now = self._clock.now()
        user = User(user_id=self._ids.new_id(), handle=handle, display_name=display_name, bio="", create_time=now)
        password_hash = await self._hasher.hash(password)
        await self._users.insert_unclaimed(user, password_hash)
        if not await self._users.claim_handle(handle, user.user_id, now):
            try:
                await self._users.discard_unclaimed(user.user_id)
                # the row was readable by id until now (only a guessed id could have cached it)
                await self._user_cache.invalidate([user.user_id])
            except Exception:  # noqa: BLE001 - best effort: an unreferenced row harms nobody
                log.warning("could not clean up the row of failed sign-up %d", user.user_id, exc_info=True)
            raise HandleTaken(handle)
        # The claim cannot share an atomic batch with the event (a conditional write covers one
        # partition only), so a failure here leaves a committed sign-up without its event. The
        # account exists and the caller must learn so (a retry would only hear HANDLE_TAKEN): log
        # it for a replay instead of failing the call.
        try:
            await self._users.announce_created(UserCreated(self._event_id(), now, user))
        except Exception:  # noqa: BLE001
            log.error("user %d signed up but its UserCreated event was not queued", user.user_id, exc_info=True)
        return Profile(user, FollowCounts(0, 0), celebrity=False)

    async def get_user(self, caller: int | None, user_id: int) -> tuple[Profile, Relationship]:
        me = require_caller(caller)
        profile = await self._profiles.by_id(user_id)
        (relationship,) = await self._relationships.of(me, [user_id])
        return profile, relationship

    async def lookup_user(self, caller: int | None, handle: str) -> tuple[Profile, Relationship]:
        me = require_caller(caller)
        user_id = await self._users.user_id_by_handle(handle)
        user = None if user_id is None else await self._profiles.user(user_id)
        if user is None:
            raise UserNotFound(handle=handle)
        (profile,) = await self._profiles.of_users([user])
        (relationship,) = await self._relationships.of(me, [user.user_id])
        return profile, relationship

    async def batch_get_users(self, user_ids: Sequence[int]) -> list[Profile]:
        """Profiles are public and other services hydrate with this call (sometimes on behalf of
        nobody, e.g. a notification consumer), so no caller is required."""
        return await self._profiles.by_ids(user_ids)

    async def update_user(self, caller: int | None, user_id: int, changes: ProfileChanges) -> Profile:
        me = require_caller(caller)
        if user_id != me:
            raise NotTheCaller("user_id", user_id)
        user = await self._users.get(me)  # the store, not the cache: the base of a write
        if user is None:
            raise UserNotFound(user_id=me)
        changed_fields = [name for name in ("display_name", "bio") if getattr(changes, name) is not None]
        if changed_fields:
            updated = changes.applied_to(user)
            now = self._clock.now()
            await self._users.update_profile(updated, changed_fields, UserUpdated(self._event_id(), now, updated), now)
            # after the commit; if it fails the caller hears UNAVAILABLE and retries, which writes
            # the same fields again and invalidates again
            await self._user_cache.invalidate([me])
            user = updated
        (profile,) = await self._profiles.of_users([user])
        return profile

    def _event_id(self) -> str:
        return str(self._ids.new_id())


class Sessions:
    """Log in, refresh, log out.

    A session is a chain of refresh tokens: each refresh exchanges the token for a successor
    (rotation). The store keeps only SHA-256 hashes. A token exchanged less than
    REFRESH_REUSE_GRACE ago returns the same successor again (a retry after a lost answer); a later
    reuse means two parties hold the chain, so the whole session is revoked.
    """

    def __init__(
        self,
        users: UserStore,
        sessions: SessionStore,
        hasher: PasswordHasher,
        tokens: TokenIssuer,
        ids: IdGenerator,
        clock: Clock,
    ):
        self._users = users
        self._sessions = sessions
        self._hasher = hasher
        self._tokens = tokens
        self._ids = ids
        self._clock = clock
        self._decoy_hash: str | None = None

    async def create_session(self, handle: str, password: str) -> SessionTokens:
        account = await self._users.account_by_handle(handle)
        if account is None:
            # Same work as for a known handle, so the answer time does not tell which handles exist.
            await self._hasher.verify(await self._decoy_password_hash(), password)
            raise InvalidCredentials()
        if not await self._hasher.verify(account.password_hash, password):
            raise InvalidCredentials()
        now = self._clock.now()
        refresh_token = encode_refresh_token(secrets.token_bytes(32))
        record = RefreshTokenRecord(
            token_hash=refresh_token_hash(refresh_token),
            session_id=self._ids.new_id(),
            user_id=account.user_id,
            issue_time=now,
            expire_time=now + REFRESH_TOKEN_TTL,
        )
        await self._sessions.save(record, now)
        return self._tokens_for(record, refresh_token, now)

    async def refresh_session(self, refresh_token: str) -> SessionTokens:
        now = self._clock.now()
        record = await self._sessions.get(refresh_token_hash(refresh_token))
        if record is None or record.expire_time <= now or await self._sessions.is_revoked(record.session_id):
            raise RefreshTokenInvalid()
        if record.rotate_time is not None and record.rotation_nonce is not None:
            rotation = Rotation(record.rotate_time, record.rotation_nonce)
        else:
            rotation = await self._sessions.record_rotation(record, Rotation(now, secrets.token_bytes(32)))
            if rotation is None:
                raise RefreshTokenInvalid()
        if now - rotation.rotate_time > REFRESH_REUSE_GRACE:
            await self._sessions.revoke(record.session_id, now)
            log.warning(
                "refresh token reused %.0fs after its rotation; session %d revoked",
                (now - rotation.rotate_time).total_seconds(), record.session_id,
            )
            raise RefreshTokenReused()
        successor = successor_refresh_token(refresh_token, rotation.nonce)
        successor_record = RefreshTokenRecord(
            token_hash=refresh_token_hash(successor),
            session_id=record.session_id,
            user_id=record.user_id,
            issue_time=rotation.rotate_time,
            expire_time=rotation.rotate_time + REFRESH_TOKEN_TTL,
        )
        # written again on a retry: the first attempt may have died between rotation and save
        await self._sessions.save(successor_record, now)
        return self._tokens_for(successor_record, successor, now)

    async def revoke_session(self, refresh_token: str) -> None:
        """Log out; unknown and already revoked tokens succeed (idempotent by nature)."""
        token_hash = refresh_token_hash(refresh_token)
        record = await self._sessions.get(token_hash)
        if record is not None:
            await self._sessions.revoke(record.session_id, self._clock.now(), token_hash)

    def _tokens_for(self, record: RefreshTokenRecord, refresh_token: str, now: datetime) -> SessionTokens:
        return SessionTokens(
            user_id=record.user_id,
            access_token=self._tokens.issue(record.user_id, record.session_id, now),
            refresh_token=refresh_token,
            refresh_expire_time=record.expire_time,
        )

    async def _decoy_password_hash(self) -> str:
        if self._decoy_hash is None:
            self._decoy_hash = await self._hasher.hash(secrets.token_urlsafe(16))
        return self._decoy_hash


@dataclass(frozen=True)
class ProfilePage:
    profiles: list[Profile]
    next_page_token: str


@dataclass(frozen=True)
class FollowerIdPage:
    user_ids: list[int]
    next_page_token: str
    celebrity: bool  # the listed user's: fan-out on write skips celebrities


@dataclass(frozen=True)
class FollowingIdPage:
    user_ids: list[int]
    next_page_token: str
    celebrity_user_ids: list[int]  # those of user_ids whose tweets a home timeline merges in on read


class SocialGraph:
    """Follows, blocks and mutes, their lists and the relationships between users.

    Every change goes to GraphStore.apply as one atomic write with its events. The graph has no
    transactions across partitions, so two rules that span users (a blocked user cannot follow; a
    block removes follows) are kept by "write, then read the other side": whichever of a racing
    follow and block commits second sees the first and repairs, so no follow survives a block.

    Relationships (blockers too) are read through the RelationshipCache, follow counts through the
    CountCache (Profiles); every mutation ends in `_edges_changed`, which invalidates what it may
    have changed of them.
    """

    def __init__(
        self,
        graph: GraphStore,
        counts: CountCache,
        relationships: RelationshipCache,
        profiles: Profiles,
        ids: IdGenerator,
        clock: Clock,
        settings: GraphSettings,
    ):
        self._graph = graph
        self._counts = counts
        self._relationships = relationships
        self._relationship_reader = RelationshipReader(graph, relationships, settings)
        self._profiles = profiles
        self._ids = ids
        self._clock = clock
        self._settings = settings

    # --- follows ------------------------------------------------------------------------------

    async def follow(self, caller: int | None, followee_id: int, claimed_follower_id: int | None = None) -> int:
        """Make the caller follow `followee_id`; returns the follower (the caller). Idempotent."""
        me = require_caller(caller)
        if claimed_follower_id is not None and claimed_follower_id != me:
            raise NotTheCaller("follower_user_id", claimed_follower_id)
        if followee_id == me:
            raise SelfRelation("follow", "following_user_id")
        await self._require_user(followee_id)
        blocks_me, blocked_by_me, existing = await asyncio.gather(
            self._graph.edges_from(Relation.BLOCK, followee_id, [me]),
            self._graph.edges_from(Relation.BLOCK, me, [followee_id]),
            self._graph.edges_from(Relation.FOLLOW, me, [followee_id]),
        )
        if blocks_me:
            raise BlockedByUser(followee_id)
        if blocked_by_me:
            raise YouBlockUser(followee_id)
        if not existing:
            now = self._clock.now()
            edge = Edge(Relation.FOLLOW, me, followee_id, now)
            await self._graph.apply(
                GraphChange(me, added=(edge,), events=(FollowCreated(self._event_id(), now, me, followee_id),))
            )
            if await self._graph.edges_from(Relation.BLOCK, followee_id, [me]):
                # a block committed while we wrote: take the follow back
                await self._remove_follows([edge], actor_id=me)
                await self._edges_changed(me, followee_id)
                raise BlockedByUser(followee_id)
        await self._edges_changed(me, followee_id)
        return me

    async def unfollow(self, caller: int | None, followee_id: int) -> int:
        """Make the caller stop following `followee_id`; following nobody is fine. Idempotent."""
        me = require_caller(caller)
        existing = await self._graph.edges_from(Relation.FOLLOW, me, [followee_id])
        if existing:
            await self._remove_follows(existing.values(), actor_id=me)
        await self._edges_changed(me, followee_id)
        return me

    async def list_followers(self, caller: int | None, user_id: int, size: int, token: str) -> ProfilePage:
        require_caller(caller)
        return await self._profile_page("followers", Relation.FOLLOW, Direction.INCOMING, user_id, size, token)

    async def list_following(self, caller: int | None, user_id: int, size: int, token: str) -> ProfilePage:
        require_caller(caller)
        return await self._profile_page("following", Relation.FOLLOW, Direction.OUTGOING, user_id, size, token)

    async def follower_ids(self, user_id: int, size: int, token: str) -> FollowerIdPage:
        """Internal (timeline fan-out on write): no caller needed, ids only, large pages."""
        follower_ids, next_token = await self._id_page("follower_ids", Direction.INCOMING, user_id, size, token)
        counts = await self._profiles.counts_of([user_id])
        return FollowerIdPage(follower_ids, next_token, self._profiles.is_celebrity(counts[user_id]))

    async def following_ids(self, user_id: int, size: int, token: str) -> FollowingIdPage:
        """Internal (home timeline on read): the followed ids, and which of them are celebrities."""
        followee_ids, next_token = await self._id_page("following_ids", Direction.OUTGOING, user_id, size, token)
        counts = await self._profiles.counts_of(followee_ids)
        celebrities = [u for u in followee_ids if self._profiles.is_celebrity(counts[u])]
        return FollowingIdPage(followee_ids, next_token, celebrities)

    # --- blocks and mutes ---------------------------------------------------------------------

    async def block(self, caller: int | None, blocked_id: int) -> None:
        """Block a user: removes follows both ways; the blocked user can no longer follow."""
        me = require_caller(caller)
        if blocked_id == me:
            raise SelfRelation("block", "blocked_user_id")
        await self._require_user(blocked_id)
        existing, follows = await asyncio.gather(
            self._graph.edges_from(Relation.BLOCK, me, [blocked_id]), self._follows_between(me, blocked_id)
        )
        now = self._clock.now()
        events: list[GraphEvent] = [] if existing else [BlockCreated(self._event_id(), now, me, blocked_id)]
        events += [FollowDeleted(self._event_id(), now, f.source_id, f.target_id) for f in follows]
        if events:
            added = () if existing else (Edge(Relation.BLOCK, me, blocked_id, now),)
            await self._graph.apply(GraphChange(me, added=added, removed=tuple(follows), events=tuple(events)))
        # a follow that committed while we wrote the block: remove it too
        late_follows = await self._follows_between(me, blocked_id)
        if late_follows:
            await self._remove_follows(late_follows, actor_id=me)
        await self._edges_changed(me, blocked_id)

    async def unblock(self, caller: int | None, blocked_id: int) -> None:
        """Lift a block; follows removed by it stay removed. Idempotent."""
        me = require_caller(caller)
        existing = await self._graph.edges_from(Relation.BLOCK, me, [blocked_id])
        if existing:
            now = self._clock.now()
            await self._graph.apply(
                GraphChange(
                    me, removed=tuple(existing.values()), events=(BlockDeleted(self._event_id(), now, me, blocked_id),)
                )
            )
        await self._edges_changed(me, blocked_id, follows=False)

    async def list_blocked(self, caller: int | None, size: int, token: str) -> ProfilePage:
        me = require_caller(caller)
        return await self._profile_page("blocked", Relation.BLOCK, Direction.OUTGOING, me, size, token)

    async def mute(self, caller: int | None, muted_id: int) -> None:
        me = require_caller(caller)
        if muted_id == me:
            raise SelfRelation("mute", "muted_user_id")
        await self._require_user(muted_id)
        if not await self._graph.edges_from(Relation.MUTE, me, [muted_id]):
            now = self._clock.now()
            await self._graph.apply(
                GraphChange(
                    me,
                    added=(Edge(Relation.MUTE, me, muted_id, now),),
                    events=(MuteCreated(self._event_id(), now, me, muted_id),),
                )
            )
        await self._edges_changed(me, muted_id, follows=False)

    async def unmute(self, caller: int | None, muted_id: int) -> None:
        me = require_caller(caller)
        existing = await self._graph.edges_from(Relation.MUTE, me, [muted_id])
        if existing:
            now = self._clock.now()
            await self._graph.apply(
                GraphChange(me, removed=tuple(existing.values()), events=(MuteDeleted(self._event_id(), now, me, muted_id),))
            )
        await self._edges_changed(me, muted_id, follows=False)

    async def list_muted(self, caller: int | None, size: int, token: str) -> ProfilePage:
        me = require_caller(caller)
        return await self._profile_page("muted", Relation.MUTE, Direction.OUTGOING, me, size, token)

    async def relationships(self, user_id: int, target_ids: Sequence[int]) -> list[Relationship]:
        """Internal (visibility and filtering in other services, every home timeline read); unknown
        targets: all false (RelationshipReader)."""
        return await self._relationship_reader.of(user_id, target_ids)

    # --- helpers ------------------------------------------------------------------------------

    async def _require_user(self, user_id: int) -> None:
        if await self._profiles.user(user_id) is None:
            raise UserNotFound(user_id=user_id)

    async def _edges_changed(self, a: int, b: int, *, follows: bool = True) -> None:
        """The one step after a mutation of the edges between a and b: invalidate what is cached of
        them, for both users (their relationships, and their counts when follows may have changed).
        Called also when nothing changed: a retry after a failed invalidation must still invalidate.
        Raises Unavailable if Redis could not be told; the change stays committed and the retry of
        the (idempotent) call invalidates again."""
        await self._relationships.invalidate((a, b))
        if follows:
            await self._counts.invalidate((a, b))

    async def _follows_between(self, a: int, b: int) -> list[Edge]:
        a_follows_b, b_follows_a = await asyncio.gather(
            self._graph.edges_from(Relation.FOLLOW, a, [b]), self._graph.edges_from(Relation.FOLLOW, b, [a])
        )
        return [*a_follows_b.values(), *b_follows_a.values()]

    async def _remove_follows(self, follows: Iterable[Edge], *, actor_id: int) -> None:
        follows = tuple(follows)
        now = self._clock.now()
        events = tuple(FollowDeleted(self._event_id(), now, f.source_id, f.target_id) for f in follows)
        await self._graph.apply(GraphChange(actor_id, removed=follows, events=events))

    async def _edges_page(
        self, listing: str, relation: Relation, direction: Direction, user_id: int, size: int, token: str,
        *, default: int, maximum: int,
    ) -> tuple[list[int], str]:
        position = decode_page_token(token, listing, user_id, arity=2)
        await self._require_user(user_id)
        after = ListPosition(*position) if position else None
        page = await self._graph.page(relation, direction, user_id, after, page_size(size, default=default, maximum=maximum))
        last = page.next_position
        next_token = "" if last is None else encode_page_token(listing, user_id, (last.create_time_ms, last.other_id))
        return [edge.other_than(user_id) for edge in page.edges], next_token

    async def _profile_page(
        self, listing: str, relation: Relation, direction: Direction, user_id: int, size: int, token: str
    ) -> ProfilePage:
        other_ids, next_token = await self._edges_page(
            listing, relation, direction, user_id, size, token,
            default=self._settings.default_page_size, maximum=self._settings.max_page_size,
        )
        return ProfilePage(await self._profiles.by_ids(other_ids), next_token)

    async def _id_page(self, listing: str, direction: Direction, user_id: int, size: int, token: str) -> tuple[list[int], str]:
        return await self._edges_page(
            listing, Relation.FOLLOW, direction, user_id, size, token,
            default=self._settings.default_id_page_size, maximum=self._settings.max_id_page_size,
        )

    def _event_id(self) -> str:
        return str(self._ids.new_id())
