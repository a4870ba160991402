"""Load the benchmark dataset into the running stack: `.venv/bin/python -m bench.load`.

    .venv/bin/python -m bench.load                       # all of it (bench/dataset.py says what)
    .venv/bin/python -m bench.load --only reed98         # one part (repeatable)
    .venv/bin/python -m bench.load --search-tweets 200000

Idempotent: a part the manifest (var/bench/dataset.json) lists is checked against the stores (a
few reads: its marker rows are there, its counts are right) and skipped in seconds; a part that is
missing, or whose data is gone (the stores were wiped), is loaded again. Every write is an upsert
or carries a request id, so loading over a half-loaded part changes nothing twice.

From code (the benchmark runner): `ensure_loaded(stack, parts=..., search_tweets=...) -> Dataset`,
or `await ensure_loaded_async(...)` inside a running event loop.

Each part prints what it did, how long it took and its rate; a REST error, a store write that
still fails after its retries, or a check that does not hold stops the load with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from bench.dataset import DATASET_VERSION, PARTS, SEED, Dataset, load_manifest, manifest_path, save_manifest
from bench.load_reed98 import FOLLOWS_VIA, load_reed98, reed98_still_there
from bench.load_search import SEARCH_TWEETS, load_search, search_still_there
from bench.load_synthetic import load_synthetic, synthetic_still_there
from bench.loading import LoadFailed, Mesh, say
from mesh.config import Stack


@dataclasses.dataclass(frozen=True)
class _Asked:
    """How the caller wants the parts loaded."""

    search_tweets: int
    reed98_follows: str
    search_tweet_rows: bool


# a few reads that tell whether a part the manifest lists is still in the stores
_STILL_THERE: dict[str, Callable[[Mesh, Any], Awaitable[bool]]] = {
    "reed98": reed98_still_there, "synthetic": synthetic_still_there, "search": search_still_there,
}


async def ensure_loaded_async(stack: Stack | None = None, parts: Iterable[str] = PARTS,
                              search_tweets: int = SEARCH_TWEETS, *, reed98_follows: str = "api",
                              search_tweet_rows: bool = False, force: bool = False) -> Dataset:
    """The dataset with `parts` loaded into the running stack: each part found in the manifest and
    still in the stores is kept, any other is loaded (the search corpus needs the synthetic users,
    so asking for it loads those too). `force` reloads the parts asked for even when they are there.

    `reed98_follows`: "api" posts each Reed98 follow through the gateway, like DeathStarBench (slow:
    svc_graph took 35 follows a second on this 2-core machine while other work ran); "bulk" writes
    svc_graph's rows directly (seconds; no follow events, so no "followed you" notifications).
    `search_tweet_rows`: the corpus into svc_tweet's tables too, not only the index
    (bench/load_search.py). Returns the manifest, as saved."""
    if reed98_follows not in FOLLOWS_VIA:
        raise ValueError(f"reed98_follows must be one of {FOLLOWS_VIA}, got {reed98_follows!r}")
    stack = stack or Stack()
    parts = set(parts)
    wanted = [part for part in PARTS if part in parts]
    unknown = parts - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; known: {', '.join(PARTS)}")
    forced = set(wanted) if force else set()
    if "search" in wanted and "synthetic" not in wanted:
        wanted.insert(wanted.index("search"), "synthetic")  # the corpus's authors
    try:
        dataset = load_manifest(stack)
        if (dataset.version, dataset.seed) != (DATASET_VERSION, SEED):
            say(f"manifest of dataset version {dataset.version} seed {dataset.seed}: loading version {DATASET_VERSION}")
            dataset = Dataset(DATASET_VERSION, SEED)
    except FileNotFoundError:
        dataset = Dataset(DATASET_VERSION, SEED)

    started = time.monotonic()
    async with Mesh.open(stack) as mesh:
        for part in wanted:
            dataset = await _ensure_part(mesh, dataset, part, _Asked(search_tweets, reed98_follows, search_tweet_rows),
                                         part in forced)
            save_manifest(dataset, stack)
    say(f"dataset ready in {time.monotonic() - started:.1f}s: {', '.join(wanted)} (manifest {manifest_path(stack)})")
    return dataset


async def _ensure_part(mesh: Mesh, dataset: Dataset, part: str, asked: _Asked, force: bool) -> Dataset:
    started = time.monotonic()
    recorded = getattr(dataset, part)
    if recorded is not None and not force:
        if part == "search" and recorded.tweets != asked.search_tweets:
            say(f"search: the manifest has {recorded.tweets:,} tweets, {asked.search_tweets:,} asked: loading those")
        elif part == "search" and asked.search_tweet_rows and not recorded.in_tweet_store:
            say("search: the corpus is in the index only, its svc_tweet rows asked: loading them")
        elif await _STILL_THERE[part](mesh, recorded):
            say(f"{part}: loaded already (checked in {time.monotonic() - started:.1f}s)")
            return dataset
    timings: dict[str, float] = {}
    if part == "reed98":
        loaded = await load_reed98(mesh, timings, asked.reed98_follows)
    elif part == "synthetic":
        loaded = await load_synthetic(mesh, timings)
    else:
        loaded = await load_search(mesh, dataset.synthetic, asked.search_tweets, timings,
                                   tweet_rows=asked.search_tweet_rows)
    timings["total"] = round(time.monotonic() - started, 2)
    say(f"{part}: loaded in {timings['total']:.1f}s")
    return dataclasses.replace(dataset, **{part: loaded}, timings={**dataset.timings, part: timings})


def ensure_loaded(stack: Stack | None = None, parts: Iterable[str] = PARTS, search_tweets: int = SEARCH_TWEETS,
                  *, reed98_follows: str = "api", search_tweet_rows: bool = False, force: bool = False) -> Dataset:
    """ensure_loaded_async, for callers without an event loop."""
    return asyncio.run(ensure_loaded_async(stack, parts, search_tweets, reed98_follows=reed98_follows,
                                           search_tweet_rows=search_tweet_rows, force=force))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=PARTS, help="load only this part (repeatable)")
    parser.add_argument("--search-tweets", type=int, default=SEARCH_TWEETS, help="size of the search corpus")
    parser.add_argument("--reed98-follows", choices=FOLLOWS_VIA, default="api",
                        help="Reed98 follows through the API (default, minutes) or written in bulk (seconds)")
    parser.add_argument("--search-tweet-rows", action="store_true",
                        help="the search corpus into svc_tweet's tables too, not only the index (twice the time)")
    parser.add_argument("--force", action="store_true", help="load again even what the checks find in place")
    args = parser.parse_args(argv)
    # a TERM like a Ctrl-C: the load stops through its `finally` blocks (index refreshes back on)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # the store's expected warnings about the loader's unlogged multi-partition batches
    logging.getLogger("cassandra").setLevel(logging.ERROR)
    try:
        ensure_loaded(parts=args.only or PARTS, search_tweets=args.search_tweets, reed98_follows=args.reed98_follows,
                      search_tweet_rows=args.search_tweet_rows, force=args.force)
    except (LoadFailed, RuntimeError) as exc:
        say(f"LOAD FAILED: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
