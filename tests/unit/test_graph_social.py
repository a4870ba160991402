"""Follows, blocks, mutes, lists and counts (svc_graph.service.SocialGraph) against in-memory fakes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from mesh.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unauthenticated, Unavailable
from mesh.testing import ManualClock, SequentialIds
from svc_graph.domain import (
    BlockCreated,
    BlockDeleted,
    Direction,
    Edge,
    FollowCounts,
    FollowCreated,
    FollowDeleted,
    GraphChange,
    MuteCreated,
    Relation,
    Relationship,
    User,
)
from svc_graph.service import GraphSettings, Profiles, SocialGraph, relationships_between
from svc_graph.testing import (
    FakeCountCache,
    FakeGraphStore,
    FakeRelationshipCache,
    FakeUserCache,
    FakeUserStore,
)

ANN, BOB, CAT, DAN, EVE = 1, 2, 3, 4, 5


@dataclass
class World:
    store: FakeGraphStore
    counts: FakeCountCache
    relationships: FakeRelationshipCache
    clock: ManualClock
    profiles: Profiles
    graph: SocialGraph


def make_world(
    store: FakeGraphStore | None = None, *, celebrity_threshold: int = 10_000, max_cached_edges: int = 1000
) -> World:
    users, store, counts, clock = FakeUserStore(), store or FakeGraphStore(), FakeCountCache(), ManualClock()
    for user_id, handle in ((ANN, "ann"), (BOB, "bob"), (CAT, "cat"), (DAN, "dan"), (EVE, "eve")):
        users.rows[user_id] = (User(user_id, handle, handle.title(), "", clock.now()), "hash")
        users.handles[handle] = user_id
    settings = GraphSettings(celebrity_threshold=celebrity_threshold, max_cached_edges=max_cached_edges)
    profiles = Profiles(users, FakeUserCache(), store, counts, settings)
    relationships = FakeRelationshipCache()
    graph = SocialGraph(store, counts, relationships, profiles, SequentialIds(), clock, settings)
    return World(store, counts, relationships, clock, profiles, graph)


@pytest.fixture
def world() -> World:
    return make_world()


def events_of(world: World, kind: type) -> list:
    return [e for e in world.store.events if isinstance(e, kind)]


async def counts(world: World, user_id: int) -> FollowCounts:
    return (await world.profiles.counts_of([user_id]))[user_id]


# --- follow / unfollow ------------------------------------------------------------------------


async def test_following_twice_is_one_follow_with_one_event(world):
    assert await world.graph.follow(ANN, BOB) == ANN
    world.clock.advance(seconds=5)
    await world.graph.follow(ANN, BOB)

    assert world.store.has(Relation.FOLLOW, ANN, BOB)
    (event,) = events_of(world, FollowCreated)
    assert (event.follower_id, event.followee_id) == (ANN, BOB)
    assert await counts(world, ANN) == FollowCounts(followers=0, following=1)
    assert await counts(world, BOB) == FollowCounts(followers=1, following=0)


async def test_unfollowing_a_non_follow_is_fine_and_announces_nothing(world):
    assert await world.graph.unfollow(ANN, BOB) == ANN
    assert world.store.events == []


async def test_unfollow_removes_the_follow_once(world):
    await world.graph.follow(ANN, BOB)
    assert await counts(world, BOB) == FollowCounts(1, 0)  # now cached

    await world.graph.unfollow(ANN, BOB)
    await world.graph.unfollow(ANN, BOB)

    assert not world.store.has(Relation.FOLLOW, ANN, BOB)
    assert len(events_of(world, FollowDeleted)) == 1
    assert await counts(world, BOB) == FollowCounts(0, 0)  # the cached count was invalidated


async def test_the_follower_named_in_the_request_must_be_the_caller(world):
    with pytest.raises(PermissionDenied) as denied:
        await world.graph.follow(ANN, BOB, claimed_follower_id=CAT)
    assert denied.value.reason == "NOT_THE_CALLER" and "follower_user_id 3 is not you" in denied.value.message
    assert not world.store.edges

    await world.graph.follow(ANN, BOB, claimed_follower_id=ANN)  # older REST clients send themselves
    assert world.store.has(Relation.FOLLOW, ANN, BOB)


async def test_follow_needs_a_caller_another_user_and_an_existing_one(world):
    with pytest.raises(Unauthenticated):
        await world.graph.follow(None, BOB)
    with pytest.raises(InvalidArgument, match="cannot follow yourself") as self_follow:
        await world.graph.follow(ANN, ANN)
    assert self_follow.value.violations[0].field == "following_user_id"
    with pytest.raises(NotFound):
        await world.graph.follow(ANN, 777)


async def test_counts_stay_exact_when_a_retry_follows_a_failed_cache_invalidation(world):
    assert await counts(world, BOB) == FollowCounts(0, 0)  # cached before the change
    world.counts.fail_invalidation = True
    with pytest.raises(Unavailable):
        await world.graph.follow(ANN, BOB)  # committed, but the cache still says 0
    world.counts.fail_invalidation = False

    await world.graph.follow(ANN, BOB)  # the client's retry: nothing to write, cache invalidated

    assert await counts(world, BOB) == FollowCounts(1, 0)
    assert len(events_of(world, FollowCreated)) == 1


async def test_concurrent_misses_of_the_same_counts_share_one_recount(world, monkeypatch):
    await world.graph.follow(ANN, BOB)
    await world.graph.follow(CAT, BOB)
    recounted: list[int] = []
    real = world.store.count_follows
    release = asyncio.Event()

    async def slow_count(user_id: int) -> FollowCounts:
        recounted.append(user_id)
        await release.wait()
        return await real(user_id)

    monkeypatch.setattr(world.store, "count_follows", slow_count)
    world.counts.values.clear()  # cold, like a restarted Redis
    readers = [asyncio.ensure_future(world.profiles.counts_of([BOB, ANN])) for _ in range(10)]
    await asyncio.sleep(0)
    readers[0].cancel()  # a reader that gives up leaves the recount to the others
    release.set()
    answers = await asyncio.gather(*readers[1:])
    assert sorted(recounted) == [ANN, BOB]
    assert all(a[BOB] == FollowCounts(followers=2, following=0) and a[ANN].following == 1 for a in answers)
    # done: the next miss recounts afresh
    world.counts.values.clear()
    await world.profiles.counts_of([BOB])
    assert sorted(recounted) == [ANN, BOB, BOB]


# --- blocks -----------------------------------------------------------------------------------


async def test_block_removes_follows_both_ways_and_announces_each(world):
    await world.graph.follow(ANN, BOB)
    await world.graph.follow(BOB, ANN)

    await world.graph.block(ANN, BOB)

    assert world.store.has(Relation.BLOCK, ANN, BOB)
    assert not world.store.has(Relation.FOLLOW, ANN, BOB) and not world.store.has(Relation.FOLLOW, BOB, ANN)
    assert len(events_of(world, BlockCreated)) == 1
    assert {(e.follower_id, e.followee_id) for e in events_of(world, FollowDeleted)} == {(ANN, BOB), (BOB, ANN)}
    block_change = world.store.changes[-1]  # block and removed follows: one atomic write
    assert len(block_change.removed) == 2 and len(block_change.events) == 3
    assert await counts(world, ANN) == await counts(world, BOB) == FollowCounts(0, 0)


async def test_a_blocked_user_cannot_follow_and_the_blocker_must_unblock_first(world):
    await world.graph.block(ANN, BOB)

    with pytest.raises(PermissionDenied) as denied:
        await world.graph.follow(BOB, ANN)
    assert denied.value.reason == "BLOCKED_BY_USER"
    with pytest.raises(FailedPrecondition) as own_block:
        await world.graph.follow(ANN, BOB)
    assert own_block.value.reason == "USER_BLOCKED_BY_YOU"
    assert not world.store.has(Relation.FOLLOW, BOB, ANN) and not world.store.has(Relation.FOLLOW, ANN, BOB)


async def test_blocking_twice_is_one_block_and_unblock_does_not_restore_follows(world):
    await world.graph.follow(BOB, ANN)
    await world.graph.block(ANN, BOB)
    await world.graph.block(ANN, BOB)
    assert len(events_of(world, BlockCreated)) == 1

    await world.graph.unblock(ANN, BOB)
    await world.graph.unblock(ANN, BOB)

    assert not world.store.has(Relation.BLOCK, ANN, BOB)
    assert len(events_of(world, BlockDeleted)) == 1
    assert not world.store.has(Relation.FOLLOW, BOB, ANN)
    await world.graph.follow(BOB, ANN)  # allowed again
    assert world.store.has(Relation.FOLLOW, BOB, ANN)


class FollowLandsDuringBlock(FakeGraphStore):
    """A follow by BOB commits right after ANN's block was written (it checked before the block)."""

    async def apply(self, change: GraphChange) -> None:
        await super().apply(change)
        if any(e.relation is Relation.BLOCK for e in change.added):
            at = change.added[0].create_time
            await super().apply(GraphChange(BOB, added=(Edge(Relation.FOLLOW, BOB, ANN, at),)))


