"""The gateway config stays in step with the mesh: every service routed, checked and transcoded."""

import re

import pytest

from deploy.envoy_render import render
from mesh.config import REPO_ROOT, SERVICES, Stack


def _manager(config):
    (listener,) = config["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (manager,) = chain["filters"]
    return listener, manager["typed_config"]


def test_rendering_applies_configured_ports_and_absolute_descriptor(monkeypatch):
    monkeypatch.setenv("TM_ENVOY_PORT", "18080")
    monkeypatch.setenv("TM_ENVOY_ADMIN_PORT", "19901")
    monkeypatch.setenv("TM_SEARCH_GRPC_PORT", "60055")
    config = render(Stack())
    listener, manager = _manager(config)
    assert listener["address"]["socket_address"]["port_value"] == 18080
    assert config["admin"]["address"]["socket_address"]["port_value"] == 19901
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    search_endpoint = clusters["search"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert search_endpoint["endpoint"]["address"]["socket_address"]["port_value"] == 60055
    (transcoder,) = [f for f in manager["http_filters"] if "proto_descriptor" in f["typed_config"]]
    assert transcoder["typed_config"]["proto_descriptor"] == str(REPO_ROOT / "gen" / "tweetmesh_descriptor.binpb")


def test_every_service_is_health_checked_routed_and_transcoded():
    config = render(Stack())
    _, manager = _manager(config)
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    (transcoder,) = [f for f in manager["http_filters"] if "proto_descriptor" in f["typed_config"]]
    for spec in SERVICES:
        cluster = clusters[spec.name]
        assert [h["grpc_health_check"]["service_name"] for h in cluster["health_checks"]] == [spec.grpc_service]
        assert "http2_protocol_options" in str(cluster["typed_extension_protocol_options"])
        routed = any(r["match"].get("prefix") == f"/{spec.grpc_service}/" and r["route"]["cluster"] == spec.name for r in routes)
        # a client API is routed and transcoded; the rate limiter is called by Envoy only
        assert routed == spec.public
        assert (spec.grpc_service in transcoder["typed_config"]["services"]) == spec.public
        healthz = [f for f in manager["http_filters"] if f["name"] == f"healthz_{spec.name}"]
        assert healthz and list(healthz[0]["typed_config"]["cluster_min_healthy_percentages"]) == [spec.name]


def test_clients_cannot_assert_a_caller_identity():
    _, manager = _manager(render(Stack()))
    names = [f["name"] for f in manager["http_filters"]]
    first = manager["http_filters"][0]
    assert first["name"] == "envoy.filters.http.header_mutation"
    assert {"remove": "x-tweetmesh-user-id"} in first["typed_config"]["mutations"]["request_mutations"]
    # the verified identity is set after the client's value is gone, and after transcoding
    jwt = manager["http_filters"][names.index("envoy.filters.http.jwt_authn")]["typed_config"]
    assert names.index("envoy.filters.http.grpc_json_transcoder") < names.index("envoy.filters.http.jwt_authn")
    (provider,) = jwt["providers"].values()
    assert provider["claim_to_headers"] == [{"header_name": "x-tweetmesh-user-id", "claim_name": "sub"}]


def test_only_sign_up_log_in_and_health_are_open(tmp_path, monkeypatch):
    monkeypatch.setenv("TM_VAR_DIR", str(tmp_path))
    _, manager = _manager(render(Stack()))
    jwt = next(f for f in manager["http_filters"] if f["name"] == "envoy.filters.http.jwt_authn")["typed_config"]
    assert jwt["providers"]["tweetmesh"]["local_jwks"]["filename"] == str(tmp_path / "secrets" / "jwks.json")
    open_rules = [r["match"] for r in jwt["rules"] if "requires" not in r]
    assert jwt["rules"][-1] == {"match": {"prefix": "/"}, "requires": {"provider_name": "tweetmesh"}}
    def is_open(path: str) -> bool:
        return any(re.fullmatch(m["safe_regex"]["regex"], path) for m in open_rules)

    assert is_open("/tweetmesh.graph.v1.GraphService/CreateUser")
    assert is_open("/tweetmesh.graph.v1.GraphService/CreateSession")
    assert is_open("/grpc.health.v1.Health/Check")
    assert not is_open("/tweetmesh.graph.v1.GraphService/FollowUser")
    assert not is_open("/tweetmesh.tweet.v1.TweetService/CreateTweet")



def _shield_bucket(config) -> dict:
    _, manager = _manager(config)
    (shield,) = [f for f in manager["http_filters"] if f["name"] == "envoy.filters.http.local_ratelimit"]
    return shield["typed_config"]["token_bucket"]


def test_the_shield_keeps_its_defaults_unless_configured(monkeypatch):
    monkeypatch.delenv("TM_ENVOY_SHIELD_PER_S", raising=False)
    monkeypatch.delenv("TM_ENVOY_SHIELD_BURST", raising=False)
    assert _shield_bucket(render(Stack())) == {"max_tokens": 4000, "tokens_per_fill": 2000, "fill_interval": "1s"}
    monkeypatch.setenv("TM_ENVOY_SHIELD_PER_S", "20000")
    assert _shield_bucket(render(Stack())) == {"max_tokens": 20000, "tokens_per_fill": 20000, "fill_interval": "1s"}
    monkeypatch.setenv("TM_ENVOY_SHIELD_BURST", "50000")
    assert _shield_bucket(render(Stack()))["max_tokens"] == 50000


def test_a_nonsense_shield_setting_is_refused_with_its_name(monkeypatch):
    monkeypatch.setenv("TM_ENVOY_SHIELD_PER_S", "lots")
    with pytest.raises(ValueError, match="TM_ENVOY_SHIELD_PER_S"):
        render(Stack())
