"""The running mesh as a client and an SRE meet it: health, reflection, bad input, metrics.

Needs `make up` (the tests fail, not skip, when the mesh is not running).
"""

from __future__ import annotations

import json
import subprocess
import urllib.request

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.infra import grpcurl_binary
from deploy.runtime import Layout
from mesh.config import SERVICES, ServiceSpec
from tests.conftest import require_listening
from tests.e2e.conftest import bearer, http, mint_token
from tweetmesh.graph.v1 import graph_service_pb2, graph_service_pb2_grpc

GRPCURL_TIMEOUT_S = 20


def health_status(target: str, service: str, metadata=()) -> int:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5, metadata=metadata).status


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_every_service_is_serving_directly(stack, spec: ServiceSpec):
    require_listening(stack.host, stack.grpc_port(spec), spec.package)
    target = stack.grpc_target(spec)
    assert health_status(target, spec.grpc_service) == health_pb2.HealthCheckResponse.SERVING
    assert health_status(target, "") == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_every_service_is_serving_through_envoy(stack, gateway, spec: ServiceSpec):
    target = f"{stack.host}:{stack.envoy_port}"
    status = health_status(target, spec.grpc_service, metadata=(("x-tweetmesh-service", spec.name),))
    assert status == health_pb2.HealthCheckResponse.SERVING
    code, _, _ = http("GET", f"{gateway}/healthz/{spec.name}")
    assert code == 200


def test_gateway_health_covers_all_services(gateway):
    code, headers, _ = http("GET", f"{gateway}/healthz")
    assert code == 200
    assert headers["x-request-id"]


def test_an_unknown_service_name_is_not_found(stack):
    target = stack.grpc_target(SERVICES[0])
    with pytest.raises(grpc.RpcError) as raised:
        health_status(target, "tweetmesh.nope.v1.NopeService")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def _grpcurl(stack, *args: str) -> str:
    binary = str(grpcurl_binary(Layout(stack.var_dir)))
    done = subprocess.run([binary, "-plaintext", *args], capture_output=True, text=True, timeout=GRPCURL_TIMEOUT_S)
    assert done.returncode == 0, f"grpcurl {' '.join(args)} failed: {done.stderr}"
    return done.stdout


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_grpcurl_lists_and_describes_every_service_by_reflection(stack, spec: ServiceSpec):
    listed = _grpcurl(stack, stack.grpc_target(spec), "list").split()
    assert spec.grpc_service in listed
    assert "grpc.health.v1.Health" in listed
    described = _grpcurl(stack, stack.grpc_target(spec), "describe", spec.grpc_service)
    assert f"service {spec.grpc_service.rsplit('.', 1)[1]} {{" in described
    assert "rpc " in described


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_grpcurl_reaches_every_service_through_envoy(stack, gateway, spec: ServiceSpec):
    target = f"{stack.host}:{stack.envoy_port}"
    listed = _grpcurl(stack, "-H", f"x-tweetmesh-service: {spec.name}", target, "list").split()
    assert spec.grpc_service in listed
    answer = json.loads(
        _grpcurl(stack, "-H", f"x-tweetmesh-service: {spec.name}", "-d", json.dumps({"service": spec.grpc_service}),
                 target, "grpc.health.v1.Health/Check")
    )
    assert answer == {"status": "SERVING"}


def test_invalid_rest_request_is_400_naming_the_violated_fields(gateway):
    code, headers, body = http("POST", f"{gateway}/v1/users", {"handle": "no spaces allowed!", "password": "short", "displayName": "Ann"})
    assert code == 400, body
    error = body["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert "handle" in error["message"] and "password" in error["message"]
    assert {v["field"] for v in error["fields"]} == {"handle", "password"}
    assert error["reason"] == "VALIDATION_FAILED"
    assert headers["x-request-id"] == error["requestId"]


def test_invalid_path_parameter_is_400_naming_the_field(stack, gateway):
    code, _, body = http("GET", f"{gateway}/v1/tweets/not-a-number", headers=bearer(mint_token(stack, "42")))
    assert code == 400, body
    assert "tweet_id" in body["error"]["message"]


def test_unknown_query_parameter_is_rejected(gateway):
    code, _, body = http("GET", f"{gateway}/v1/users/123/followers?pageSize=10&colour=blue")
    assert code == 400, body


def test_invalid_grpc_request_through_envoy_names_the_violated_field(stack, gateway):
    with grpc.insecure_channel(f"{stack.host}:{stack.envoy_port}") as channel:
        stub = graph_service_pb2_grpc.GraphServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreateUser(graph_service_pb2.CreateUserRequest(handle="ok_handle", password="x", display_name="Ann"), timeout=5)
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "password" in error.details()
    status = status_pb2.Status.FromString(dict(error.trailing_metadata())["grpc-status-details-bin"])
    violations = error_details_pb2.BadRequest()
    assert any(d.Unpack(violations) for d in status.details)
    assert [v.field for v in violations.field_violations] == ["password"]


def test_metrics_count_requests_by_method_and_code(stack, gateway):
    http("POST", f"{gateway}/v1/users", {"handle": "x", "password": "y"})
    graph = next(s for s in SERVICES if s.name == "graph")
    with urllib.request.urlopen(f"http://{stack.host}:{stack.metrics_port(graph)}/metrics", timeout=5) as response:
        exposition = response.read().decode()
    assert (
        'grpc_server_handled_total{grpc_code="INVALID_ARGUMENT",grpc_method="CreateUser",'
        'grpc_service="tweetmesh.graph.v1.GraphService"}' in exposition
    )
    assert "grpc_server_handling_seconds_bucket" in exposition