async def test_a_follow_committed_while_blocking_is_removed_too():
    world = make_world(FollowLandsDuringBlock())

    await world.graph.block(ANN, BOB)

    assert not world.store.has(Relation.FOLLOW, BOB, ANN)
    assert [(e.follower_id, e.followee_id) for e in events_of(world, FollowDeleted)] == [(BOB, ANN)]


class BlockLandsDuringFollow(FakeGraphStore):
    """ANN's block commits right after BOB's follow was written (BOB checked before the block)."""

    async def apply(self, change: GraphChange) -> None:
        await super().apply(change)
        if any(e.relation is Relation.FOLLOW for e in change.added):
            at = change.added[0].create_time
            await super().apply(GraphChange(ANN, added=(Edge(Relation.BLOCK, ANN, BOB, at),)))


async def test_a_follow_racing_a_block_is_taken_back_and_refused():
    world = make_world(BlockLandsDuringFollow())

    with pytest.raises(PermissionDenied):
        await world.graph.follow(BOB, ANN)

    assert not world.store.has(Relation.FOLLOW, BOB, ANN)
    assert len(events_of(world, FollowCreated)) == len(events_of(world, FollowDeleted)) == 1


# --- mutes and relationships ------------------------------------------------------------------


async def test_mute_is_idempotent_private_and_listed(world):
    await world.graph.mute(ANN, BOB)
    await world.graph.mute(ANN, BOB)
    assert len(events_of(world, MuteCreated)) == 1
    with pytest.raises(InvalidArgument, match="cannot mute yourself"):
        await world.graph.mute(ANN, ANN)

    page = await world.graph.list_muted(ANN, 0, "")
    assert [p.user.user_id for p in page.profiles] == [BOB]
    (seen_by_bob,) = await world.graph.relationships(BOB, [ANN])
    assert seen_by_bob.muting is False  # a mute is invisible to the muted user

    await world.graph.unmute(ANN, BOB)
    await world.graph.unmute(ANN, BOB)
    assert (await world.graph.list_muted(ANN, 0, "")).profiles == []


