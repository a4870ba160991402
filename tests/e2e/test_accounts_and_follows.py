"""Accounts, sessions and the follow graph through the gateway, as the seed's REST client uses them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from concurrent.futures import ThreadPoolExecutor

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from mesh import events
from tests.e2e.conftest import PASSWORD, account, bearer, follow, http, log_in, sign_up, unique_handle

@pytest.fixture
def alice(gateway):
    return account(gateway)


@pytest.fixture
def bob(gateway):
    return account(gateway)


def test_sign_up_then_log_in_then_read_own_profile(gateway):
    handle, user_id = sign_up(gateway)
    session = log_in(gateway, handle)
    assert session["userId"] == user_id and session["accessToken"].count(".") == 2
    code, _, body = http("GET", f"{gateway}/v1/users/{user_id}", headers=bearer(session["accessToken"]))
    assert code == 200, body
    assert body["user"]["handle"] == handle and body["user"]["userId"] == user_id


def test_a_taken_handle_is_409_whatever_its_case(gateway):
    handle, _ = sign_up(gateway)
    code, _, body = http("POST", f"{gateway}/v1/users", {"handle": handle.upper(), "password": PASSWORD, "displayName": "Twin"})
    assert code == 409, body
    assert "handle" in body["error"]["message"].lower()


def test_concurrent_sign_ups_of_one_handle_have_exactly_one_winner(gateway):
    handle = f"race{uuid.uuid4().hex[:11]}"  # 15 characters, the most a handle may have

    def attempt(i: int):
        return http("POST", f"{gateway}/v1/users", {"handle": handle, "password": PASSWORD, "displayName": f"Racer {i}"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(code for code, _, _ in pool.map(attempt, range(8)))
    assert codes == [200] + [409] * 7


def test_wrong_password_and_unknown_handle_are_the_same_401(gateway):
    handle, _ = sign_up(gateway)
    wrong_code, _, wrong = http("POST", f"{gateway}/v1/sessions", {"handle": handle, "password": "not the password"})
    unknown_code, _, unknown = http("POST", f"{gateway}/v1/sessions", {"handle": unique_handle(), "password": PASSWORD})
    assert wrong_code == unknown_code == 401
    assert wrong["error"]["message"] == unknown["error"]["message"]  # nothing tells which handles exist


def test_follow_is_echoed_idempotent_and_listed_once(gateway, alice, bob):
    code, _, body = follow(gateway, alice, bob)
    assert code == 200, body
    assert (body["followingUserId"], body["followerUserId"]) == (bob["id"], alice["id"])
    assert follow(gateway, alice, bob)[0] == 200  # the retry

    code, _, followers = http("GET", f"{gateway}/v1/users/{bob['id']}/followers", headers=alice["auth"])
    assert code == 200, followers
    assert [u["userId"] for u in followers["users"]] == [alice["id"]]
    code, _, following = http("GET", f"{gateway}/v1/users/{alice['id']}/following", headers=bob["auth"])
    assert [u["userId"] for u in following["users"]] == [bob["id"]]
    _, _, profile = http("GET", f"{gateway}/v1/users/{bob['id']}", headers=alice["auth"])
    assert profile["user"]["followerCount"] == 1


def test_following_on_behalf_of_someone_else_is_403(gateway, alice, bob):
    code, _, body = http("POST", f"{gateway}/v1/follow",
                         {"followingUserId": bob["id"], "followerUserId": bob["id"]}, headers=alice["auth"])
    assert code == 403, body


def test_a_client_cannot_claim_an_identity_by_header(gateway, alice, bob):
    # Alice's token, Bob's id in the identity header the services trust: the gateway drops it.
    spoofed = {**alice["auth"], "x-tweetmesh-user-id": bob["id"]}
    code, _, body = http("POST", f"{gateway}/v1/follow",
                         {"followingUserId": alice["id"], "followerUserId": bob["id"]}, headers=spoofed)
    assert code == 403, body


def test_unfollow_removes_the_follow_and_is_idempotent(gateway, alice, bob):
    follow(gateway, alice, bob)
    for _ in range(2):
        code, _, body = http("DELETE", f"{gateway}/v1/follow/{bob['id']}", headers=alice["auth"])
        assert code == 200, body
    _, _, followers = http("GET", f"{gateway}/v1/users/{bob['id']}/followers", headers=alice["auth"])
    assert followers.get("users", []) == []


def test_followers_page_through_every_follower_exactly_once(gateway, bob):
    fans = []
    for _ in range(5):
        handle, user_id = sign_up(gateway)
        fan = {"id": user_id, "auth": bearer(log_in(gateway, handle)["accessToken"])}
        assert follow(gateway, fan, bob)[0] == 200
        fans.append(fan["id"])
    seen, token = [], ""
    for _ in range(10):
        query = f"pageSize=2" + (f"&pageToken={token}" if token else "")
        code, _, page = http("GET", f"{gateway}/v1/users/{bob['id']}/followers?{query}", headers=bob["auth"])
        assert code == 200, page
        assert len(page.get("users", [])) <= 2
        seen += [u["userId"] for u in page.get("users", [])]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert sorted(seen) == sorted(fans) and len(seen) == len(set(seen))
    assert seen == list(reversed(fans))  # most recent follow first


def test_a_garbage_page_token_is_400(gateway, bob):
    code, _, body = http("GET", f"{gateway}/v1/users/{bob['id']}/followers?pageToken=definitely-not-ours", headers=bob["auth"])
    assert code == 400, body


def test_block_removes_follows_both_ways_and_prevents_following(gateway, alice, bob):
    assert follow(gateway, alice, bob)[0] == 200
    assert follow(gateway, bob, alice)[0] == 200
    code, _, body = http("POST", f"{gateway}/v1/blocks/{alice['id']}", {}, headers=bob["auth"])
    assert code == 200, body
    _, _, bobs_followers = http("GET", f"{gateway}/v1/users/{bob['id']}/followers", headers=bob["auth"])
    _, _, alices_followers = http("GET", f"{gateway}/v1/users/{alice['id']}/followers", headers=alice["auth"])
    assert bobs_followers.get("users", []) == [] and alices_followers.get("users", []) == []
    code, _, body = follow(gateway, alice, bob)
    assert code == 403, body


def test_following_someone_who_does_not_exist_is_404(gateway, alice):
    code, _, body = http("POST", f"{gateway}/v1/follow", {"followingUserId": "999999999999", "followerUserId": alice["id"]},
                         headers=alice["auth"])
    assert code == 404, body


def test_a_follow_is_published_once_on_the_event_bus(stack, gateway, alice, bob):
    from tweetmesh.events.v1 import events_pb2

    # only what was published since just before this test: a long-lived stack's stream holds tens of
    # thousands of follows (a benchmark load), more than a reader gets through before its fetch times out
    since = (datetime.now(timezone.utc) - timedelta(seconds=30)).isoformat()

    async def follow_events() -> list:
        nc = await events.connect(stack, name="e2e-follow-events")
        try:
            js = nc.jetstream(timeout=5)
            sub = await js.pull_subscribe(
                "graph.follow.created", durable=None, stream="GRAPH",
                config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since, inactive_threshold=30),
            )
            found = []
            while True:
                try:
                    batch = await sub.fetch(500, timeout=1)
                except Exception:  # noqa: BLE001 - fetch times out when the stream is read to the end
                    return found
                for msg in batch:
                    event = events_pb2.FollowCreated.FromString(msg.data)
                    if event.actor_user_id == alice["id"] and event.following_user_id == bob["id"]:
                        found.append(event)
        finally:
            await nc.close()

    assert follow(gateway, alice, bob)[0] == 200
    assert follow(gateway, alice, bob)[0] == 200  # a retry publishes nothing new
    found = []
    for _ in range(20):  # the outbox relay publishes within milliseconds; allow a second
        found = asyncio.run(follow_events())
        if found:
            break
    assert len(found) == 1
