import pytest

from mesh.config import SERVICES, Stack, env_int, service_spec


def test_ports_are_overridable_by_environment(monkeypatch):
    monkeypatch.setenv("TM_ENVOY_PORT", "18080")
    monkeypatch.setenv("TM_TWEET_GRPC_PORT", "60052")
    stack = Stack()
    assert stack.envoy_url == "http://127.0.0.1:18080"
    assert stack.grpc_target(service_spec("tweet")) == "127.0.0.1:60052"
    assert stack.grpc_target(service_spec("graph")) == "127.0.0.1:50051"


def test_a_malformed_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("TM_CQL_PORT", "nine")
    with pytest.raises(ValueError, match="TM_CQL_PORT must be an integer, got 'nine'"):
        env_int("TM_CQL_PORT", 9042)


def test_every_service_has_its_own_ports_and_proto_service():
    ports = [p for s in SERVICES for p in (s.grpc_port, s.metrics_port)]
    assert len(ports) == len(set(ports))
    assert {s.package for s in SERVICES if s.public} == {"svc_graph", "svc_tweet", "svc_timeline", "svc_notify", "svc_search"}
    for spec in SERVICES:
        if spec.public:
            assert spec.grpc_service.startswith(f"tweetmesh.{spec.name}.v1.")
    # the rate limiter serves Envoy's own API, to the gateway only
    (limiter,) = [s for s in SERVICES if not s.public]
    assert (limiter.package, limiter.grpc_service) == ("svc_ratelimit", "envoy.service.ratelimit.v3.RateLimitService")


def test_unknown_service_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown service 'feed'"):
        service_spec("feed")