async def test_relationships_answer_for_every_target_in_order(world):
    await world.graph.follow(ANN, BOB)
    await world.graph.follow(CAT, ANN)
    await world.graph.block(DAN, ANN)
    await world.graph.mute(ANN, CAT)

    bob, cat, dan, unknown = await world.graph.relationships(ANN, [BOB, CAT, DAN, 999])

    assert (bob.target_user_id, bob.following, bob.followed_by) == (BOB, True, False)
    assert (cat.following, cat.followed_by, cat.muting) == (False, True, True)
    assert (dan.blocking, dan.blocked_by) == (False, True)
    assert unknown.target_user_id == 999 and not any(
        (unknown.following, unknown.followed_by, unknown.blocking, unknown.blocked_by, unknown.muting)
    )


async def test_cached_relationships_are_served_without_reading_the_store(world):
    await world.graph.follow(ANN, BOB)
    first = await world.graph.relationships(ANN, [BOB, CAT, 999])
    reads = world.store.lookups

    again = await world.graph.relationships(ANN, [CAT, BOB, 999])

    assert world.store.lookups == reads
    assert again == [first[1], first[0], first[2]] and again[1].following


async def test_after_one_miss_a_target_never_asked_before_is_answered_from_the_cache(world):
    await world.graph.follow(ANN, CAT)
    await world.graph.follow(DAN, ANN)
    await world.graph.mute(ANN, EVE)
    await world.graph.relationships(ANN, [BOB])  # the miss caches every relationship of ANN
    reads = world.store.lookups

    cat, dan, eve, nobody = await world.graph.relationships(ANN, [CAT, DAN, EVE, 999])

    assert world.store.lookups == reads
    assert (cat.following, dan.followed_by, eve.muting) == (True, True, True)
    assert nobody == Relationship(ANN, 999)


