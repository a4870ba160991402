"""Small asyncio helpers shared by the services' use cases and adapters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def gather_bounded(awaitables: Iterable[Awaitable[T]], limit: int) -> list[T]:
    """Like asyncio.gather (results in order, the first error raised), with at most `limit` running
    at once: a fan-out to 5000 homes must not put 5000 requests on the wire at the same moment.
    On the first error the others are cancelled, so none keeps writing after the caller gave up."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    gate = asyncio.Semaphore(limit)

    async def gated(awaitable: Awaitable[T]) -> T:
        async with gate:
            return await awaitable

    tasks = [asyncio.ensure_future(gated(a)) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
