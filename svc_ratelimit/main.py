"""Composition root of svc_ratelimit: the rate limit service Envoy's ratelimit filters call.

Speaks Envoy's envoy.service.ratelimit.v3.RateLimitService (a wire-compatible subset of the proto
in protos/third_party/); keeps token buckets in Redis, so every replica of this service and every
Envoy share one budget per caller. Budgets, from the environment (per second and burst):

  TM_RATELIMIT_READ_PER_S, TM_RATELIMIT_READ_BURST              reads of a signed-in user (50, 300)
  TM_RATELIMIT_WRITE_PER_S, TM_RATELIMIT_WRITE_BURST            writes of a signed-in user (10, 60)
  TM_RATELIMIT_ANON_READ_PER_S, TM_RATELIMIT_ANON_READ_BURST    reads per client address before log-in (50, 300)
  TM_RATELIMIT_ANON_WRITE_PER_S, TM_RATELIMIT_ANON_WRITE_BURST  writes per client address before log-in
                                                                (sign-up, log-in; 20, 200)

Run: python -m svc_ratelimit.main (ports and endpoints from mesh/config.py).
"""

from __future__ import annotations

import logging

import grpc

from mesh.config import service_spec
from mesh.deps import Dependencies
from mesh.server import BackgroundJob, ServiceApp, main
from svc_ratelimit.adapters.redis_buckets import RedisBuckets
from svc_ratelimit.domain import Budgets
from svc_ratelimit.grpc_api import RateLimitServiceApi
from svc_ratelimit.service import RateLimiter
from third_party.envoy.service.ratelimit.v3 import rls_pb2_grpc

log = logging.getLogger("svc_ratelimit")


def register(server: grpc.aio.Server, deps: Dependencies) -> list[BackgroundJob]:
    budgets = Budgets.from_env()
    log.info("budgets", extra={"budgets": {f"{k.value}:{c.name.lower()}": [b.per_s, b.burst]
                                           for (k, c), b in budgets.by_class.items()}})
    api = RateLimitServiceApi(RateLimiter(RedisBuckets(deps.redis), budgets))
    rls_pb2_grpc.add_RateLimitServiceServicer_to_server(api, server)
    return []


APP = ServiceApp(
    spec=service_spec("ratelimit"),
    needs=frozenset({"redis"}),
    register=register,
)

if __name__ == "__main__":
    main(APP)
