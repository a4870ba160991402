"""Per-user rate limits at the gateway, as a client meets them: 429 (RESOURCE_EXHAUSTED over gRPC)
with Retry-After and X-RateLimit-* headers, only for the offender; reads pass and writes are refused
while the limiter is down.

Writes are counted by svc_ratelimit, reads by Envoy itself. The module restarts both with
deliberately small budgets (slow refill, so the counts are exact) and restores them with the
environment the mesh runs with when it ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import grpc
import pytest

from mesh.config import REPO_ROOT, Stack
from tests.e2e.conftest import account, bearer, http, mint_token, wait_until
from tweetmesh.notify.v1 import notification_service_pb2, notification_service_pb2_grpc
from tweetmesh.tweet.v1 import tweet_service_pb2, tweet_service_pb2_grpc

SMALL_BUDGETS = {
    "TM_RATELIMIT_WRITE_PER_S": "0.2", "TM_RATELIMIT_WRITE_BURST": "5",
    "TM_RATELIMIT_READ_PER_S": "0.2", "TM_RATELIMIT_READ_BURST": "8",
    "TM_RATELIMIT_ANON_WRITE_PER_S": "0.2", "TM_RATELIMIT_ANON_WRITE_BURST": "3",
}


def _stack(command: str, env: dict[str, str], *components: str) -> None:
    done = subprocess.run([sys.executable, "-m", "deploy.stack", command, *components], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _limiter_seen_by_envoy(gateway: str, healthy: bool) -> None:
    wait_until(lambda: (http("GET", f"{gateway}/healthz/ratelimit")[0] == 200) == healthy, within_s=15)


def _restart_limiters(gateway: str, env: dict[str, str]) -> None:
    """svc_ratelimit (writes) and Envoy (reads: it renders its read buckets from env as it starts)."""
    _stack("down", env, "svc_ratelimit", "envoy")
    _stack("up", env, "svc_ratelimit", "envoy")
    _limiter_seen_by_envoy(gateway, healthy=True)


@pytest.fixture(scope="module")
def writer(gateway) -> dict:
    """A real account, signed up before the small anonymous budget applies."""
    return account(gateway)


@pytest.fixture(scope="module", autouse=True)
def small_budgets(gateway, writer):
    _restart_limiters(gateway, {**os.environ, **SMALL_BUDGETS})
    try:
        yield
    finally:
        _restart_limiters(gateway, dict(os.environ))


def _user() -> dict[str, str]:
    """The Authorization header of a caller no other test uses (any verified user id has a budget)."""
    return bearer(mint_token(Stack(), str(10**15 + uuid.uuid4().int % 10**15)))


def _bad_tweet(gateway: str, auth: dict[str, str]):
    """A write the service refuses (400) after the gateway let it through: it costs a token all the same."""
    return http("POST", f"{gateway}/v1/tweet", {"twitterContent": "", "images": []}, headers=auth)


def _limit_headers(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-ratelimit-") or k.lower() == "retry-after"}


def test_a_user_over_the_write_budget_gets_429_with_retry_after_and_ratelimit_headers(gateway):
    ann = _user()
    answers = [_bad_tweet(gateway, ann) for _ in range(6)]
    assert [code for code, _, _ in answers] == [400] * 5 + [429], [a[2] for a in answers]
    assert [_limit_headers(h)["x-ratelimit-remaining"] for _, h, _ in answers[:5]] == ["4", "3", "2", "1", "0"]
    code, headers, _ = answers[-1]
    limits = _limit_headers(headers)
    assert limits["x-ratelimit-limit"] == "5" and limits["x-ratelimit-remaining"] == "0"
    assert 1 <= int(limits["retry-after"]) <= 5  # one token at 0.2 a second
    assert 1 <= int(limits["x-ratelimit-reset"]) <= 25  # the whole burst
    # only the offender: another user writes, and the offender still reads (its own budget)
    assert _bad_tweet(gateway, _user())[0] == 400
    assert http("GET", f"{gateway}/v1/notifications:unreadCount", headers=ann)[0] == 200


def test_reads_have_their_own_budget(gateway):
    bob = _user()
    codes = [http("GET", f"{gateway}/v1/notifications:unreadCount", headers=bob)[0] for _ in range(9)]
    assert codes == [200] * 8 + [429]
    assert _bad_tweet(gateway, bob)[0] == 400  # writes are not spent by reads


def test_a_grpc_caller_over_budget_gets_resource_exhausted(stack, gateway):
    auth = (("authorization", _user()["Authorization"]),)
    with grpc.insecure_channel(f"{stack.host}:{stack.envoy_port}") as channel:
        stub = notification_service_pb2_grpc.NotificationServiceStub(channel)
        for _ in range(8):
            stub.GetUnreadCount(notification_service_pb2.GetUnreadCountRequest(), metadata=auth, timeout=5)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetUnreadCount(notification_service_pb2.GetUnreadCountRequest(), metadata=auth, timeout=5)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "read:user" in raised.value.details()  # which budget ran out
    trailers = dict(raised.value.trailing_metadata() or ())  # a trailers-only answer
    assert trailers["x-ratelimit-remaining"] == "0" and int(trailers["retry-after"]) >= 1


def test_before_log_in_the_budget_is_the_client_addresss(gateway):
    codes = [http("POST", f"{gateway}/v1/sessions", {"handle": "nobody", "password": "x"})[0] for _ in range(4)]
    assert codes[-1] == 429 and 429 not in codes[:-1] and len(set(codes[:-1])) == 1
    assert _bad_tweet(gateway, _user())[0] == 400  # a signed-in caller from the same address is not limited


def test_without_the_limiter_reads_pass_and_writes_are_refused(stack, gateway, writer):
    user_id, auth = writer["id"], writer["auth"]
    _stack("down", dict(os.environ), "svc_ratelimit")
    try:
        _limiter_seen_by_envoy(gateway, healthy=False)
        code, _, body = http("POST", f"{gateway}/v1/tweet", {"twitterContent": "unmetered?", "images": [], "userId": user_id},
                             headers=auth)
        assert code == 503, body
        with grpc.insecure_channel(f"{stack.host}:{stack.envoy_port}") as channel:
            with pytest.raises(grpc.RpcError) as raised:
                tweet_service_pb2_grpc.TweetServiceStub(channel).CreateTweet(
                    tweet_service_pb2.CreateTweetRequest(twitter_content="unmetered?", user_id=user_id),
                    metadata=(("authorization", auth["Authorization"]),), timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        # reads pass, and show that nothing was written
        code, _, body = http("GET", f"{gateway}/v1/users/{user_id}/tweets?pageSize=10", headers=auth)
        assert code == 200 and body["tweets"] == [], body
    finally:
        _stack("up", {**os.environ, **SMALL_BUDGETS}, "svc_ratelimit")
        _limiter_seen_by_envoy(gateway, healthy=True)
