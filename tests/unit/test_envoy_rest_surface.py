"""The gateway's REST surface config: CORS origins from the environment, /openapi.json served open, the error
shape of Envoy's own replies, 405 + Allow routes generated from the descriptor."""

import json
import re
from pathlib import Path

import pytest

from deploy.envoy_render import (CORS_FILTER, REFUSE_FILTER, TRANSCODER_FILTER, cors_origin_matchers, http_bindings,
                                 render, template_regex)
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


NO_REQUEST_ID = {"header_filter": {"header": {"name": "x-request-id", "present_match": False}}}


def _local_reply_mappers() -> tuple[list[dict], list[dict]]:
    """(the REST mappers, the gRPC ones): every gRPC mapper comes after every REST one."""
    mappers = _manager(render(Stack()))["local_reply_config"]["mappers"]
    grpc_only = [m for m in mappers if "text_format_source" in m["body_format_override"]]
    rest = mappers[:len(mappers) - len(grpc_only)]
    assert mappers[len(rest):] == grpc_only
    return rest, grpc_only


def test_rest_errors_made_by_envoy_have_the_error_shape():
    mappers, _ = _local_reply_mappers()
    statuses, before_headers = set(), set()
    for mapper in mappers:
        error = mapper["body_format_override"]["json_format"]["error"]
        assert set(error) == {"code", "status", "reason", "message", "fields", "requestId"}
        *status_filters, rest_only = [f for f in mapper["filter"]["and_filter"]["filters"] if f != NO_REQUEST_ID]
        assert "application/grpc" in str(rest_only)
        status = re.sub(r"\D", "", str(status_filters[0]["status_code_filter"]["comparison"]["value"]["default_value"]))
        if NO_REQUEST_ID in mapper["filter"]["and_filter"]["filters"]:
            # refused before Envoy made an x-request-id: one made here, the same in the header and the body
            (added,) = mapper["headers_to_add"]
            assert added["header"]["key"] == "x-request-id"
            assert error["requestId"] == added["header"]["value"] and "%REQ(" not in error["requestId"]
            before_headers.add(status)
        else:
            assert error["requestId"] == "%REQ(X-REQUEST-ID)%"
            statuses.add(status)
    assert {"400", "401", "403", "404", "405", "413", "429", "500"} <= statuses
    assert {"400", "408", "431", "501"} <= before_headers
    # ...and checked before the mappers that read the request's id
    first_with_id = next(i for i, m in enumerate(mappers) if NO_REQUEST_ID not in m["filter"]["and_filter"]["filters"])
    assert all(NO_REQUEST_ID not in m["filter"]["and_filter"]["filters"] for m in mappers[first_with_id:])


def test_grpc_local_replies_keep_their_status_and_a_read_over_budget_names_its_budget():
    _, grpc_only = _local_reply_mappers()
    messages = []
    for mapper in grpc_only:
        status, on_read_path, *_ = mapper["filter"]["and_filter"]["filters"]
        assert status["status_code_filter"]["comparison"]["value"]["default_value"] == 429
        assert re.fullmatch(on_read_path["header_filter"]["header"]["string_match"]["safe_regex"]["regex"],
                            "/tweetmesh.timeline.v1.TimelineService/GetHomeTimeline")
        assert set(mapper) == {"filter", "body_format_override"}  # the status stays Envoy's
        messages.append(mapper["body_format_override"]["text_format_source"]["inline_string"])
    # as svc_ratelimit names a write budget; a signed-in caller's first
    assert [m.split(";")[0] for m in messages] == ["rate limit exceeded (read:user)", "rate limit exceeded (read:anonymous)"]
    assert all(m.endswith("; retry after %RESP(RETRY-AFTER)% s") for m in messages)


