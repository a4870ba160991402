"""Cache misses that share their store reads: one load per key in flight, joined by every caller
that misses the same key meanwhile.

With a cache cold (a Redis restart, TTLs run out), a tweet shown in 40 homes was read from CQL 40
times at once, and a followed user's counts recounted once per follower reading: the duplicates
queued behind each other until the reads timed out (bench, home reads at 50/s on a flushed Redis:
94% failed for the first 10 s).

A key names the cached version its caller's lookup saw (mesh/redis_versioned.py), so a caller only
joins a load begun under the same version: what it gets is what the cache would have held for it,
never the state from before a change the caller's own lookup already saw invalidated. Callers
whose lookup saw no version (the cache did not answer) pass a key of their own (`unshared`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def unshared() -> object:
    """A version no other caller's key has: the load is not shared."""
    return object()


class SharedLoads(Generic[K, V]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[Mapping[K, V]]] = {}

    async def load(self, keys: Sequence[K], load_batch: Callable[[list[K]], Awaitable[Mapping[K, V]]]) -> dict[K, V]:
        """The values of `keys` (a key the load did not find is left out): the keys nobody is
        loading now in one call of `load_batch`, the others from the loads already running."""
        wanted = list(dict.fromkeys(keys))
        fresh = [key for key in wanted if key not in self._running]
        if fresh:
            batch = asyncio.ensure_future(load_batch(fresh))
            for key in fresh:
                self._running[key] = batch
            batch.add_done_callback(lambda done: self._finished(fresh, done))
        batches = {key: self._running[key] for key in wanted}
        # shielded: a caller that gives up (deadline, cancel) leaves the load to the others
        await asyncio.gather(*(asyncio.shield(batch) for batch in set(batches.values())))
        found: dict[K, V] = {}
        for key, batch in batches.items():
            values = batch.result()
            if key in values:
                found[key] = values[key]
        return found

    def _finished(self, keys: list[K], done: asyncio.Future[Mapping[K, V]]) -> None:
        for key in keys:
            if self._running.get(key) is done:
                del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved: if every caller gave up, its failure is nobody's to log
