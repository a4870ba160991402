"""The call pipeline every RPC passes through, on an in-process server (no infrastructure)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf.wrappers_pb2 import StringValue
from google.rpc import error_details_pb2, status_pb2

from mesh import context, metrics
from mesh.errors import ERROR_DOMAIN, NotFound, PermissionDenied
from mesh.interceptors import CALLER_HEADER, REQUEST_ID_HEADER, STATUS_DETAILS_TRAILER, CallPipeline

SERVICE = "test.v1.ProbeService"


async def ok(request, ctx):
    return StringValue(value=f"{request.value}|{context.request_id.get()}|{context.caller_user_id.get()}")


async def remaining(request, ctx):
    return StringValue(value=f"{context.remaining(60.0):.3f}")


async def not_found(request, ctx):
    raise NotFound(f"tweet {request.value} does not exist", reason="TWEET_NOT_FOUND", metadata={"tweet_id": request.value})


async def boom(request, ctx):
    raise RuntimeError("secret internals")


async def slow(request, ctx):
    await asyncio.sleep(5)
    return StringValue(value="too late")


def unimplemented(request, ctx):
    raise NotImplementedError("Method not implemented!")  # what the generated servicer base does


async def stream_then_deny(request, ctx):
    for i in range(3):
        yield StringValue(value=str(i))
    raise PermissionDenied("you may not read more", reason="NOT_YOURS")


def _handlers():
    unary = {
        "Ok": ok, "Remaining": remaining, "NotFound": not_found, "Boom": boom, "Slow": slow,
        "Unimplemented": unimplemented,
    }
    methods = {
        name: grpc.unary_unary_rpc_method_handler(
            fn, request_deserializer=StringValue.FromString, response_serializer=StringValue.SerializeToString
        )
        for name, fn in unary.items()
    }
    methods["Stream"] = grpc.unary_stream_rpc_method_handler(
        stream_then_deny, request_deserializer=StringValue.FromString, response_serializer=StringValue.SerializeToString
    )
    return grpc.method_handlers_generic_handler(SERVICE, methods)


@pytest.fixture(scope="module")
async def channel():
    server = grpc.aio.server(interceptors=[CallPipeline(default_deadline_s=0.3)])
    server.add_generic_rpc_handlers((_handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    await server.stop(None)


def _unary(channel, name):
    return channel.unary_unary(
        f"/{SERVICE}/{name}", request_serializer=StringValue.SerializeToString, response_deserializer=StringValue.FromString
    )


def _status_details(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    raw = dict(error.trailing_metadata() or ())[STATUS_DETAILS_TRAILER]
    return status_pb2.Status.FromString(raw)


async def test_request_id_and_caller_reach_the_handler_and_a_sent_id_is_not_echoed(channel):
    call = _unary(channel, "Ok")(
        StringValue(value="hi"), metadata=((REQUEST_ID_HEADER, "req-123"), (CALLER_HEADER, "42")), timeout=2
    )
    assert (await call).value == "hi|req-123|42"
    # the caller knows its id (and Envoy puts it on every answer): no headers sent ahead of the answer
    assert REQUEST_ID_HEADER not in dict(await call.initial_metadata())


async def test_a_request_id_is_made_when_the_client_sent_none(channel):
    call = _unary(channel, "Ok")(StringValue(value="x"), timeout=2)
    request_id = (await call).value.split("|")[1]
    assert len(request_id) == 32
    assert dict(await call.initial_metadata())[REQUEST_ID_HEADER] == request_id


async def test_outbound_calls_get_the_client_deadline_not_more(channel):
    left = float((await _unary(channel, "Remaining")(StringValue(), timeout=1.5)).value)
    assert 1.0 < left <= 1.55  # grpc rounds the propagated deadline up by a few ms


async def test_without_client_deadline_the_service_default_applies(channel):
    left = float((await _unary(channel, "Remaining")(StringValue())).value)
    assert 0 < left <= 0.3
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _unary(channel, "Slow")(StringValue())
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_domain_error_becomes_its_status_with_error_info(channel):
    before = metrics.REQUESTS.labels(SERVICE, "NotFound", "NOT_FOUND")._value.get()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _unary(channel, "NotFound")(StringValue(value="77"), timeout=2)
    error = raised.value
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "tweet 77 does not exist"
    info = error_details_pb2.ErrorInfo()
    assert _status_details(error).details[0].Unpack(info)
    assert (info.reason, info.domain, dict(info.metadata)) == ("TWEET_NOT_FOUND", ERROR_DOMAIN, {"tweet_id": "77"})
    assert metrics.REQUESTS.labels(SERVICE, "NotFound", "NOT_FOUND")._value.get() == before + 1


async def test_unexpected_error_is_internal_without_internals(channel):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _unary(channel, "Boom")(StringValue(), metadata=((REQUEST_ID_HEADER, "req-boom"),), timeout=2)
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert "req-boom" in raised.value.details()
    assert "secret" not in raised.value.details()


async def test_unimplemented_rpc_says_so(channel):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _unary(channel, "Unimplemented")(StringValue(), timeout=2)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert f"/{SERVICE}/Unimplemented" in raised.value.details()


async def test_stream_delivers_items_then_the_domain_error(channel):
    call = channel.unary_stream(
        f"/{SERVICE}/Stream", request_serializer=StringValue.SerializeToString, response_deserializer=StringValue.FromString
    )(StringValue(), timeout=2)
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for item in call:
            received.append(item.value)
    assert received == ["0", "1", "2"]
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_failed_calls_are_logged_and_fast_successful_ones_only_counted(channel, caplog):
    before = metrics.REQUESTS.labels(SERVICE, "Ok", "OK")._value.get()
    with caplog.at_level("INFO", logger="mesh.rpc"):
        await _unary(channel, "Ok")(StringValue(value="fine"), metadata=((REQUEST_ID_HEADER, "req-ok"),), timeout=2)
        with pytest.raises(grpc.aio.AioRpcError):
            await _unary(channel, "NotFound")(StringValue(value="5"), metadata=((REQUEST_ID_HEADER, "req-nf"),), timeout=2)
    assert metrics.REQUESTS.labels(SERVICE, "Ok", "OK")._value.get() == before + 1
    logged = [(r.method, r.code) for r in caplog.records if r.getMessage() == "rpc"]
    assert logged == [(f"/{SERVICE}/NotFound", "NOT_FOUND")]


async def test_a_slow_successful_call_is_logged(channel, caplog, monkeypatch):
    import mesh.interceptors

    monkeypatch.setattr(mesh.interceptors, "SLOW_CALL_S", 0.0)
    with caplog.at_level("INFO", logger="mesh.rpc"):
        await _unary(channel, "Ok")(StringValue(value="slow enough"), timeout=2)
    assert [(r.method, r.code) for r in caplog.records if r.getMessage() == "rpc"] == [(f"/{SERVICE}/Ok", "OK")]
