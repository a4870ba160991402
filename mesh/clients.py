"""Calls from one service to another: channels, declared retries, propagated deadline and identity.

Services call each other directly on their gRPC ports (not through the public gateway). Every call:
- carries the caller's remaining time as its deadline (mesh.context.remaining), never more than
  the per-call cap, so a slow peer fails the call on time instead of piling up work;
- carries the request id and the verified caller id of the call being served, so logs correlate
  and the peer applies the same permissions;
- is retried by gRPC itself on UNAVAILABLE (declared in the service config below, not a loop).
"""

from __future__ import annotations

import json
from typing import Any

import grpc

from mesh import context
from mesh.config import Stack, env_float, service_spec
from mesh.errors import Unavailable
from mesh.interceptors import CALLER_HEADER, REQUEST_ID_HEADER

PEER_CALL_TIMEOUT_S = env_float("TM_PEER_TIMEOUT_S", 2.0)

# Retries declared once for every peer: only UNAVAILABLE (the peer never started the work, is
# restarting, or refused the call at capacity: mesh.admission), a few quick attempts. Mutations are
# safe to retry because they are idempotent. Throttled: each failed call to a peer takes a token and
# each success gives a tenth back; below half the tokens no call is retried, so a peer refusing
# calls because it is overloaded does not get every call three times.
_SERVICE_CONFIG = json.dumps({
    "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
    "methodConfig": [{
        "name": [{}],
        "retryPolicy": {
            "maxAttempts": 3,
            "initialBackoff": "0.02s",
            "maxBackoff": "0.2s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }],
})

CHANNEL_OPTIONS = (
    ("grpc.service_config", _SERVICE_CONFIG),
    ("grpc.enable_retries", 1),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
)


def peer_channel(stack: Stack, service_name: str) -> grpc.aio.Channel:
    """A channel to another service of the mesh (connects lazily, reconnects by itself)."""
    return grpc.aio.insecure_channel(stack.grpc_target(service_spec(service_name)), options=CHANNEL_OPTIONS)


def call_options(cap_s: float = PEER_CALL_TIMEOUT_S) -> dict[str, Any]:
    """Keyword arguments for a stub call: `await stub.GetTweet(request, **call_options())`."""
    metadata = [(REQUEST_ID_HEADER, context.request_id.get())] if context.request_id.get() else []
    caller = context.caller_user_id.get()
    if caller:
        metadata.append((CALLER_HEADER, caller))
    return {"timeout": context.remaining(cap_s), "metadata": tuple(metadata)}


def unavailable_from(error: grpc.aio.AioRpcError, peer: str) -> Unavailable:
    """A peer that could not answer in time or at all, as the domain error callers understand."""
    return Unavailable(f"{peer} did not answer: {error.code().name}", metadata={"peer": peer})
