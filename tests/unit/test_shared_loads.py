"""Cache misses that share their store reads (mesh/shared_loads.py)."""

from __future__ import annotations

import asyncio

import pytest

from mesh.shared_loads import SharedLoads, unshared


class Store:
    """A store whose reads wait for `release`, recording the keys each read asked for."""

    def __init__(self, values: dict) -> None:
        self.values = values
        self.reads: list[list] = []
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def read(self, keys: list) -> dict:
        self.reads.append(keys)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {key: self.values[key] for key in keys if key in self.values}


async def test_concurrent_misses_of_a_key_share_one_read_and_other_keys_get_their_own():
    loads, store = SharedLoads(), Store({("a", "v1"): 1, ("b", "v1"): 2, ("c", "v1"): 3})
    first = asyncio.ensure_future(loads.load([("a", "v1"), ("b", "v1")], store.read))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(loads.load([("b", "v1"), ("c", "v1"), ("gone", "v1")], store.read))
    await asyncio.sleep(0)
    store.release.set()
    assert await first == {("a", "v1"): 1, ("b", "v1"): 2}
    assert await second == {("b", "v1"): 2, ("c", "v1"): 3}  # a key the store lacks is left out
    assert store.reads == [[("a", "v1"), ("b", "v1")], [("c", "v1"), ("gone", "v1")]]
    # finished: the next miss reads again
    assert await loads.load([("a", "v1")], store.read) == {("a", "v1"): 1}
    assert len(store.reads) == 3


async def test_a_miss_under_another_version_or_without_one_is_not_joined():
    loads, store = SharedLoads(), Store({("a", "v1"): 1, ("a", "v2"): 10})
    old = asyncio.ensure_future(loads.load([("a", "v1")], store.read))
    await asyncio.sleep(0)
    # this caller's lookup saw the version a change made: the read begun before is not theirs
    new = asyncio.ensure_future(loads.load([("a", "v2")], store.read))
    lone = asyncio.ensure_future(loads.load([("a", unshared())], store.read))
    await asyncio.sleep(0)
    store.release.set()
    assert (await old, await new) == ({("a", "v1"): 1}, {("a", "v2"): 10})
    assert await lone == {}
    assert len(store.reads) == 3


async def test_a_caller_that_gives_up_leaves_the_read_to_the_others_and_a_failure_reaches_all():
    loads, store = SharedLoads(), Store({("a", 1): "x"})
    quitter = asyncio.ensure_future(loads.load([("a", 1)], store.read))
    stayer = asyncio.ensure_future(loads.load([("a", 1)], store.read))
    await asyncio.sleep(0)
    quitter.cancel()
    store.release.set()
    assert await stayer == {("a", 1): "x"}
    assert len(store.reads) == 1

    store.fail = ConnectionError("store timed out")
    callers = [asyncio.ensure_future(loads.load([("b", 1)], store.read)) for _ in range(3)]
    for caller in callers:
        with pytest.raises(ConnectionError):
            await caller
    assert len(store.reads) == 2
