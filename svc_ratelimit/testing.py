"""An in-memory BucketStore for unit tests: the same maths as the Lua script, on a clock the test moves."""

from __future__ import annotations

from svc_ratelimit.domain import BucketId, Budget, Take, refill


class FakeBuckets:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.state: dict[BucketId, tuple[float, float]] = {}  # tokens, time of last take
        self.down = False  # True: every take raises, as an unreachable Redis would

    async def take(self, bucket: BucketId, budget: Budget, cost: int) -> Take:
        if self.down:
            from mesh.errors import Unavailable

            raise Unavailable("rate limit store: down", reason="RATE_LIMIT_STORE_UNAVAILABLE")
        tokens, last = self.state.get(bucket, (float(budget.burst), self.now))
        tokens = refill(tokens, last, self.now, budget)
        granted = tokens >= cost
        if granted:
            tokens -= cost
        self.state[bucket] = (tokens, max(last, self.now))
        return Take(granted, tokens)