async def test_a_user_with_more_edges_than_the_cache_keeps_whole_is_read_per_target():
    world = make_world(max_cached_edges=2)
    for followee in (BOB, CAT, DAN):
        await world.graph.follow(ANN, followee)
    bob, eve = await world.graph.relationships(ANN, [BOB, EVE])
    assert (bob.following, eve.following) == (True, False)
    # an edge written behind the graph's back (never in production): the cached EVE does not see
    # it, but DAN, never asked, is read from the store
    await world.store.apply(GraphChange(ANN, added=(Edge(Relation.FOLLOW, ANN, EVE, world.clock.now()),)))

    eve, dan = await world.graph.relationships(ANN, [EVE, DAN])

    assert (eve.following, dan.following) == (False, True)
    assert (await world.relationships.lookup(ANN, [])).too_many


async def test_a_block_shows_in_both_users_relationships_at_once(world):
    await world.graph.follow(ANN, BOB)
    await world.graph.follow(BOB, ANN)
    (ann_sees,) = await world.graph.relationships(ANN, [BOB])  # both now cached
    (bob_sees,) = await world.graph.relationships(BOB, [ANN])
    assert ann_sees.following and bob_sees.following

    await world.graph.block(ANN, BOB)

    (ann_sees,) = await world.graph.relationships(ANN, [BOB])
    (bob_sees,) = await world.graph.relationships(BOB, [ANN])
    assert (ann_sees.blocking, ann_sees.following, ann_sees.followed_by) == (True, False, False)
    assert (bob_sees.blocked_by, bob_sees.following, bob_sees.followed_by) == (True, False, False)


async def warm(world: World, a: int, b: int) -> None:
    await world.graph.relationships(a, [b, CAT])
    await world.graph.relationships(b, [a, CAT])


async def nothing(graph: SocialGraph, a: int, b: int) -> None:
    pass


async def followed_both_ways(graph: SocialGraph, a: int, b: int) -> None:
    await graph.follow(a, b)
    await graph.follow(b, a)


CHANGES = {  # what is set up before the caches are warmed, then the change after which both are read
    "follow": (nothing, SocialGraph.follow),
    "unfollow": (followed_both_ways, SocialGraph.unfollow),
    "block": (followed_both_ways, SocialGraph.block),
    "unblock": (SocialGraph.block, SocialGraph.unblock),
    "mute": (nothing, SocialGraph.mute),
    "unmute": (SocialGraph.mute, SocialGraph.unmute),
}


@pytest.mark.parametrize("name", CHANGES)
async def test_every_change_is_seen_by_the_next_read_of_either_user(world, name):
    set_up, change = CHANGES[name]
    await set_up(world.graph, ANN, BOB)
    await warm(world, ANN, BOB)

    await change(world.graph, ANN, BOB)

    for subject, target in ((ANN, BOB), (BOB, ANN)):
        truth = await relationships_between(world.store, subject, [target, CAT])
        assert await world.graph.relationships(subject, [target, CAT]) == truth, f"{subject} -> {target} after {name}"


