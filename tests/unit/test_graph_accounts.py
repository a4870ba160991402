"""Sign-up and profiles (svc_graph.service.Accounts) against in-memory fakes of the ports."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from mesh.errors import AlreadyExists, NotFound, PermissionDenied, Unauthenticated
from mesh.testing import ManualClock, SequentialIds
from svc_graph.domain import FollowCounts, HandleTaken, ProfileChanges, UserCreated, UserUpdated
from svc_graph.service import Accounts, GraphSettings, Profiles, SocialGraph
from svc_graph.testing import (
    FakeCountCache,
    FakeGraphStore,
    FakePasswordHasher,
    FakeUserStore,
)


@dataclass
class World:
    users: FakeUserStore
    graph_store: FakeGraphStore
    accounts: Accounts
    graph: SocialGraph


@pytest.fixture
def world() -> World:
    users, graph_store, counts = FakeUserStore(), FakeGraphStore(), FakeCountCache()
    ids, clock, settings = SequentialIds(), ManualClock(), GraphSettings()
    profiles = Profiles(users, graph_store, counts, settings)
    return World(
        users=users,
        graph_store=graph_store,
        accounts=Accounts(users, graph_store, profiles, FakePasswordHasher(), ids, clock),
        graph=SocialGraph(users, graph_store, counts, profiles, ids, clock, settings),
    )


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
