"""The admission gate (mesh.admission) alone, and in the call pipeline on an in-process server."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf.wrappers_pb2 import StringValue
from google.rpc import error_details_pb2, status_pb2

from mesh.admission import OVERLOADED_REASON, AdmissionGate, Overloaded
from mesh.interceptors import STATUS_DETAILS_TRAILER, CallPipeline

SERVICE = "test.v1.BusyService"


async def test_calls_beyond_the_bound_wait_their_turn_in_arrival_order():
    gate = AdmissionGate(max_in_flight=2, max_wait_s=1.0)
    await gate.enter()
    await gate.enter()
    admitted: list[str] = []

    async def call(name: str) -> None:
        await gate.enter()
        admitted.append(name)

    waiting = [asyncio.create_task(call(name)) for name in ("first", "second")]
    await asyncio.sleep(0.01)
    assert (gate.in_flight, gate.waiting, admitted) == (2, 2, [])
    gate.leave()
    await asyncio.sleep(0.01)
    assert admitted == ["first"] and gate.in_flight == 2  # the place passed on, still counted
    gate.leave()
    await asyncio.gather(*waiting)
    assert admitted == ["first", "second"]
    gate.leave()
    gate.leave()
    assert (gate.in_flight, gate.waiting) == (0, 0)


async def test_a_call_that_finds_no_place_in_time_is_refused_as_overloaded():
    gate = AdmissionGate(max_in_flight=1, max_wait_s=0.05)
    await gate.enter()
    with pytest.raises(Overloaded, match="at capacity") as refused:
        await gate.enter()
    assert refused.value.reason == OVERLOADED_REASON
    # a call with less time left than the gate's wait waits only that long; with none, not at all
    began = asyncio.get_running_loop().time()
    with pytest.raises(Overloaded):
        await gate.enter(time_left_s=0.0)
    assert asyncio.get_running_loop().time() - began < 0.02
    assert (gate.in_flight, gate.waiting) == (1, 0)
    gate.leave()
    await gate.enter()  # free again
    assert gate.in_flight == 1


async def test_a_waiter_cancelled_before_or_after_it_was_handed_a_place_leaks_nothing():
    gate = AdmissionGate(max_in_flight=1, max_wait_s=5.0)
    await gate.enter()
    cancelled = asyncio.create_task(gate.enter())
    await asyncio.sleep(0.01)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert gate.waiting == 0
    # handed a place, then cancelled before it ran: the place is given back
    handed = asyncio.create_task(gate.enter())
    await asyncio.sleep(0.01)
    gate.leave()  # hands the place to `handed`
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert (gate.in_flight, gate.waiting) == (0, 0)


def test_a_gate_needs_a_place_and_a_wait_that_is_not_negative():
    with pytest.raises(ValueError):
        AdmissionGate(max_in_flight=0, max_wait_s=0.1)
    with pytest.raises(ValueError):
        AdmissionGate(max_in_flight=1, max_wait_s=-1)


# --- in the call pipeline ---------------------------------------------------------------------
release = asyncio.Event()


async def hold(request, ctx):
    await release.wait()
    return StringValue(value="done")


async def watch(request, ctx):
    await ctx.write(StringValue(value="streams are not counted"))


@pytest.fixture
async def busy_channel():
    release.clear()
    methods = {
        "Hold": grpc.unary_unary_rpc_method_handler(
            hold, request_deserializer=StringValue.FromString, response_serializer=StringValue.SerializeToString),
        "Watch": grpc.unary_stream_rpc_method_handler(
            watch, request_deserializer=StringValue.FromString, response_serializer=StringValue.SerializeToString),
    }
    server = grpc.aio.server(interceptors=[CallPipeline(2.0, AdmissionGate(max_in_flight=1, max_wait_s=0.05))])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, methods),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    release.set()
    await server.stop(None)


async def test_an_rpc_beyond_the_bound_is_answered_unavailable_at_once_and_the_first_finishes(busy_channel):
    hold_call = busy_channel.unary_unary(f"/{SERVICE}/Hold", request_serializer=StringValue.SerializeToString,
                                         response_deserializer=StringValue.FromString)
    first = hold_call(StringValue(), timeout=5)
    await asyncio.sleep(0.1)  # the first is inside
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await hold_call(StringValue(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "at capacity" in refused.value.details()
    status = status_pb2.Status.FromString(dict(refused.value.trailing_metadata())[STATUS_DETAILS_TRAILER])
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    assert info.reason == OVERLOADED_REASON
    # a server stream holds no place: it is served while the unary call is inside
    watch_call = busy_channel.unary_stream(f"/{SERVICE}/Watch", request_serializer=StringValue.SerializeToString,
                                           response_deserializer=StringValue.FromString)
    assert [m.value async for m in watch_call(StringValue(), timeout=5)] == ["streams are not counted"]
    release.set()
    assert (await first).value == "done"
    assert (await hold_call(StringValue(), timeout=5)).value == "done"  # the place is free again