async def test_relationships_stay_exact_when_a_retry_follows_a_failed_invalidation(world):
    await warm(world, ANN, BOB)
    world.relationships.fail_invalidation = True
    with pytest.raises(Unavailable) as refused:
        await world.graph.mute(ANN, BOB)  # committed, but the cache still says not muting
    assert refused.value.reason == "RELATIONSHIP_CACHE_UNAVAILABLE"
    world.relationships.fail_invalidation = False

    await world.graph.mute(ANN, BOB)  # the client's retry: nothing to write, cache invalidated

    (ann_sees,) = await world.graph.relationships(ANN, [BOB])
    assert ann_sees.muting
    assert len(events_of(world, MuteCreated)) == 1


# --- lists and page tokens --------------------------------------------------------------------


async def test_followers_are_listed_newest_first_across_pages(world):
    for follower in (BOB, CAT, DAN, EVE):
        await world.graph.follow(follower, ANN)
        world.clock.advance(seconds=1)

    first = await world.graph.list_followers(BOB, ANN, 3, "")
    second = await world.graph.list_followers(BOB, ANN, 3, first.next_page_token)

    assert [p.user.user_id for p in first.profiles] == [EVE, DAN, CAT]
    assert first.profiles[0].counts == FollowCounts(followers=0, following=1)
    assert [p.user.user_id for p in second.profiles] == [BOB]
    assert first.next_page_token and second.next_page_token == ""


async def test_a_page_token_only_works_for_the_list_it_came_from(world):
    for follower in (BOB, CAT, DAN):
        await world.graph.follow(follower, ANN)
        await world.graph.follow(follower, EVE)
    token = (await world.graph.list_followers(BOB, ANN, 1, "")).next_page_token

    with pytest.raises(InvalidArgument) as other_user:
        await world.graph.list_followers(BOB, EVE, 1, token)
    with pytest.raises(InvalidArgument):
        await world.graph.list_following(BOB, ANN, 1, token)
    with pytest.raises(InvalidArgument) as garbage:
        await world.graph.list_followers(BOB, ANN, 1, "not a token!")

    assert other_user.value.reason == garbage.value.reason == "INVALID_PAGE_TOKEN"
    assert other_user.value.violations[0].field == "page_token"
    assert "another list" in other_user.value.message


async def test_lists_of_an_unknown_user_are_not_found(world):
    with pytest.raises(NotFound):
        await world.graph.list_following(ANN, 31337, 0, "")
    with pytest.raises(NotFound):
        await world.graph.follower_ids(31337, 0, "")


async def test_follower_ids_are_paged_for_fan_out_and_tell_celebrities():
    world = make_world(celebrity_threshold=2)
    for follower in (BOB, CAT):
        await world.graph.follow(follower, ANN)

    page = await world.graph.follower_ids(ANN, 0, "")
    assert (page.user_ids, page.celebrity) == ([CAT, BOB], False)  # 2 followers: not over 2

    await world.graph.follow(DAN, ANN)
    first = await world.graph.follower_ids(ANN, 2, "")
    rest = await world.graph.follower_ids(ANN, 2, first.next_page_token)
    assert first.celebrity is True and first.user_ids + rest.user_ids == [DAN, CAT, BOB]
    (ann,) = await world.profiles.by_ids([ANN])
    assert ann.celebrity

    world.clock.advance(seconds=1)
    await world.graph.follow(BOB, CAT)
    following = await world.graph.following_ids(BOB, 0, "")
    assert following.user_ids == [CAT, ANN] and following.celebrity_user_ids == [ANN]


async def test_blocked_users_are_listed_for_the_caller_only(world):
    await world.graph.block(ANN, BOB)
    world.clock.advance(seconds=1)
    await world.graph.block(ANN, CAT)
    assert [p.user.handle for p in (await world.graph.list_blocked(ANN, 0, "")).profiles] == ["cat", "bob"]
    assert (await world.graph.list_blocked(BOB, 0, "")).profiles == []
    with pytest.raises(Unauthenticated):
        await world.graph.list_blocked(None, 0, "")


async def test_list_directions_are_what_the_page_holds(world):
    await world.graph.follow(ANN, BOB)
    page = await world.store.page(Relation.FOLLOW, Direction.INCOMING, BOB, None, 10)
    assert [(e.source_id, e.target_id) for e in page.edges] == [(ANN, BOB)]
