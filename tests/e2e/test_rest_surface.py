"""The REST surface as a browser or app developer meets it: one error shape, CORS, request ids,
the OpenAPI document. Needs `make up`."""

from __future__ import annotations

from http.client import HTTPResponse
import json
import re
import select
import socket
import time
import urllib.error
import urllib.request

import grpc
import pytest
from openapi_spec_validator import validate

from deploy.runtime import Layout
from mesh.config import REPO_ROOT
from tests.e2e.conftest import account, bearer, http, mint_token
from tweetmesh.graph.v1 import graph_service_pb2, graph_service_pb2_grpc

ERROR_KEYS = {"code", "status", "reason", "message", "fields", "requestId"}
ORIGIN = {"Origin": "http://localhost:3000"}  # the default of TM_CORS_ALLOWED_ORIGINS


def raw(method: str, url: str, data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def assert_error(code: int, headers, body, *, status: int, grpc_status: str, reason: str | None = None) -> dict:
    assert code == status, body
    assert headers["content-type"].startswith("application/json")
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert ERROR_KEYS <= set(error), error
    assert (error["code"], error["status"]) == (status, grpc_status), error
    assert error["message"]
    assert error["requestId"] and error["requestId"] == headers["x-request-id"]
    if reason is not None:
        assert error["reason"] == reason, error
    return error


@pytest.fixture(scope="module")
def user(gateway):
    return account(gateway)


def test_validation_error_names_each_field_in_words_a_person_understands(gateway):
    code, headers, body = http("POST", f"{gateway}/v1/users", {"handle": "no spaces!", "password": "short", "displayName": "Ann"})
    error = assert_error(code, headers, body, status=400, grpc_status="INVALID_ARGUMENT", reason="VALIDATION_FAILED")
    fields = {f["field"]: f["description"] for f in error["fields"]}
    assert fields == {"handle": "must be 3 to 15 letters, digits or '_'", "password": "must be at least 8 characters"}
    assert "regex" not in json.dumps(body)


def test_a_bad_path_id_is_a_400_naming_the_field_by_its_json_name(gateway, user):
    code, headers, body = http("GET", f"{gateway}/v1/tweets/not-a-number", headers=user["auth"])
    error = assert_error(code, headers, body, status=400, grpc_status="INVALID_ARGUMENT", reason="VALIDATION_FAILED")
    assert error["fields"] == [{"field": "tweetId", "description": "must be a numeric id (digits only, no leading zero)"}]


def test_no_token_is_401(gateway):
    code, headers, body = http("GET", f"{gateway}/v1/users/123")
    assert_error(code, headers, body, status=401, grpc_status="UNAUTHENTICATED", reason="AUTHENTICATION_REQUIRED")


def test_a_token_for_another_audience_is_403(stack, gateway):
    token = mint_token(stack, "42", audience="someone-else")
    code, headers, body = http("GET", f"{gateway}/v1/users/123", headers=bearer(token))
    assert_error(code, headers, body, status=403, grpc_status="PERMISSION_DENIED")


def test_acting_as_someone_else_is_403_with_the_services_reason(gateway, user):
    code, headers, body = http("POST", f"{gateway}/v1/follow", {"followingUserId": "123", "followerUserId": "999"}, headers=user["auth"])
    assert_error(code, headers, body, status=403, grpc_status="PERMISSION_DENIED", reason="NOT_THE_CALLER")


def test_an_unknown_path_is_404_with_cors_headers(gateway, user):
    for method, path in (("GET", "/v2/nothing"), ("POST", "/v1/users/123/nope"), ("GET", "/v1/users/123:lookup")):
        code, headers, body = http(method, f"{gateway}{path}", headers={**user["auth"], **ORIGIN})
        error = assert_error(code, headers, body, status=404, grpc_status="NOT_FOUND", reason="NO_SUCH_PATH")
        assert path in error["message"]
        assert headers["access-control-allow-origin"] == ORIGIN["Origin"]


def test_a_wrong_method_on_every_documented_path_is_405_naming_the_allowed_ones(gateway, user):
    """Every path of the served OpenAPI document, every method it does not list: 405, an Allow header
    with exactly the listed ones, the error shape, CORS headers for an allowed origin."""
    document = json.loads(raw("GET", f"{gateway}/openapi.json")[2])
    tried = 0
    for template, item in document["paths"].items():
        declared = {m.upper() for m in item}
        path = re.sub(r"\{[^}]*\}", "123", template)
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - declared):
            code, headers, body = http(method, f"{gateway}{path}", headers={**user["auth"], **ORIGIN})
            error = assert_error(code, headers, body, status=405, grpc_status="UNIMPLEMENTED", reason="METHOD_NOT_ALLOWED")
            assert {m.strip() for m in headers["allow"].split(",")} == declared, (method, template, headers["allow"])
            assert method in error["message"] and path in error["message"]
            assert headers["access-control-allow-origin"] == ORIGIN["Origin"]
            tried += 1
    assert tried > 100


