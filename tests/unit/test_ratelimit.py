"""svc_ratelimit without I/O: token bucket maths, budgets, descriptors, the servicer over a fake
bucket store, and how the gateway config classifies and keys every RPC."""

from __future__ import annotations

import os
import re

import pytest
from google.protobuf import descriptor_pb2

from deploy.envoy_render import render
from mesh.config import REPO_ROOT, Stack
from mesh.errors import InvalidArgument
from svc_ratelimit.domain import (
    DEFAULT_BUDGETS,
    BucketId,
    Budget,
    Budgets,
    Caller,
    Kind,
    Take,
    bucket_of,
    refill,
    verdict,
)
from svc_ratelimit.grpc_api import RateLimitServiceApi
from svc_ratelimit.service import RateLimiter
from svc_ratelimit.testing import FakeBuckets
from third_party.envoy.service.ratelimit.v3 import rls_pb2 as pb

WRITES = Budget(per_s=2, burst=5)
SMALL = Budgets({(kind, caller): WRITES for kind in Kind for caller in Caller})
ANN = BucketId(Kind.WRITE, Caller.USER, "42")


# --- bucket maths ----------------------------------------------------------------------------------


def test_a_bucket_refills_at_its_rate_up_to_its_burst():
    assert refill(0, last_s=10, now_s=11.5, budget=WRITES) == 3
    assert refill(4, last_s=10, now_s=100, budget=WRITES) == 5
    assert refill(1, last_s=10, now_s=9, budget=WRITES) == 1  # a clock that went back adds nothing


def test_a_verdict_tells_what_is_left_when_the_bucket_is_full_and_when_to_retry():
    granted = verdict(ANN, WRITES, Take(True, 2.5), cost=1)
    assert (granted.remaining, granted.reset_s, granted.retry_after_s) == (2, 2, 0)  # 2.5 tokens short: 1.25 s -> 2
    refused = verdict(ANN, WRITES, Take(False, 0.2), cost=1)
    assert (refused.granted, refused.remaining, refused.retry_after_s) == (False, 0, 1)  # 0.8 token: 0.4 s -> 1
    big = verdict(ANN, WRITES, Take(False, 1), cost=4)
    assert big.retry_after_s == 2  # 3 tokens at 2 a second
    full = verdict(ANN, WRITES, Take(True, 5), cost=1)
    assert (full.remaining, full.reset_s) == (5, 0)


def test_a_budget_must_be_able_to_grant_something():
    with pytest.raises(ValueError):
        Budget(0, 10)
    with pytest.raises(ValueError):
        Budget(1, 0)


def test_budgets_come_from_the_environment_with_defaults(monkeypatch):
    for name in [n for n in os.environ if n.startswith("TM_RATELIMIT_")]:
        monkeypatch.delenv(name)  # `make test` exports some for the suite; this test wants the defaults
    monkeypatch.setenv("TM_RATELIMIT_WRITE_PER_S", "0.5")
    monkeypatch.setenv("TM_RATELIMIT_WRITE_BURST", "3")
    monkeypatch.setenv("TM_RATELIMIT_ANON_WRITE_BURST", "7")
    budgets = Budgets.from_env()
    assert budgets.of(BucketId(Kind.WRITE, Caller.USER, "1")) == Budget(0.5, 3)
    assert budgets.of(BucketId(Kind.WRITE, Caller.ADDRESS, "1.2.3.4")) == Budget(DEFAULT_BUDGETS[(Kind.WRITE, Caller.ADDRESS)].per_s, 7)
    assert budgets.of(BucketId(Kind.READ, Caller.USER, "1")) == DEFAULT_BUDGETS[(Kind.READ, Caller.USER)]


# --- descriptors -----------------------------------------------------------------------------------


