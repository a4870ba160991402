"""svc_graph's CQL adapters against the real Cassandra of the stack, in a scratch keyspace with the
project's migrations: handle claims, the graph's atomic writes with their outbox rows, pages,
counts and refresh-token rotation."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from mesh import cql, ids
from mesh.outbox import CqlOutbox
from mesh.schema import migrate_cql
from svc_graph.adapters.cql_graph import CqlGraphStore
from svc_graph.adapters.cql_sessions import CqlSessionStore
from svc_graph.adapters.cql_users import CqlUserStore
from mesh.system import SnowflakeIds, SystemClock
from svc_graph.domain import (
    Direction,
    Edge,
    FollowCounts,
    FollowCreated,
    GraphChange,
    HandleTaken,
    RefreshTokenRecord,
    Relation,
    Rotation,
    User,
    UserUpdated,
)
from svc_graph.service import Accounts, GraphSettings, Profiles, RelationshipReader, SocialGraph
from svc_graph.testing import FakeCountCache, FakePasswordHasher, FakeRelationshipCache, FakeUserCache
from tests.conftest import require_listening
from tweetmesh.events.v1 import events_pb2


@dataclasses.dataclass
class Store:
    session: object
    keyspace: str
    outbox: CqlOutbox
    users: CqlUserStore
    graph: CqlGraphStore
    sessions: CqlSessionStore


@pytest.fixture(scope="module")
async def store(stack):
    require_listening(stack.host, stack.cql_port, "Cassandra")
    scratch = dataclasses.replace(stack, cql_keyspace=f"it_graph_{uuid.uuid4().hex[:10]}")
    await migrate_cql(scratch)
    session = await cql.connect(scratch, keyspace=scratch.cql_keyspace)
    outbox = CqlOutbox(session, scratch.cql_keyspace)
    try:
        yield Store(
            session, scratch.cql_keyspace, outbox,
            CqlUserStore(session, scratch.cql_keyspace, outbox),
            CqlGraphStore(session, scratch.cql_keyspace, outbox),
            CqlSessionStore(session, scratch.cql_keyspace),
        )
    finally:
        await cql.execute(session, f"DROP KEYSPACE IF EXISTS {scratch.cql_keyspace}", cap_s=60)
        await cql.close(session)


def now() -> datetime:
    return SystemClock().now()


async def rows(store: Store, query: str, *params) -> list:
    return list(await cql.execute(store.session, query, params or None) or [])


async def outbox_rows(store: Store, subject: str) -> list:
    found = []
    for shard in range(store.outbox.shards):
        found += [r for r in await store.outbox.oldest(shard, after=None, limit=1000) if r.subject == subject]
    return found


async def new_user(store: Store, handle: str | None = None) -> User:
    user = User(ids.new_id(), handle or f"u{uuid.uuid4().hex[:10]}", "Someone", "", now())
    await store.users.insert_unclaimed(user, "hash")
    assert await store.users.claim_handle(user.handle, user.user_id, user.create_time)
    return user


def accounts_over(store: Store) -> Accounts:
    user_cache = FakeUserCache()
    profiles = Profiles(store.users, user_cache, store.graph, FakeCountCache(), GraphSettings())
    relationships = RelationshipReader(store.graph, FakeRelationshipCache(), GraphSettings())
    return Accounts(store.users, user_cache, relationships, profiles, FakePasswordHasher(), SnowflakeIds(), SystemClock())


# --- users --------------------------------------------------------------------------------------


async def test_two_concurrent_sign_ups_of_one_handle_have_exactly_one_winner(store):
    handle = f"race{uuid.uuid4().hex[:8]}"
    accounts = accounts_over(store)

    results = await asyncio.gather(
        accounts.create_user(handle, "password-1", "First"),
        accounts.create_user(handle.upper(), "password-2", "Second"),
        return_exceptions=True,
    )

    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, HandleTaken)]
    assert len(winners) == 1 and len(losers) == 1, results
    winner = winners[0].user
    assert await store.users.user_id_by_handle(handle) == winner.user_id
    # the loser's row, written before its claim failed, is gone
    (holder,) = await rows(store, f"SELECT user_id FROM {store.keyspace}.users_by_handle WHERE handle_key = %s", handle.lower())
    assert holder.user_id == winner.user_id
    created = [events_pb2.UserCreated.FromString(r.payload) for r in await outbox_rows(store, "graph.user.created")]
    assert [e.actor_user_id for e in created if e.handle.lower() == handle.lower()] == [str(winner.user_id)]


async def test_many_concurrent_sign_ups_of_one_handle_still_have_one_winner(store):
    handle = f"herd{uuid.uuid4().hex[:8]}"
    accounts = accounts_over(store)
    results = await asyncio.gather(
        *(accounts.create_user(handle, "password-1", f"Racer {i}") for i in range(6)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, HandleTaken) for r in results) == 5


async def test_users_are_read_by_id_and_by_handle_whatever_its_case(store):
    user = await new_user(store, f"Mixed{uuid.uuid4().hex[:6]}")

    assert await store.users.get(user.user_id) == user
    assert await store.users.user_id_by_handle(user.handle.lower()) == user.user_id
    account = await store.users.account_by_handle(user.handle.upper())
    assert (account.user_id, account.password_hash) == (user.user_id, "hash")
    assert await store.users.get_many([user.user_id, 12345]) == {user.user_id: user}
    assert await store.users.user_id_by_handle("nobody_here") is None


async def test_a_profile_update_and_its_event_are_written_together(store):
    user = await new_user(store)
    updated = dataclasses.replace(user, bio="now with a bio")
    event = UserUpdated(str(ids.new_id()), now(), updated)

    await store.users.update_profile(updated, ["bio"], event, now())

    assert (await store.users.get(user.user_id)).bio == "now with a bio"
    (row,) = [r for r in await outbox_rows(store, "graph.user.updated") if r.msg_id == event.event_id]
    assert events_pb2.UserUpdated.FromString(row.payload).bio == "now with a bio"


# --- the graph ------------------------------------------------------------------------------------


async def test_a_follow_writes_both_edges_its_list_rows_and_its_outbox_row_in_one_batch(store, monkeypatch):
    ann, bob = ids.new_id(), ids.new_id()
    at = now()
    event = FollowCreated(str(ids.new_id()), at, ann, bob)
    batches = []
    real_execute_batch = cql.execute_batch

    async def recording_execute_batch(session, statements, **kwargs):
        batches.append(list(statements))
        return await real_execute_batch(session, statements, **kwargs)

    monkeypatch.setattr(cql, "execute_batch", recording_execute_batch)

    await store.graph.apply(GraphChange(ann, added=(Edge(Relation.FOLLOW, ann, bob, at),), events=(event,)))

    (batch,) = batches  # one logged batch: the four edge rows and the event
    assert len(batch) == 5 and "outbox" in str(batch[-1][0])
    ks = store.keyspace
    assert await rows(store, f"SELECT create_time FROM {ks}.following_by_user WHERE user_id = %s AND followee_id = %s", ann, bob)
    assert await rows(store, f"SELECT create_time FROM {ks}.followers_by_user WHERE user_id = %s AND follower_id = %s", bob, ann)
    assert await rows(store, f"SELECT followee_id FROM {ks}.following_by_time WHERE user_id = %s", ann)
    assert await rows(store, f"SELECT follower_id FROM {ks}.followers_by_time WHERE user_id = %s", bob)
    (row,) = [r for r in await outbox_rows(store, "graph.follow.created") if r.msg_id == event.event_id]
    payload = events_pb2.FollowCreated.FromString(row.payload)
    assert (payload.actor_user_id, payload.following_user_id, payload.event_id) == (str(ann), str(bob), event.event_id)
    assert (await store.graph.edges_from(Relation.FOLLOW, ann, [bob]))[bob].create_time == at


async def test_removing_an_edge_removes_every_row_of_it(store):
    ann, bob = ids.new_id(), ids.new_id()
    edge = Edge(Relation.FOLLOW, ann, bob, now())
    await store.graph.apply(GraphChange(ann, added=(edge,)))
    await store.graph.apply(GraphChange(ann, removed=(edge,)))
    await store.graph.apply(GraphChange(ann, removed=(edge,)))  # removing it again is harmless

    assert await store.graph.edges_from(Relation.FOLLOW, ann, [bob]) == {}
    assert await store.graph.edges_to(Relation.FOLLOW, bob, [ann]) == {}
    page = await store.graph.page(Relation.FOLLOW, Direction.INCOMING, bob, None, 10)
    assert page.edges == [] and page.next_position is None


async def test_lists_are_newest_first_across_pages(store):
    star = ids.new_id()
    start = now()
    fans = [ids.new_id() for _ in range(5)]
    for i, fan in enumerate(fans):
        at = start + timedelta(seconds=i)
        await store.graph.apply(GraphChange(fan, added=(Edge(Relation.FOLLOW, fan, star, at),)))
    # two follows in the same millisecond: the id breaks the tie, no row is skipped or repeated
    twins = sorted(ids.new_id() for _ in range(2))
    for twin in twins:
        await store.graph.apply(GraphChange(twin, added=(Edge(Relation.FOLLOW, twin, star, start + timedelta(seconds=10)),)))

    seen, after = [], None
    while True:
        page = await store.graph.page(Relation.FOLLOW, Direction.INCOMING, star, after, 2)
        seen += [e.source_id for e in page.edges]
        if page.next_position is None:
            break
        after = page.next_position

    assert seen == [twins[1], twins[0], *reversed(fans)]


async def test_list_rows_left_behind_by_races_are_not_shown(store):
    ann, bob, cat = ids.new_id(), ids.new_id(), ids.new_id()
    t1 = now()
    await store.graph.apply(GraphChange(ann, added=(Edge(Relation.FOLLOW, ann, bob, t1),)))
    # a second, racing follow of the same pair wrote its own create_time: one edge, two list rows
    t2 = t1 + timedelta(milliseconds=7)
    await store.graph.apply(GraphChange(ann, added=(Edge(Relation.FOLLOW, ann, bob, t2),)))
    # a list row whose edge is gone (a follow racing an unfollow)
    await cql.execute(
        store.session,
        f"INSERT INTO {store.keyspace}.following_by_time (user_id, create_time, followee_id) VALUES (%s, %s, %s)",
        (ann, t2 + timedelta(seconds=1), cat),
    )

    page = await store.graph.page(Relation.FOLLOW, Direction.OUTGOING, ann, None, 10)

    assert [(e.target_id, e.create_time) for e in page.edges] == [(bob, t2)]


async def test_lookups_by_many_ids_answer_for_each_edge_that_exists(store):
    ann = ids.new_id()
    targets = [ids.new_id() for _ in range(150)]  # more than one IN can carry on ScyllaDB
    followed = targets[::7]
    at = now()
    for target in followed:
        await store.graph.apply(GraphChange(ann, added=(Edge(Relation.FOLLOW, ann, target, at),)))

    assert set(await store.graph.edges_from(Relation.FOLLOW, ann, targets)) == set(followed)
    assert set(await store.graph.edges_to(Relation.FOLLOW, followed[0], [ann, *targets[:3]])) == {ann}
    with pytest.raises(ValueError, match="not indexed by their target"):
        await store.graph.edges_to(Relation.MUTE, ann, targets[:1])


async def test_the_users_who_block_a_user_are_read_from_their_partition_up_to_a_limit(store):
    ann, blockers, bystander = ids.new_id(), [ids.new_id() for _ in range(5)], ids.new_id()
    at = now()
    for blocker in blockers:
        await store.graph.apply(GraphChange(blocker, added=(Edge(Relation.BLOCK, blocker, ann, at),)))
    # ann blocks the bystander: the bystander's blocker, not ann's
    await store.graph.apply(GraphChange(ann, added=(Edge(Relation.BLOCK, ann, bystander, at),)))
    await store.graph.apply(GraphChange(blockers[0], removed=(Edge(Relation.BLOCK, blockers[0], ann, at),)))

    assert sorted(await store.graph.sources_to(Relation.BLOCK, ann, 100)) == sorted(blockers[1:])
    assert len(await store.graph.sources_to(Relation.BLOCK, ann, 3)) == 3
    assert await store.graph.sources_to(Relation.BLOCK, bystander, 100) == [ann]
    with pytest.raises(ValueError, match="not indexed by their target"):
        await store.graph.sources_to(Relation.MUTE, ann, 100)


async def test_targets_from_reads_whom_a_user_has_an_edge_to(store):
    ann, others = ids.new_id(), [ids.new_id() for _ in range(4)]
    at = now()
    for other in others:
        await store.graph.apply(GraphChange(ann, added=(Edge(Relation.MUTE, ann, other, at),)))
    await store.graph.apply(GraphChange(ann, added=(Edge(Relation.FOLLOW, ann, others[0], at),)))
    await store.graph.apply(GraphChange(ann, removed=(Edge(Relation.MUTE, ann, others[3], at),)))

    assert sorted(await store.graph.targets_from(Relation.MUTE, ann, 100)) == sorted(others[:3])
    assert len(await store.graph.targets_from(Relation.MUTE, ann, 2)) == 2
    assert await store.graph.targets_from(Relation.FOLLOW, ann, 100) == [others[0]]
    assert await store.graph.targets_from(Relation.BLOCK, ann, 100) == []


async def test_counts_are_exact_counts_of_the_edges(store):
    star, fans = ids.new_id(), [ids.new_id() for _ in range(4)]
    at = now()
    for fan in fans:
        await store.graph.apply(GraphChange(fan, added=(Edge(Relation.FOLLOW, fan, star, at),)))
        await store.graph.apply(GraphChange(fan, added=(Edge(Relation.FOLLOW, fan, star, at),)))  # a retry
    await store.graph.apply(GraphChange(star, added=(Edge(Relation.FOLLOW, star, fans[0], at),)))
    await store.graph.apply(GraphChange(fans[1], removed=(Edge(Relation.FOLLOW, fans[1], star, at),)))

    assert await store.graph.count_follows(star) == FollowCounts(followers=3, following=1)
    assert await store.graph.count_follows(fans[0]) == FollowCounts(followers=1, following=1)


async def test_block_over_the_real_store_removes_follows_both_ways(store):
    profiles = Profiles(store.users, FakeUserCache(), store.graph, FakeCountCache(), GraphSettings())
    graph = SocialGraph(
        store.graph, FakeCountCache(), FakeRelationshipCache(), profiles,
        SnowflakeIds(), SystemClock(), GraphSettings(),
    )
    ann, bob = await new_user(store), await new_user(store)
    await graph.follow(ann.user_id, bob.user_id)
    await graph.follow(bob.user_id, ann.user_id)

    await graph.block(ann.user_id, bob.user_id)

    (relationship,) = await graph.relationships(ann.user_id, [bob.user_id])
    assert (relationship.blocking, relationship.following, relationship.followed_by) == (True, False, False)
    assert (await graph.list_blocked(ann.user_id, 0, "")).profiles[0].user == bob
    assert (await graph.list_followers(ann.user_id, bob.user_id, 0, "")).profiles == []
    assert [r.msg_id for r in await outbox_rows(store, "graph.block.created")]


# --- refresh tokens ---------------------------------------------------------------------------------


def a_token_record(at: datetime) -> RefreshTokenRecord:
    return RefreshTokenRecord(
        token_hash=uuid.uuid4().bytes + uuid.uuid4().bytes, session_id=ids.new_id(), user_id=ids.new_id(),
        issue_time=at, expire_time=at + timedelta(days=30),
    )


async def test_concurrent_rotations_of_one_token_agree_on_one_successor(store):
    at = now()
    record = a_token_record(at)
    await store.sessions.save(record, at)

    results = await asyncio.gather(
        *(store.sessions.record_rotation(record, Rotation(at, bytes([i]) * 32)) for i in range(4))
    )

    assert len(set(results)) == 1  # every caller derives the same successor
    stored = await store.sessions.get(record.token_hash)
    assert Rotation(stored.rotate_time, stored.rotation_nonce) == results[0]
    await store.sessions.save(record, at)  # saving the record again keeps its rotation
    assert (await store.sessions.get(record.token_hash)).rotation_nonce == results[0].nonce


async def test_a_rotation_of_a_revoked_token_finds_nothing(store):
    at = now()
    record = a_token_record(at)
    await store.sessions.save(record, at)

    await store.sessions.revoke(record.session_id, at, record.token_hash)

    assert await store.sessions.get(record.token_hash) is None
    assert await store.sessions.is_revoked(record.session_id)
    assert await store.sessions.record_rotation(record, Rotation(at, b"\x00" * 32)) is None


async def test_refresh_tokens_expire_with_their_ttl(store):
    at = datetime.now(timezone.utc)
    record = dataclasses.replace(a_token_record(at), expire_time=at + timedelta(seconds=1))
    await store.sessions.save(record, at)
    assert await store.sessions.get(record.token_hash) is not None
    await asyncio.sleep(2.2)
    assert await store.sessions.get(record.token_hash) is None
