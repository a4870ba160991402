"""The gRPC face of svc_ratelimit: Envoy's RateLimitService, proto <-> domain, nothing else.

Per descriptor the answer carries the limit, what is left and when the bucket is full again; Envoy
turns the one closest to its limit into X-RateLimit-Limit / -Remaining / -Reset
(enable_x_ratelimit_headers: DRAFT_VERSION_03). The limit is the bucket's burst with no window
(unit UNKNOWN): a token bucket has no fixed window, and Envoy then prints the number alone. Over
limit, the answer adds Retry-After (seconds until the tokens a retry needs are there) and a body
that becomes the status message (429 for REST, RESOURCE_EXHAUSTED for gRPC callers).
"""

from __future__ import annotations

from google.protobuf import duration_pb2

from svc_ratelimit.domain import Verdict
from svc_ratelimit.service import RateLimiter
from third_party.envoy.config.core.v3 import base_pb2
from third_party.envoy.service.ratelimit.v3 import rls_pb2 as pb
from third_party.envoy.service.ratelimit.v3 import rls_pb2_grpc

_UINT32_MAX = 2**32 - 1


def _status(v: Verdict) -> pb.RateLimitResponse.DescriptorStatus:
    return pb.RateLimitResponse.DescriptorStatus(
        code=pb.RateLimitResponse.OK if v.granted else pb.RateLimitResponse.OVER_LIMIT,
        current_limit=pb.RateLimitResponse.RateLimit(
            name=v.bucket.budget_name, requests_per_unit=min(v.budget.burst, _UINT32_MAX),
            unit=pb.RateLimitResponse.RateLimit.UNKNOWN,
        ),
        limit_remaining=min(v.remaining, _UINT32_MAX),
        duration_until_reset=duration_pb2.Duration(seconds=v.reset_s),
    )


class RateLimitServiceApi(rls_pb2_grpc.RateLimitServiceServicer):
    def __init__(self, limiter: RateLimiter):
        self._limiter = limiter

    async def ShouldRateLimit(self, request: pb.RateLimitRequest, ctx) -> pb.RateLimitResponse:
        verdicts = await self._limiter.check(
            [[(e.key, e.value) for e in d.entries] for d in request.descriptors], cost=request.hits_addend or 1
        )
        over = [v for v in verdicts if not v.granted]
        response = pb.RateLimitResponse(
            overall_code=pb.RateLimitResponse.OVER_LIMIT if over else pb.RateLimitResponse.OK,
            statuses=[_status(v) for v in verdicts],
        )
        if over:
            wait_s = max(v.retry_after_s for v in over)
            response.response_headers_to_add.append(base_pb2.HeaderValue(key="retry-after", value=str(wait_s)))
            names = ", ".join(sorted({v.bucket.budget_name for v in over}))
            response.raw_body = f"rate limit exceeded ({names}); retry after {wait_s} s".encode()
        return response
