"""The bootstrap every service runs: health, reflection, and a graceful stop on SIGTERM."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket

import grpc
import pytest
from google.protobuf.wrappers_pb2 import StringValue
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mesh.config import ServiceSpec, Stack
from mesh.server import ServerSettings, ServiceApp, new_event_loop, run

SPEC = ServiceSpec("probe", "svc_probe", "test.v1.ProbeService", grpc_port=0, metrics_port=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def slow_echo(request, ctx):
    await asyncio.sleep(0.5)
    return StringValue(value=request.value)


def register(server: grpc.aio.Server, deps) -> list:
    handler = grpc.unary_unary_rpc_method_handler(
        slow_echo, request_deserializer=StringValue.FromString, response_serializer=StringValue.SerializeToString
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SPEC.grpc_service, {"SlowEcho": handler}),))
    return []


@pytest.fixture
def ports(monkeypatch):
    grpc_port, metrics_port = _free_port(), _free_port()
    monkeypatch.setenv("TM_PROBE_GRPC_PORT", str(grpc_port))
    monkeypatch.setenv("TM_PROBE_METRICS_PORT", str(metrics_port))
    return grpc_port


async def _wait_serving(stub) -> None:
    for _ in range(100):
        try:
            answer = await stub.Check(health_pb2.HealthCheckRequest(service=SPEC.grpc_service), timeout=0.5)
            if answer.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("service never became SERVING")


async def test_sigterm_turns_not_serving_lets_calls_finish_then_stops(ports):
    app = ServiceApp(spec=SPEC, needs=frozenset(), register=register)
    settings = dataclasses.replace(ServerSettings(), grace_s=1.0, log_level="WARNING")
    server_task = asyncio.create_task(run(app, Stack(), settings))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ports}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        await _wait_serving(health)

        # reflection names the service, as grpcurl would see it
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        listed = [s.name async for r in responses for s in r.list_services_response.service]
        assert SPEC.grpc_service in listed and "grpc.health.v1.Health" in listed

        watch = health.Watch(health_pb2.HealthCheckRequest(service=SPEC.grpc_service))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        in_flight = channel.unary_unary(
            f"/{SPEC.grpc_service}/SlowEcho",
            request_serializer=StringValue.SerializeToString,
            response_deserializer=StringValue.FromString,
        )(StringValue(value="finish me"), timeout=5)
        await asyncio.sleep(0.1)  # the call is being served

        os.kill(os.getpid(), signal.SIGTERM)  # what `make down` and orchestrators send

        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert (await in_flight).value == "finish me"  # admitted before the stop: it completes
        await asyncio.wait_for(server_task, timeout=5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ports), timeout=1).close()


async def test_a_background_job_that_dies_stops_the_service(ports):
    async def broken_relay(stopping: asyncio.Event) -> None:
        raise ConnectionError("lost the broker for good")

    def register_with_job(server, deps):
        register(server, deps)
        return [broken_relay]

    app = ServiceApp(spec=SPEC, needs=frozenset(), register=register_with_job)
    settings = dataclasses.replace(ServerSettings(), grace_s=0.5, log_level="CRITICAL")
    with pytest.raises(RuntimeError, match="background job broken_relay ended"):
        await asyncio.wait_for(run(app, Stack(), settings), timeout=5)
    with pytest.raises(OSError):  # and it no longer accepts calls
        socket.create_connection(("127.0.0.1", ports), timeout=1).close()


def test_services_run_on_uvloop_unless_told_the_standard_loop_and_refuse_another_name():
    import uvloop

    for kind, expected in (("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)):
        loop = new_event_loop(kind)
        try:
            assert isinstance(loop, expected)
            assert loop.run_until_complete(asyncio.sleep(0, result="ran")) == "ran"
        finally:
            loop.close()
    with pytest.raises(ValueError, match="TM_EVENT_LOOP must be one of uvloop, asyncio, got 'trio'"):
        new_event_loop("trio")
