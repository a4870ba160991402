"""The call pipeline every RPC of every service passes through, in this order:

1. request id: taken from `x-request-id` (Envoy sets one, and puts it on every answer) or made here
   and then sent back in the response headers; put on every log line of the call. An id the caller
   sent is not echoed: it knows it, and sending headers before the answer is a batch of its own in
   grpc aio, ~70 us of a no-work call's ~280 us of server CPU (measured, bench/);
2. caller identity: the verified user id the gateway puts in `x-tweetmesh-user-id` (never the body);
3. deadline: the client's, or the service default when the client sent none, so every outbound call
   below can be given the remaining time (mesh.context.remaining);
4. validation: the protovalidate rules declared in the proto; a violation answers INVALID_ARGUMENT
   with a google.rpc.BadRequest naming each violated field, described for people
   (mesh/validation_messages.py), before any use case runs;
5. errors: typed domain errors become statuses through the one table in mesh/errors.py; anything
   unexpected is logged with its stack and answered INTERNAL without internals;
6. metrics for every call; a log line for every failed or slow call (and every call with
   TM_RPC_LOG_ALL=1). Envoy's access log already has a line per request with its request id; a
   line per successful internal call as well cost each service ~0.1 ms of CPU per call (a fifth of
   a no-work call, bench/), for lines nobody reads.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import protovalidate
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from mesh import context, metrics
from mesh.admission import AdmissionGate, Overloaded
from mesh.config import env_float, env_str
from mesh.errors import ERROR_DOMAIN, DomainError, FieldViolation, InvalidArgument, status_for
from mesh.validation_messages import describe

log = logging.getLogger("mesh.rpc")

REQUEST_ID_HEADER = "x-request-id"
# Set by Envoy from the verified JWT subject; Envoy removes any value a client sends.
CALLER_HEADER = "x-tweetmesh-user-id"
STATUS_DETAILS_TRAILER = "grpc-status-details-bin"
_MAX_REQUEST_ID_LEN = 128
# What one error answer may carry. gRPC clients, and Envoy, refuse trailers over 16 KiB (the message
# travels twice: grpc-message, and in grpc-status-details-bin with the violations), so a request with
# a thousand bad ids, or an id a megabyte long, must not make an answer that large: the caller would
# get INTERNAL (a 502 over REST) instead of its INVALID_ARGUMENT.
MAX_REPORTED_VIOLATIONS = 10
MAX_ERROR_MESSAGE_CHARS = 1000
# Health checks arrive every few seconds from Envoy; counting them is useful, logging them is noise.
_QUIET_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# A successful call is logged when it took longer than this, or always with TM_RPC_LOG_ALL=1.
SLOW_CALL_S = env_float("TM_RPC_SLOW_LOG_MS", 250.0) / 1000
LOG_EVERY_CALL = env_str("TM_RPC_LOG_ALL", "0") == "1"


def rich_status(code: grpc.StatusCode, message: str, *details: Any) -> tuple[tuple[str, bytes]]:
    """Trailing metadata carrying a google.rpc.Status with the given detail messages."""
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    return ((STATUS_DETAILS_TRAILER, status.SerializeToString()),)


def error_details(error: DomainError) -> list[Any]:
    details: list[Any] = [error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata)]
    if isinstance(error, InvalidArgument) and error.violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description, reason=v.rule)
                    for v in error.violations[:MAX_REPORTED_VIOLATIONS]
                ]
            )
        )
    return details


def validation_error(request: Any) -> InvalidArgument | None:
    """The protovalidate violations of `request` as one InvalidArgument, or None when it is valid."""
    violations = protovalidate.collect_violations(request)
    if not violations:
        return None
    fields = [
        FieldViolation(
            field=_field_path(v) or "(message)",
            # person-readable ("must be a numeric id"), not protovalidate's regex; the rule id stays
            description=describe(v.proto.rule_id, v.rule_value, v.proto.message),
            rule=v.proto.rule_id,
        )
        for v in violations
    ]
    shown = fields[:MAX_REPORTED_VIOLATIONS]
    summary = "; ".join(f"{f.field}: {f.description}" for f in shown)
    if len(fields) > len(shown):
        summary += f"; and {len(fields) - len(shown)} more"
    return InvalidArgument(f"invalid request: {summary}", violations=shown, reason="VALIDATION_FAILED")


def _field_path(violation: Any) -> str:
    """`images[0]`, `body.comment_string`: the proto path of the violated field.

    protovalidate 2.x hands out its own (protobuf-py) messages: the `subscript` oneof is an object
    with `.value` (list index or map key), or None for a plain field.
    """
    if violation.proto.field is None:
        return ""  # a rule of the whole message (a CEL rule across fields): no single field to name
    parts = []
    for element in violation.proto.field.elements:
        subscript = element.subscript
        parts.append(element.field_name if subscript is None else f"{element.field_name}[{subscript.value}]")
    return ".".join(parts)


def _metadata(ctx: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k: v for k, v in (ctx.invocation_metadata() or ()) if isinstance(v, str)}


class CallPipeline(grpc.aio.ServerInterceptor):
    def __init__(self, default_deadline_s: float, gate: AdmissionGate | None = None):
        self.default_deadline_s = default_deadline_s
        self._gate = gate

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method
        quiet = method.startswith(_QUIET_SERVICES)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, quiet, None if quiet else self._gate),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, quiet),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # Client-streaming RPCs: none in our contracts; reflection is bidi and needs no pipeline.
        return handler

    async def _enter(self, ctx: grpc.aio.ServicerContext, *, streaming: bool) -> None:
        headers = _metadata(ctx)
        rid = headers.get(REQUEST_ID_HEADER, "")[:_MAX_REQUEST_ID_LEN]
        made_here = not rid
        if made_here:
            rid = uuid.uuid4().hex
        context.request_id.set(rid)
        context.caller_user_id.set(headers.get(CALLER_HEADER, ""))
        left = ctx.time_remaining()
        if left is None and not streaming:
            left = self.default_deadline_s
        context.deadline.set(None if left is None else time.monotonic() + left)
        if made_here:
            await ctx.send_initial_metadata(((REQUEST_ID_HEADER, rid),))

    def _wrap_unary(self, behaviour, method: str, quiet: bool, gate: AdmissionGate | None):
        async def unary(request, ctx: grpc.aio.ServicerContext):
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            shed = False
            try:
                await self._enter(ctx, streaming=False)
                _raise_if_invalid(request)
                end = context.deadline.get()
                left = None if end is None else max(0.0, end - time.monotonic())
                if gate is not None:
                    try:
                        await gate.enter(left)
                    except Overloaded:
                        shed = True  # counted by the gate; a log line each would add to the overload
                        raise
                try:
                    async with asyncio.timeout(None if end is None else max(0.0, end - time.monotonic())):
                        return await behaviour(request, ctx)
                finally:
                    if gate is not None:
                        gate.leave()
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED  # client gone or server stopping: nobody to answer
                raise
            except grpc.aio.AbortError:
                code = _code_of(ctx)  # a handler aborted with its own status
                raise
            except Exception as exc:  # noqa: BLE001 - every failure becomes a status here
                code, message, trailers = _classify(exc, method)
                await ctx.abort(code, message, trailing_metadata=trailers)
            finally:
                self._record(method, code, started, quiet, logged=not shed)

        return unary

    def _wrap_stream(self, behaviour, method: str, quiet: bool):
        async def stream(request, ctx: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                await self._enter(ctx, streaming=True)
                _raise_if_invalid(request)
                produced = behaviour(request, ctx)
                if inspect.isasyncgen(produced):
                    async for item in produced:
                        yield item
                else:
                    # a coroutine that writes its messages with ctx.write() (grpc_health's Watch)
                    await produced
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except grpc.aio.AbortError:
                code = _code_of(ctx)
                raise
            except Exception as exc:  # noqa: BLE001
                code, message, trailers = _classify(exc, method)
                await ctx.abort(code, message, trailing_metadata=trailers)
            finally:
                self._record(method, code, started, quiet)

        return stream

    @staticmethod
    def _record(method: str, code: grpc.StatusCode, started: float, quiet: bool, *, logged: bool = True) -> None:
        elapsed = time.perf_counter() - started
        metrics.observe(method, code.name, elapsed)
        if logged and (code is not grpc.StatusCode.OK or (not quiet and (LOG_EVERY_CALL or elapsed > SLOW_CALL_S))):
            log.info(
                "rpc",
                extra={"method": method, "code": code.name, "ms": round(elapsed * 1000, 2)},
            )


def _raise_if_invalid(request: Any) -> None:
    invalid = validation_error(request)
    if invalid is not None:
        raise invalid


def _clipped(message: str) -> str:
    """`message`, cut to MAX_ERROR_MESSAGE_CHARS (messages may quote what the client sent)."""
    if len(message) <= MAX_ERROR_MESSAGE_CHARS:
        return message
    return message[: MAX_ERROR_MESSAGE_CHARS - 1] + "…"


def _code_of(ctx: grpc.aio.ServicerContext) -> grpc.StatusCode:
    code = ctx.code()
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


def _classify(exc: Exception, method: str) -> tuple[grpc.StatusCode, str, tuple]:
    """The status, message and trailers that answer a call that failed with `exc`."""
    if isinstance(exc, DomainError):
        code = status_for(exc)
        message = _clipped(exc.message)
        return code, message, rich_status(code, message, *error_details(exc))
    if isinstance(exc, NotImplementedError):
        # the generated servicer base answers this for RPCs a service does not implement (yet)
        return grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented by this service yet", ()
    if isinstance(exc, TimeoutError):
        message = "the request took longer than its deadline"
        return grpc.StatusCode.DEADLINE_EXCEEDED, message, ()
    log.error("unhandled error in %s", method, exc_info=exc)
    message = f"internal error; quote request id {context.request_id.get()} when reporting it"
    return grpc.StatusCode.INTERNAL, message, ()
