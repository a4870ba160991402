"""What svc_ratelimit's use case needs from the outside world."""

from __future__ import annotations

from typing import Protocol

from svc_ratelimit.domain import Budget, BucketId, Take


class BucketStore(Protocol):
    """Token buckets shared by every limiter replica.

    `take` refills the bucket for the time since its last take and takes `cost` tokens if it holds
    that many, in ONE atomic step, so concurrent takes from any number of replicas never grant more
    than the budget allows. Raises mesh.errors.Unavailable when the store did not answer in time.
    """

    async def take(self, bucket: BucketId, budget: Budget, cost: int) -> Take:
        ...
