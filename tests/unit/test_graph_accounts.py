"""Sign-up and profiles (svc_graph.service.Accounts) against in-memory fakes of the ports."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from mesh.errors import AlreadyExists, NotFound, PermissionDenied, Unauthenticated, Unavailable
from mesh.testing import ManualClock, SequentialIds
from svc_graph.domain import FollowCounts, HandleTaken, ProfileChanges, User, UserCreated, UserUpdated
from svc_graph.service import Accounts, GraphSettings, Profiles, RelationshipReader, SocialGraph
from svc_graph.testing import (
    FakeCountCache,
    FakeGraphStore,
    FakePasswordHasher,
    FakeRelationshipCache,
    FakeUserCache,
    FakeUserStore,
)


@dataclass
class World:
    users: FakeUserStore
    user_cache: FakeUserCache
    graph_store: FakeGraphStore
    accounts: Accounts
    graph: SocialGraph


def make_world(users: FakeUserStore | None = None) -> World:
    users, user_cache, graph_store, counts = users or FakeUserStore(), FakeUserCache(), FakeGraphStore(), FakeCountCache()
    ids, clock, settings = SequentialIds(), ManualClock(), GraphSettings()
    profiles = Profiles(users, user_cache, graph_store, counts, settings)
    relationships = FakeRelationshipCache()  # one cache, as in production: the graph's changes invalidate it
    return World(
        users=users,
        user_cache=user_cache,
        graph_store=graph_store,
        accounts=Accounts(users, user_cache, RelationshipReader(graph_store, relationships, settings), profiles,
                          FakePasswordHasher(), ids, clock),
        graph=SocialGraph(
            graph_store, counts, relationships, profiles, ids, clock, settings
        ),
    )


@pytest.fixture
def world() -> World:
    return make_world()


async def test_sign_up_stores_a_hash_claims_the_handle_and_announces_the_user(world):
    profile = await world.accounts.create_user("Ann_1", "correct horse", "Ann")

    user = profile.user
    assert (user.handle, user.display_name, user.bio) == ("Ann_1", "Ann", "")
    assert profile.counts == FollowCounts(0, 0) and not profile.celebrity
    stored_user, password_hash = world.users.rows[user.user_id]
    assert stored_user == user and "correct horse" not in password_hash
    assert world.users.handles == {"ann_1": user.user_id}
    (event,) = world.users.events
    assert isinstance(event, UserCreated) and event.user == user


async def test_a_taken_handle_is_refused_whatever_its_case_and_leaves_no_orphan(world):
    first = await world.accounts.create_user("ann", "password-1", "Ann")

    with pytest.raises(HandleTaken) as refused:
        await world.accounts.create_user("ANN", "password-2", "Other Ann")

    assert isinstance(refused.value, AlreadyExists) and refused.value.reason == "HANDLE_TAKEN"
    assert "@ANN is already taken" in refused.value.message
    assert list(world.users.rows) == [first.user.user_id]  # the loser's row was discarded
    assert len(world.users.events) == 1


async def test_of_two_concurrent_sign_ups_with_one_handle_exactly_one_wins(world):
    results = await asyncio.gather(
        world.accounts.create_user("bob", "password-1", "Bob 1"),
        world.accounts.create_user("Bob", "password-2", "Bob 2"),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1
    assert sum(isinstance(r, HandleTaken) for r in results) == 1
    assert world.users.handles == {"bob": winners[0].user.user_id}


async def test_get_user_needs_a_caller_and_an_existing_user(world):
    ann = (await world.accounts.create_user("ann", "password-1", "Ann")).user
    with pytest.raises(Unauthenticated):
        await world.accounts.get_user(None, ann.user_id)
    with pytest.raises(NotFound, match="user 4242 does not exist"):
        await world.accounts.get_user(ann.user_id, 4242)


async def test_get_user_shows_counts_and_the_callers_relationship(world):
    ann = (await world.accounts.create_user("ann", "password-1", "Ann")).user
    bob = (await world.accounts.create_user("bob", "password-1", "Bob")).user
    await world.graph.follow(ann.user_id, bob.user_id)

    profile, relationship = await world.accounts.get_user(bob.user_id, ann.user_id)

    assert profile.counts == FollowCounts(followers=0, following=1)
    assert relationship.user_id == bob.user_id and relationship.target_user_id == ann.user_id
    assert (relationship.following, relationship.followed_by) == (False, True)


async def test_get_user_reads_the_relationship_through_the_cache_the_graph_invalidates(world):
    ann = (await world.accounts.create_user("ann", "password-1", "Ann")).user
    bob = (await world.accounts.create_user("bob", "password-1", "Bob")).user
    await world.accounts.get_user(bob.user_id, ann.user_id)
    reads = world.graph_store.lookups
    _, relationship = await world.accounts.get_user(bob.user_id, ann.user_id)
    assert world.graph_store.lookups == reads and not relationship.followed_by  # from the cache

    await world.graph.follow(ann.user_id, bob.user_id)

    _, relationship = await world.accounts.get_user(bob.user_id, ann.user_id)
    assert relationship.followed_by


async def test_lookup_is_case_insensitive(world):
    ann = (await world.accounts.create_user("Ann", "password-1", "Ann")).user
    profile, _ = await world.accounts.lookup_user(ann.user_id, "aNN")
    assert profile.user == ann
    with pytest.raises(NotFound, match="@nobody"):
        await world.accounts.lookup_user(ann.user_id, "nobody")


async def test_batch_get_keeps_the_order_asked_and_leaves_unknown_ids_out(world):
    ann = (await world.accounts.create_user("ann", "password-1", "Ann")).user
    bob = (await world.accounts.create_user("bob", "password-1", "Bob")).user
    profiles = await world.accounts.batch_get_users([bob.user_id, 999_999, ann.user_id])
    assert [p.user.handle for p in profiles] == ["bob", "ann"]


async def test_update_changes_only_the_fields_present_and_announces_the_new_profile(world):
    ann = (await world.accounts.create_user("ann", "password-1", "Ann")).user

    profile = await world.accounts.update_user(ann.user_id, ann.user_id, ProfileChanges(bio="hello"))

    assert (profile.user.display_name, profile.user.bio) == ("Ann", "hello")
    assert (await world.users.get(ann.user_id)).bio == "hello"
    assert isinstance(world.users.events[-1], UserUpdated) and world.users.events[-1].user.bio == "hello"


async def test_nobody_updates_someone_elses_profile(world):
    ann = (await world.accounts.create_user("ann", "password-1", "Ann")).user
    bob = (await world.accounts.create_user("bob", "password-1", "Bob")).user

    with pytest.raises(PermissionDenied) as denied:
        await world.accounts.update_user(bob.user_id, ann.user_id, ProfileChanges(display_name="Hacked"))

    assert denied.value.reason == "NOT_THE_CALLER"
    assert (await world.users.get(ann.user_id)).display_name == "Ann"
    with pytest.raises(Unauthenticated):
        await world.accounts.update_user(None, ann.user_id, ProfileChanges(display_name="Anon"))


# --- the user cache -----------------------------------------------------------------------------


async def test_once_read_users_are_served_from_the_cache_by_every_kind_of_read(world):
    ann = (await world.accounts.create_user("ann", "password-1", "Ann")).user
    bob = (await world.accounts.create_user("bob", "password-1", "Bob")).user
    await world.accounts.batch_get_users([ann.user_id, bob.user_id])
    reads = world.users.rows_read

    profiles = await world.accounts.batch_get_users([bob.user_id, ann.user_id])
    (profile, _), (looked_up, _) = await asyncio.gather(
        world.accounts.get_user(bob.user_id, ann.user_id), world.accounts.lookup_user(ann.user_id, "BOB")
    )
    await world.graph.follow(ann.user_id, bob.user_id)  # checks that bob exists

    assert [p.user for p in profiles] == [bob, ann] and profile.user == ann and looked_up.user == bob
    assert world.users.rows_read == reads


async def test_a_profile_update_is_visible_on_the_next_read_of_every_kind(world):
    ann = (await world.accounts.create_user("ann", "password-1", "Ann")).user
    await world.accounts.batch_get_users([ann.user_id])  # cached
    await world.accounts.lookup_user(ann.user_id, "ann")

    await world.accounts.update_user(ann.user_id, ann.user_id, ProfileChanges(display_name="Ann B.", bio="hi"))

    (batched,) = await world.accounts.batch_get_users([ann.user_id])
    got, _ = await world.accounts.get_user(ann.user_id, ann.user_id)
    looked_up, _ = await world.accounts.lookup_user(ann.user_id, "ann")
    assert {(p.user.display_name, p.user.bio) for p in (batched, got, looked_up)} == {("Ann B.", "hi")}


async def test_an_update_whose_invalidation_failed_is_an_error_and_its_retry_repairs_the_cache(world):
    ann = (await world.accounts.create_user("ann", "password-1", "Ann")).user
    await world.accounts.batch_get_users([ann.user_id])
    world.user_cache.fail_invalidation = True

    with pytest.raises(Unavailable) as failed:
        await world.accounts.update_user(ann.user_id, ann.user_id, ProfileChanges(bio="hi"))

    assert failed.value.reason == "USER_CACHE_UNAVAILABLE"
    assert (await world.users.get(ann.user_id)).bio == "hi"  # saved, but a cached read may be stale
    world.user_cache.fail_invalidation = False
    await world.accounts.update_user(ann.user_id, ann.user_id, ProfileChanges(bio="hi"))  # the client's retry
    (profile,) = await world.accounts.batch_get_users([ann.user_id])
    assert profile.user.bio == "hi"


class PausedReads(FakeUserStore):
    """get_many reads its rows, then waits until released before answering: a slow store read."""

    def __init__(self) -> None:
        super().__init__()
        self.paused: asyncio.Event | None = None
        self.read_done = asyncio.Event()

    async def get_many(self, user_ids):
        found = await super().get_many(user_ids)
        if self.paused is not None:
            self.read_done.set()
            await self.paused.wait()
        return found


async def test_a_read_that_raced_an_update_never_caches_the_old_profile():
    world = make_world(PausedReads())
    ann = (await world.accounts.create_user("ann", "password-1", "Ann")).user
    world.users.paused = asyncio.Event()
    reader = asyncio.create_task(world.accounts.batch_get_users([ann.user_id]))
    await world.users.read_done.wait()  # the reader holds the row as it was before the update

    await world.accounts.update_user(ann.user_id, ann.user_id, ProfileChanges(bio="new"))
    world.users.paused.set()
    (raced,) = await reader
    world.users.paused = None

    assert raced.user.bio == ""  # what it read, fine for a read that started before the update
    (after,) = await world.accounts.batch_get_users([ann.user_id])
    assert after.user.bio == "new"


async def test_unknown_users_are_not_cached_so_a_later_sign_up_is_seen_at_once(world):
    assert await world.accounts.batch_get_users([1]) == []
    user = User(1, "zed", "Zed", "", ManualClock().now())
    await world.users.insert_unclaimed(user, "hash")
    await world.users.claim_handle("zed", 1, user.create_time)

    assert [p.user for p in await world.accounts.batch_get_users([1])] == [user]
