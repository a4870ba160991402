"""The gateway's REST surface config: CORS origins from the environment, /openapi.json served open."""

import re

import pytest

from deploy.envoy_render import CORS_FILTER, cors_origin_matchers, render
from mesh.config import REPO_ROOT, Stack


def _manager(config):
    (listener,) = config["static_resources"]["listeners"]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def test_cors_origins_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("TM_CORS_ALLOWED_ORIGINS", "https://app.example, https://admin.example/")
    (host,) = _manager(render(Stack()))["route_config"]["virtual_hosts"]
    policy = host["typed_per_filter_config"][CORS_FILTER]
    assert policy["allow_origin_string_match"] == [{"exact": "https://app.example"}, {"exact": "https://admin.example"}]
    for header in ("x-request-id", "retry-after", "x-ratelimit-remaining"):
        assert header in policy["expose_headers"]


def test_cors_defaults_to_the_local_web_app_and_star_allows_any(monkeypatch):
    monkeypatch.delenv("TM_CORS_ALLOWED_ORIGINS", raising=False)
    (host,) = _manager(render(Stack()))["route_config"]["virtual_hosts"]
    assert host["typed_per_filter_config"][CORS_FILTER]["allow_origin_string_match"] == [{"exact": "http://localhost:3000"}]
    assert cors_origin_matchers("*") == [{"safe_regex": {"regex": ".*"}}]
    with pytest.raises(ValueError):
        cors_origin_matchers(" , ")


def test_preflights_skip_authentication_and_are_answered_before_it():
    manager = _manager(render(Stack()))
    names = [f["name"] for f in manager["http_filters"]]
    assert names.index("envoy.filters.http.grpc_json_transcoder") < names.index(CORS_FILTER) < names.index(
        "envoy.filters.http.jwt_authn")
    jwt = manager["http_filters"][names.index("envoy.filters.http.jwt_authn")]["typed_config"]
    assert jwt["bypass_cors_preflight"] is True


def test_the_openapi_document_is_served_from_gen_without_a_token():
    manager = _manager(render(Stack()))
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    (route,) = [r for r in routes if r["match"].get("path") == "/openapi.json"]
    filename = route["direct_response"]["body"]["filename"]
    assert filename == str(REPO_ROOT / "gen" / "openapi" / "tweetmesh.json")
    assert len(open(filename, "rb").read()) <= manager["route_config"]["max_direct_response_body_size_bytes"]
    jwt = next(f for f in manager["http_filters"] if f["name"] == "envoy.filters.http.jwt_authn")["typed_config"]
    open_rules = [r["match"] for r in jwt["rules"] if "requires" not in r]
    assert any(re.fullmatch(m["safe_regex"]["regex"], "/openapi.json") for m in open_rules)
    assert not any(re.fullmatch(m["safe_regex"]["regex"], "/openapi.jsonx") for m in open_rules)


def test_rest_errors_made_by_envoy_have_the_error_shape_and_grpc_ones_are_left_alone():
    mappers = _manager(render(Stack()))["local_reply_config"]["mappers"]
    statuses = set()
    for mapper in mappers:
        error = mapper["body_format_override"]["json_format"]["error"]
        assert set(error) == {"code", "status", "reason", "message", "fields", "requestId"}
        assert error["requestId"] == "%REQ(X-REQUEST-ID)%"
        status_filter, rest_only = mapper["filter"]["and_filter"]["filters"]
        assert "application/grpc" in str(rest_only)
        statuses.add(re.sub(r"\D", "", str(status_filter["status_code_filter"]["comparison"]["value"]["default_value"])))
    assert {"400", "401", "403", "404", "413", "429", "500"} <= statuses
