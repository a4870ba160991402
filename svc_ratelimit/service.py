"""The use case: check a request's descriptors against their buckets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from svc_ratelimit.domain import Budgets, Verdict, bucket_of, verdict
from svc_ratelimit.ports import BucketStore


class RateLimiter:
    def __init__(self, buckets: BucketStore, budgets: Budgets):
        self._buckets = buckets
        self._budgets = budgets

    async def check(self, descriptors: Sequence[Iterable[tuple[str, str]]], cost: int = 1) -> list[Verdict]:
        """One verdict per descriptor, in order; the request is over limit when any is not granted.

        A descriptor that names no bucket is a gateway misconfiguration: InvalidArgument, before
        any token is taken (Envoy then applies its failure mode).
        """
        cost = max(1, cost)
        buckets = [bucket_of(entries) for entries in descriptors]
        budgets = [self._budgets.of(bucket) for bucket in buckets]
        takes = await asyncio.gather(*(self._buckets.take(b, budget, cost) for b, budget in zip(buckets, budgets)))
        return [verdict(b, budget, take, cost) for b, budget, take in zip(buckets, budgets, takes)]
