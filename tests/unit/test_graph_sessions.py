"""Log in, refresh with rotation and reuse detection, log out (svc_graph.service.Sessions), on fakes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mesh.errors import Unauthenticated
from mesh.testing import ManualClock, SequentialIds
from svc_graph.domain import REFRESH_TOKEN_TTL, refresh_token_hash
from svc_graph.service import Accounts, GraphSettings, Profiles, RelationshipReader, Sessions
from svc_graph.testing import (
    FakeCountCache,
    FakeGraphStore,
    FakePasswordHasher,
    FakeRelationshipCache,
    FakeSessionStore,
    FakeTokenIssuer,
    FakeUserCache,
    FakeUserStore,
)


@dataclass
class World:
    clock: ManualClock
    hasher: FakePasswordHasher
    store: FakeSessionStore
    sessions: Sessions
    user_id: int


@pytest.fixture
async def world() -> World:
    users, graph, clock, ids, hasher = FakeUserStore(), FakeGraphStore(), ManualClock(), SequentialIds(), FakePasswordHasher()
    user_cache = FakeUserCache()
    profiles = Profiles(users, user_cache, graph, FakeCountCache(), GraphSettings())
    accounts = Accounts(users, user_cache, RelationshipReader(graph, FakeRelationshipCache(), GraphSettings()), profiles,
                        hasher, ids, clock)
    ann = await accounts.create_user("Ann", "correct horse", "Ann")
    store = FakeSessionStore()
    sessions = Sessions(users, store, hasher, FakeTokenIssuer(), ids, clock)
    return World(clock, hasher, store, sessions, ann.user.user_id)


async def test_logging_in_returns_tokens_and_stores_only_the_refresh_tokens_hash(world):
    tokens = await world.sessions.create_session("ann", "correct horse")  # handle case does not matter

    assert tokens.user_id == world.user_id
    assert tokens.access_token.token.startswith(f"access-{world.user_id}-")
    assert tokens.refresh_expire_time == world.clock.now() + REFRESH_TOKEN_TTL
    assert len(tokens.refresh_token) == 43  # 32 random bytes, base64url without padding
    (stored_hash,) = world.store.records
    assert stored_hash == refresh_token_hash(tokens.refresh_token)
    assert tokens.refresh_token.encode() not in repr(world.store.records).encode()


async def test_wrong_password_and_unknown_handle_fail_alike_after_the_same_work(world):
    with pytest.raises(Unauthenticated) as wrong_password:
        await world.sessions.create_session("Ann", "wrong horse")
    verifications_after_wrong_password = world.hasher.verifications
    with pytest.raises(Unauthenticated) as unknown_handle:
        await world.sessions.create_session("nobody", "correct horse")

    assert wrong_password.value.reason == unknown_handle.value.reason == "INVALID_CREDENTIALS"
    assert wrong_password.value.message == unknown_handle.value.message
    # an unknown handle still costs a password verification, so timing does not reveal handles
    assert verifications_after_wrong_password == 1 and world.hasher.verifications == 2


async def test_refresh_rotates_and_the_old_token_stops_working_after_the_grace_period(world):
    first = await world.sessions.create_session("Ann", "correct horse")
    world.clock.advance(minutes=10)

    second = await world.sessions.refresh_session(first.refresh_token)
    assert second.refresh_token != first.refresh_token and second.user_id == world.user_id
    assert second.refresh_expire_time == world.clock.now() + REFRESH_TOKEN_TTL

    world.clock.advance(seconds=20)  # a retry after a lost answer: same new refresh token
    retried = await world.sessions.refresh_session(first.refresh_token)
    assert retried.refresh_token == second.refresh_token

    third = await world.sessions.refresh_session(second.refresh_token)  # the chain goes on
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


async def test_reusing_a_rotated_token_late_revokes_the_whole_session(world):
    first = await world.sessions.create_session("Ann", "correct horse")
    second = await world.sessions.refresh_session(first.refresh_token)
    world.clock.advance(seconds=31)

    with pytest.raises(Unauthenticated) as reused:
        await world.sessions.refresh_session(first.refresh_token)  # someone replays the old token

    assert reused.value.reason == "REFRESH_TOKEN_REUSED"
    with pytest.raises(Unauthenticated) as revoked:
        await world.sessions.refresh_session(second.refresh_token)  # the legitimate holder is out too
    assert revoked.value.reason == "REFRESH_TOKEN_INVALID"


async def test_unknown_and_expired_refresh_tokens_are_refused(world):
    with pytest.raises(Unauthenticated, match="unknown, expired or revoked"):
        await world.sessions.refresh_session("not-a-token")
    tokens = await world.sessions.create_session("Ann", "correct horse")
    world.clock.advance(days=31)
    with pytest.raises(Unauthenticated, match="unknown, expired or revoked"):
        await world.sessions.refresh_session(tokens.refresh_token)


async def test_logging_out_revokes_the_refresh_token_and_is_idempotent(world):
    tokens = await world.sessions.create_session("Ann", "correct horse")

    await world.sessions.revoke_session(tokens.refresh_token)
    await world.sessions.revoke_session(tokens.refresh_token)  # again: still fine
    await world.sessions.revoke_session("never-issued")

    with pytest.raises(Unauthenticated):
        await world.sessions.refresh_session(tokens.refresh_token)
