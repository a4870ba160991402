"""Authentication at the gateway: Envoy verifies access tokens before any service is called."""

from __future__ import annotations

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.conftest import bearer, http, mint_token
from tweetmesh.tweet.v1 import tweet_service_pb2, tweet_service_pb2_grpc

PROTECTED = "/v1/tweets/123"  # any route but sign-up, log-in and health


def test_a_request_without_token_is_401(gateway):
    code, _, _ = http("GET", gateway + PROTECTED)
    assert code == 401


def test_a_token_signed_with_another_key_is_401(stack, gateway):
    forged = mint_token(stack, "42", key=ec.generate_private_key(ec.SECP256R1()))
    code, _, _ = http("GET", gateway + PROTECTED, headers=bearer(forged))
    assert code == 401


def test_an_expired_token_is_401(stack, gateway):
    expired = mint_token(stack, "42", ttl_s=-120)  # past the 30 s clock-skew allowance
    code, _, _ = http("GET", gateway + PROTECTED, headers=bearer(expired))
    assert code == 401


def test_a_token_for_another_audience_is_refused(stack, gateway):
    code, _, body = http("GET", gateway + PROTECTED, headers=bearer(mint_token(stack, "42", audience="someone-else")))
    # Envoy's jwt_authn: a genuine token meant for another API is "forbidden", not "unauthenticated"
    assert code == 403 and "Audiences" in body["error"]["message"], body


def test_a_garbage_token_is_401(gateway):
    code, _, _ = http("GET", gateway + PROTECTED, headers=bearer("not.a.jwt"))
    assert code == 401


def test_a_valid_token_passes_to_the_service(stack, gateway):
    code, _, _ = http("GET", gateway + PROTECTED, headers=bearer(mint_token(stack, "42")))
    assert code not in (401, 403)  # answered by svc_tweet itself


def test_grpc_callers_are_authenticated_too(stack):
    with grpc.insecure_channel(f"{stack.host}:{stack.envoy_port}") as channel:
        stub = tweet_service_pb2_grpc.TweetServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetTweet(tweet_service_pb2.GetTweetRequest(tweet_id="123"), timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("path", ["/healthz", "/healthz/graph"])
def test_health_needs_no_token(gateway, path):
    code, _, _ = http("GET", gateway + path)
    assert code == 200


def test_sign_up_needs_no_token(gateway):
    # reaching the service's validation proves the request got past authentication
    code, _, body = http("POST", f"{gateway}/v1/users", {"handle": "!", "password": "x"})
    assert code == 400 and "handle" in body["error"]["message"]