def test_requests_refused_before_they_had_an_id_are_logged_with_the_id_they_were_answered_with():
    loggers = _manager(render(Stack()))["access_log"]
    by_filter = {json.dumps(logger["filter"], sort_keys=True): logger for logger in loggers}
    with_id = by_filter[json.dumps({"header_filter": {"header": {"name": "x-request-id", "present_match": True}}}, sort_keys=True)]
    without = by_filter[json.dumps(NO_REQUEST_ID, sort_keys=True)]
    assert len(loggers) == 2
    line, other = (logger["typed_config"]["log_format"]["json_format"] for logger in (with_id, without))
    assert line["request_id"] == "%REQ(X-REQUEST-ID)%" and other["request_id"] == "%RESP(X-REQUEST-ID)%"
    assert {k: v for k, v in line.items() if k != "request_id"} == {k: v for k, v in other.items() if k != "request_id"}


# --- wrong method on a known path: 405 + Allow, generated from the descriptor -------------------------


def _refuse_routes(config):
    (host,) = _manager(config)["route_config"]["virtual_hosts"]
    return [r for r in host["routes"] if REFUSE_FILTER in r.get("metadata", {}).get("filter_metadata", {})]


def _answer(routes, path: str) -> dict:
    """What the refuse routes answer for a REST path the transcoder did not take: the first match."""
    for route in routes:
        match = route["match"]
        if match.get("prefix") == "/" or re.search(match.get("safe_regex", {}).get("regex", "(?!)"), path):
            return route["metadata"]["filter_metadata"][REFUSE_FILTER]
    raise AssertionError(f"no route for {path}")


def _sample(template: str) -> str:
    return re.sub(r"\{[^}]*\}", "123", template)


def test_every_http_binding_of_the_protos_has_a_405_route_naming_its_methods():
    config = render(Stack())
    routes = _refuse_routes(config)
    transcoder = next(f["typed_config"] for f in _manager(config)["http_filters"] if f["name"] == TRANSCODER_FILTER)
    bindings = http_bindings(Path(transcoder["proto_descriptor"]).read_bytes(), transcoder["services"])
    document = json.loads((REPO_ROOT / "gen" / "openapi" / "tweetmesh.json").read_text())
    documented = {path: {m.upper() for m in item} for path, item in document["paths"].items()}
    public = [(grpc_path, method, template) for grpc_path, method, template in bindings if "/internal/" not in template]
    # the OpenAPI document (another generator) lists the same bindings: none missed, none invented
    assert {(re.sub(r"\{([^}=]+)(=[^}]*)?\}", r"{\1}", t), m) for _, m, t in public} == {
        (path, m) for path, methods in documented.items() for m in methods}
    for _, method, template in public:
        openapi_path = re.sub(r"\{([^}=]+)(=[^}]*)?\}", r"{\1}", template)
        for path in (_sample(template), _sample(template) + ("/" if ":" not in template else "")):
            answer = _answer(routes, path)
            assert answer["status"] == 405, (template, answer)
            assert set(answer["allow"].split(", ")) == documented[openapi_path], (template, answer)
            assert method in answer["allow"].split(", ")
    assert len(bindings) > len(public) > 40


def test_internal_unknown_and_verb_mangled_paths_stay_404():
    routes = _refuse_routes(render(Stack()))
    assert routes[-1]["match"] == {"prefix": "/"}
    for path in ("/internal/v1/graph/users/123/followerIds", "/v2/nothing", "/v1/users/123:lookup",
                 "/v1/users/123/nope", "/v1/media/123:nope:complete/x", "/v1"):
        assert _answer(routes, path) == {"status": 404}, path
    # an unregistered `:word` is part of the id, as the transcoder reads it
    assert _answer(routes, "/v1/users/123:nope")["allow"] == "GET, PATCH"


def test_template_regexes_follow_the_transcoder():
    assert template_regex("/v1/users/{user_id}") == ("^/v1/users/[^/]+/*$", "")
    assert template_regex("/v1/media/{media_id}:complete") == ("^/v1/media/[^/]+:complete$", "complete")
    assert template_regex("/v1/{name=shelves/*}/books/**") == ("^/v1/shelves/[^/]+/books/.*/*$", "")