def test_unknown_resource_is_404_with_its_reason_and_metadata(gateway, user):
    code, headers, body = http("GET", f"{gateway}/v1/users/987654321987", headers=user["auth"])
    error = assert_error(code, headers, body, status=404, grpc_status="NOT_FOUND", reason="USER_NOT_FOUND")
    assert error["metadata"] == {"user_id": "987654321987"}


def test_internal_rpcs_are_404_in_the_same_shape(gateway, user):
    code, headers, body = http("GET", f"{gateway}/internal/v1/graph/users/{user['id']}/followerIds", headers=user["auth"])
    assert_error(code, headers, body, status=404, grpc_status="NOT_FOUND")


@pytest.mark.parametrize("data", [b'{"handle":', b"[1,2", b'{"handle": ["a"]}', b"\xff\xfe{\"handle\":\"\xff\"}", b"null"],
                         ids=["truncated", "not-an-object", "wrong-type", "not-utf8", "null"])
def test_malformed_bodies_are_400_never_5xx(gateway, data):
    code, headers, body = raw("POST", f"{gateway}/v1/users", data, {"Content-Type": "application/json"})
    assert 400 <= code < 500, (code, body)
    assert_error(code, headers, json.loads(body), status=code, grpc_status=json.loads(body)["error"]["status"])


def test_unknown_query_parameter_is_400(gateway, user):
    code, headers, body = http("GET", f"{gateway}/v1/users/{user['id']}/followers?pageSize=10&colour=blue", headers=user["auth"])
    error = assert_error(code, headers, body, status=400, grpc_status="INVALID_ARGUMENT", reason="MALFORMED_REQUEST")
    assert "colour" in error["message"]