def test_a_descriptor_names_the_users_bucket_or_before_log_in_the_addresss():
    assert bucket_of([("kind", "write"), ("user", "42")]) == BucketId(Kind.WRITE, Caller.USER, "42")
    anonymous = [("kind", "read"), ("caller", "anonymous"), ("remote_address", "10.0.0.7")]
    assert bucket_of(anonymous) == BucketId(Kind.READ, Caller.ADDRESS, "10.0.0.7")
    assert bucket_of([("kind", "read"), ("remote_address", "10.0.0.7"), ("user", "42")]).caller is Caller.USER


@pytest.mark.parametrize("entries", [[("user", "42")], [("kind", "delete"), ("user", "42")], [("kind", "read")]])
def test_a_descriptor_that_names_no_bucket_is_refused(entries):
    with pytest.raises(InvalidArgument) as raised:
        bucket_of(entries)
    assert raised.value.reason == "UNKNOWN_DESCRIPTOR"


# --- the servicer ----------------------------------------------------------------------------------


def _request(*descriptors: list[tuple[str, str]], hits: int = 0) -> pb.RateLimitRequest:
    request = pb.RateLimitRequest(domain="tweetmesh", hits_addend=hits)
    for entries in descriptors:
        d = request.descriptors.add()
        for key, value in entries:
            d.entries.add(key=key, value=value)
    return request


def _headers(response: pb.RateLimitResponse) -> dict[str, str]:
    return {h.key: h.value for h in response.response_headers_to_add}


@pytest.fixture
def store():
    return FakeBuckets()


@pytest.fixture
def api(store):
    return RateLimitServiceApi(RateLimiter(store, SMALL))


USER_42 = [("kind", "write"), ("user", "42")]
USER_43 = [("kind", "write"), ("user", "43")]


async def test_a_user_over_budget_is_refused_with_retry_after_and_others_are_not(api, store):
    answers = [await api.ShouldRateLimit(_request(USER_42), None) for _ in range(6)]
    assert [a.overall_code for a in answers] == [pb.RateLimitResponse.OK] * 5 + [pb.RateLimitResponse.OVER_LIMIT]
    assert [a.statuses[0].limit_remaining for a in answers] == [4, 3, 2, 1, 0, 0]
    last = answers[-1]
    status = last.statuses[0]
    assert (status.current_limit.requests_per_unit, status.current_limit.name) == (5, "write:user")
    assert status.duration_until_reset.seconds == 3  # 5 tokens at 2 a second
    assert _headers(last) == {"retry-after": "1"}
    assert b"write:user" in last.raw_body
    assert not _headers(answers[0]) and not answers[0].raw_body
    # only the offender: another user has a full budget
    other = await api.ShouldRateLimit(_request(USER_43), None)
    assert other.overall_code == pb.RateLimitResponse.OK and other.statuses[0].limit_remaining == 4
    # time refills the offender's bucket
    store.now += 1
    again = await api.ShouldRateLimit(_request(USER_42), None)
    assert again.overall_code == pb.RateLimitResponse.OK and again.statuses[0].limit_remaining == 1


async def test_hits_addend_takes_that_many_tokens(api):
    first = await api.ShouldRateLimit(_request(USER_42, hits=4), None)
    assert first.statuses[0].limit_remaining == 1
    second = await api.ShouldRateLimit(_request(USER_42, hits=4), None)
    assert second.overall_code == pb.RateLimitResponse.OVER_LIMIT
    assert _headers(second)["retry-after"] == "2"  # 3 tokens short at 2 a second


async def test_any_descriptor_over_limit_makes_the_request_over_limit(api):
    for _ in range(5):
        await api.ShouldRateLimit(_request(USER_42), None)
    answer = await api.ShouldRateLimit(_request(USER_43, USER_42), None)
    assert answer.overall_code == pb.RateLimitResponse.OVER_LIMIT
    assert [s.code for s in answer.statuses] == [pb.RateLimitResponse.OK, pb.RateLimitResponse.OVER_LIMIT]