def test_a_huge_body_is_413(stack):
    # Envoy answers as soon as the buffer limit is passed and closes: stop sending once it has answered,
    # or the rest of the body would make the kernel reset the connection before the answer is read.
    size = 5 * 1024 * 1024
    with socket.create_connection((stack.host, stack.envoy_port), timeout=10) as sock:
        sock.sendall(f"POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode())
        sent = 0
        # past the 1 MiB limit, each chunk waits a moment for the answer: on a loaded machine the
        # kernel's loopback buffers could otherwise take the whole body before Envoy has answered
        while sent < size and not select.select([sock], [], [], 0.01 if sent > 1024 * 1024 else 0)[0]:
            sock.sendall(b"a" * 65536)
            sent += 65536
        response = HTTPResponse(sock)
        response.begin()
        body = json.loads(response.read())
    assert sent < size  # answered before the whole body arrived
    assert_error(response.status, response.headers, body, status=413, grpc_status="INVALID_ARGUMENT", reason="REQUEST_TOO_LARGE")


def test_grpc_callers_keep_grpc_statuses(stack):
    with grpc.insecure_channel(f"{stack.host}:{stack.envoy_port}") as channel:
        stub = graph_service_pb2_grpc.GraphServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetUser(graph_service_pb2.GetUserRequest(user_id="1"), timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert not raised.value.details().startswith("{")  # a message, not a JSON body
    assert dict(raised.value.initial_metadata() + raised.value.trailing_metadata())["x-request-id"]


# --- request ids ------------------------------------------------------------------------------


def test_every_answer_carries_a_request_id_and_a_sane_client_id_is_kept(gateway, user):
    code, headers, _ = http("GET", f"{gateway}/v1/users/{user['id']}", headers=user["auth"])
    assert code == 200 and headers["x-request-id"]
    code, headers, body = http("GET", f"{gateway}/v1/users/{user['id']}", headers={**user["auth"], "x-request-id": "app-7f3a.42"})
    assert code == 200 and headers["x-request-id"] == "app-7f3a.42"
    code, headers, body = http("GET", f"{gateway}/v1/users/1", headers={**user["auth"], "x-request-id": "app-7f3a.43"})
    assert headers["x-request-id"] == "app-7f3a.43" == body["error"]["requestId"]


def refused_by_the_codec(stack, request_head: bytes):
    with socket.create_connection((stack.host, stack.envoy_port), timeout=10) as sock:
        sock.sendall(request_head + b"\r\n")
        response = HTTPResponse(sock)
        response.begin()
        return response.status, response.headers, json.loads(response.read())


@pytest.mark.parametrize(("request_head", "status", "reason"), [
    (b"GET /v1/users/1 HTTP/1.1\r\nHost: x\r\nx_y: 1\r\n", 400, "MALFORMED_REQUEST"),
    (b"GET /v1/users/1 HTTP/1.1\r\nHost: x\r\nx{y: 1\r\n", 400, "MALFORMED_REQUEST"),
    (b"GET /v1/users/1 HTTP/1.1\r\n", 400, "MALFORMED_REQUEST"),  # no Host
    (b"POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n", 501, "MALFORMED_REQUEST"),
    (b"GET /v1/users/1 HTTP/1.0\r\n", 426, "BAD_REQUEST"),
], ids=["underscore-in-header-name", "brace-in-header-name", "no-host", "unknown-transfer-encoding", "http-1.0"])
def test_a_request_refused_by_the_http_codec_still_gets_a_request_id(stack, request_head, status, reason):
    """Refused before Envoy had its headers, so before it made an x-request-id: the answer has one all
    the same, in the header and the body."""
    code, headers, body = refused_by_the_codec(stack, request_head)
    error = assert_error(code, headers, body, status=status, grpc_status=body["error"]["status"], reason=reason)
    assert re.fullmatch(r"[A-Za-z0-9._:+/=-]{1,128}", error["requestId"])


def test_the_access_log_line_of_a_request_refused_by_the_codec_has_its_request_id(stack):
    log = Layout(stack.var_dir).log("envoy")
    offset = log.stat().st_size
    _, _, body = refused_by_the_codec(stack, b"GET /v1/users/1 HTTP/1.1\r\nHost: x\r\nx_y: 1\r\n")
    request_id = body["error"]["requestId"]
    deadline = time.monotonic() + 15  # Envoy writes its access log out every 10 s
    logged = []
    while not logged and time.monotonic() < deadline:
        time.sleep(0.5)
        with log.open("rb") as lines:
            lines.seek(offset)
            logged = [json.loads(line) for line in lines if request_id.encode() in line]
    assert [(line["request_id"], line["status"], line["flags"]) for line in logged] == [(request_id, 400, "DPE")]


def test_an_insane_client_request_id_is_replaced(gateway, user):
    for bad in ('"quoted" id', "x" * 200):
        code, headers, _ = http("GET", f"{gateway}/v1/users/{user['id']}", headers={**user["auth"], "x-request-id": bad})
        assert code == 200 and headers["x-request-id"] not in (bad, "") and len(headers["x-request-id"]) <= 128


def test_grpc_answers_echo_the_request_id(stack, user):
    token = user["auth"]["Authorization"]
    with grpc.insecure_channel(f"{stack.host}:{stack.envoy_port}") as channel:
        stub = graph_service_pb2_grpc.GraphServiceStub(channel)
        _, call = stub.GetUser.with_call(graph_service_pb2.GetUserRequest(user_id=user["id"]), timeout=5,
                                         metadata=(("authorization", token), ("x-request-id", "grpc-client-1")))
    assert dict(call.initial_metadata())["x-request-id"] == "grpc-client-1"


# --- CORS ---------------------------------------------------------------------------------------


def test_preflight_from_an_allowed_origin_is_answered_without_a_token(gateway):
    code, headers, _ = raw("OPTIONS", f"{gateway}/v1/users/123", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert code == 200
    assert headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "GET" in headers["access-control-allow-methods"]
    assert "authorization" in headers["access-control-allow-headers"]


def test_preflight_from_another_origin_gets_no_cors_grant(gateway):
    code, headers, _ = raw("OPTIONS", f"{gateway}/v1/users/123", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert code < 500 and "access-control-allow-origin" not in headers


def test_actual_requests_and_errors_carry_cors_headers(gateway, user):
    origin = {"Origin": "http://localhost:3000"}
    for headers_in, expected in (({**user["auth"], **origin}, 200), (origin, 401)):
        code, headers, _ = http("GET", f"{gateway}/v1/users/{user['id']}", headers=headers_in)
        assert code == expected
        assert headers["access-control-allow-origin"] == "http://localhost:3000"
        exposed = headers["access-control-expose-headers"]
        assert all(h in exposed for h in ("x-request-id", "retry-after", "x-ratelimit-remaining"))


# --- OpenAPI ------------------------------------------------------------------------------------


def test_the_gateway_serves_the_generated_openapi_document_without_a_token(gateway):
    code, headers, body = raw("GET", f"{gateway}/openapi.json")
    assert code == 200 and headers["content-type"] == "application/json"
    assert body == (REPO_ROOT / "gen" / "openapi" / "tweetmesh.json").read_bytes(), "restart Envoy after `make gen`"
    document = json.loads(body)
    validate(document)
    assert "/v1/users" in document["paths"]