async def test_an_unknown_descriptor_or_a_down_store_is_an_error_for_envoys_failure_mode(api, store):
    from mesh.errors import Unavailable

    with pytest.raises(InvalidArgument):
        await api.ShouldRateLimit(_request([("kind", "write")]), None)
    store.down = True
    with pytest.raises(Unavailable):
        await api.ShouldRateLimit(_request(USER_42), None)


# --- the gateway: classification and keys ----------------------------------------------------------


def _manager():
    (listener,) = render(Stack())["static_resources"]["listeners"]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def _filter(name: str) -> dict:
    (found,) = [f["typed_config"] for f in _manager()["http_filters"] if f["name"] == name]
    return found


def _write_limits() -> list[dict]:
    """The virtual host's rate limits, which svc_ratelimit answers for (writes, stage 1)."""
    return _manager()["route_config"]["virtual_hosts"][0]["rate_limits"]


def _read_limits() -> list[dict]:
    """The read_budgets filter's own rate limits, which Envoy counts itself."""
    return _filter("read_budgets")["rate_limits"]


def _descriptor_kind(rate_limits, path: str) -> list[str]:
    """The kind of every descriptor these rate limits make for a request to `path`."""
    kinds = []
    for limit in rate_limits:
        match = limit["actions"][0]["header_value_match"]
        ok = all(
            (bool(re.fullmatch(h["string_match"]["safe_regex"]["regex"], path)) if "safe_regex" in h["string_match"]
             else path.startswith(h["string_match"]["prefix"])) != h.get("invert_match", False)
            for h in match["headers"]
        )
        if ok:
            kinds.append(match["descriptor_value"])
    return kinds


def _public_rpcs() -> list[str]:
    image = descriptor_pb2.FileDescriptorSet.FromString((REPO_ROOT / "gen" / "tweetmesh_descriptor.binpb").read_bytes())
    return [f"/{f.package}.{s.name}/{m.name}" for f in image.file if f.name.startswith("tweetmesh/")
            for s in f.service for m in s.method]


READ_VERBS = ("Get", "BatchGet", "List", "Lookup", "Search", "Stream")


def test_every_rpc_is_a_read_or_a_write_by_its_verb_and_health_is_neither():
    writes, reads = _write_limits(), _read_limits()
    assert all(limit["stage"] == 1 for limit in writes)  # the stage of ratelimit_writes, and only it
    rpcs = _public_rpcs()
    assert len(rpcs) > 40
    for path in rpcs:
        method = path.rsplit("/", 1)[1]
        expected = "read" if method.startswith(READ_VERBS) else "write"
        # two descriptors per kind (verified user, anonymous address); each makes the same kind
        assert _descriptor_kind(reads, path) == (["read", "read"] if expected == "read" else []), path
        assert _descriptor_kind(writes, path) == (["write", "write"] if expected == "write" else []), path
    for path in ("/tweetmesh.tweet.v1.TweetService/CreateTweet", "/tweetmesh.notify.v1.NotificationService/MarkNotificationsRead"):
        assert _descriptor_kind(writes, path) == ["write", "write"]
    for path in ("/tweetmesh.timeline.v1.TimelineService/GetHomeTimeline", "/tweetmesh.graph.v1.GraphService/LookupUser"):
        assert _descriptor_kind(reads, path) == ["read", "read"]
    for path in ("/grpc.health.v1.Health/Check", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"):
        assert _descriptor_kind(reads, path) == _descriptor_kind(writes, path) == []


def test_buckets_are_keyed_by_the_verified_user_or_before_log_in_the_address():
    for limit in _write_limits() + _read_limits():
        keys = limit["actions"][1:]
        if "request_headers" in keys[0]:
            assert keys == [{"request_headers": {"header_name": "x-tweetmesh-user-id", "descriptor_key": "user"}}]
        else:
            # only when no verified user id is present; the address is the connection's peer
            anonymous = keys[0]["header_value_match"]
            assert anonymous["expect_match"] is False
            assert anonymous["headers"] == [{"name": "x-tweetmesh-user-id", "present_match": True}]
            assert keys[1] == {"remote_address": {}}
    assert _manager()["use_remote_address"] is True


def test_envoy_counts_reads_itself_a_bucket_per_user_or_address():
    reads = _filter("read_budgets")
    assert reads["filter_enabled"]["default_value"] == reads["filter_enforced"]["default_value"] == {
        "numerator": 100, "denominator": "HUNDRED"}
    # wildcards: a bucket for each user id and each address, not one for all of them
    assert [d["entries"] for d in reads["descriptors"]] == [
        [{"key": "kind", "value": "read"}, {"key": "user"}],
        [{"key": "kind", "value": "read"}, {"key": "caller", "value": "anonymous"}, {"key": "remote_address"}]]
    assert reads["always_consume_default_token_bucket"] is False and "token_bucket" not in reads
    assert reads["max_dynamic_descriptors"] >= 100_000
    assert reads["enable_x_ratelimit_headers"] == "DRAFT_VERSION_03" and reads["rate_limited_as_resource_exhausted"] is True


def test_read_buckets_take_the_budgets_that_svc_ratelimit_reads(monkeypatch):
    for name in ("READ", "ANON_READ"):
        for part in ("PER_S", "BURST"):
            monkeypatch.delenv(f"TM_RATELIMIT_{name}_{part}", raising=False)
    user, anonymous = _filter("read_budgets")["descriptors"]
    # the defaults, 50/s with bursts of 300, refilled every 100 ms
    assert user["token_bucket"] == anonymous["token_bucket"] == {"max_tokens": 300, "tokens_per_fill": 5, "fill_interval": "0.100s"}
    monkeypatch.setenv("TM_RATELIMIT_READ_PER_S", "0.2")
    monkeypatch.setenv("TM_RATELIMIT_READ_BURST", "8")
    monkeypatch.setenv("TM_RATELIMIT_ANON_READ_PER_S", "1000")
    reads = _filter("read_budgets")
    user, anonymous = reads["descriptors"]
    assert user["token_bucket"] == {"max_tokens": 8, "tokens_per_fill": 1, "fill_interval": "5.000s"}
    assert anonymous["token_bucket"] == {"max_tokens": 300, "tokens_per_fill": 100, "fill_interval": "0.100s"}
    # a refused reader learns when the slower bucket has a token again
    (retry_after,) = reads["response_headers_to_add"]
    assert retry_after["header"] == {"key": "retry-after", "value": "5"}


def test_reads_are_counted_after_authentication_writes_fail_closed_with_headers():
    manager = _manager()
    names = [f["name"] for f in manager["http_filters"]]
    writes = _filter("ratelimit_writes")
    assert "ratelimit_reads" not in names
    assert names.index("envoy.filters.http.jwt_authn") < names.index("read_budgets") < names.index("ratelimit_writes")
    assert names.index("ratelimit_writes") < names.index("envoy.filters.http.router")
    assert (writes["stage"], writes["failure_mode_deny"], writes["status_on_error"]["code"]) == (1, True, "ServiceUnavailable")
    assert writes["enable_x_ratelimit_headers"] == "DRAFT_VERSION_03"
    assert writes["rate_limited_as_resource_exhausted"] is True
    assert writes["rate_limit_service"]["grpc_service"]["envoy_grpc"]["cluster_name"] == "ratelimit"
    # the shield comes before any costly work and is off where SREs look
    shield = names.index("envoy.filters.http.local_ratelimit")
    assert shield < names.index("envoy.filters.http.grpc_json_transcoder")
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    ops = [r for r in routes if "grpc\\.(health" in r["match"].get("safe_regex", {}).get("regex", "")]
    assert len(ops) == 6
    assert all(r["typed_per_filter_config"]["envoy.filters.http.local_ratelimit"]["disabled"] is True for r in ops)
