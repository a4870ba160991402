"""Fan-out latency: from the 201 of a tweet to the tweet being in every follower's home timeline.

Each author posts through the gateway like any client. Two clocks are read afterwards:
- every follower's home row: its CQL write time (`WRITETIME`, the timeline service's client-side
  timestamp, same machine clock) minus the moment the client held the 201. That is the moment the
  row became readable, for every follower of the author, without 10,000 clients polling;
- a sample of followers polls `GET /v1/timelines/home` through the gateway until the tweet is on
  the first page: what a client sees, cache included, at the resolution of the polling.
The timeline service's own counters say how many home rows each tweet cost: followers + 1 for an
ordinary author (their own home too), zero for a celebrity, whose tweets are merged at read time.
Runs on an otherwise idle mesh (the mixed workload is measured separately).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from bench import timeline_metrics
from bench.auth import bearer
from bench.stats import latency_summary
from bench.timeline_metrics import FANOUT_CELEBRITY_TWEETS, FANOUT_HOME_WRITES
from mesh import cql
from mesh.clients import peer_channel
from mesh.config import Stack
from svc_timeline.adapters.graph_client import GrpcFollowerDirectory

# The measuring must not load the machine it measures (2 cores, shared with the whole mesh). Row
# visibility comes from each row's WRITETIME, exact whenever it is read, so the rows are looked for
# only every 0.25 s; the REST sample's resolution is its poll interval. 20 followers polling every
# 20 ms and the rows looked for as often: 10k followers, rows visible p50/p99 511/872 ms; this way
# 512/805 ms (one run each, 5 posts).
WRITE_TIME_POLL_S = 0.25
REST_POLL_INTERVAL_S = 0.05
VISIBLE_WITHIN_S = 30.0  # give up on a post after this: reported as not visible
REST_SAMPLE = 5  # followers polled through the gateway per post: at most ~100 reads/s
_COUNTERS = (FANOUT_HOME_WRITES, FANOUT_CELEBRITY_TWEETS)
IN_KEYS = 100  # partitions per `IN` (ScyllaDB's default limit of an IN restriction)


async def follower_ids(stack: Stack, user_id: int) -> list[int]:
    channel = peer_channel(stack, "graph")
    try:
        directory = GrpcFollowerDirectory(channel)
        found, token = [], ""
        while True:
            page = await directory.follower_ids(user_id, token, 5000)
            found.extend(page.user_ids)
            if not page.next_page_token:
                return found
            token = page.next_page_token
    finally:
        await channel.close()


async def _post(client: httpx.AsyncClient, stack: Stack, author_id: int, text: str) -> tuple[int, float]:
    answer = await client.post(
        f"{stack.envoy_url}/v1/tweets",
        json={"twitterContent": text, "requestId": uuid.uuid4().hex},
        headers=bearer(stack, author_id),
        timeout=10.0,
    )
    held_201_at = time.time()
    if answer.status_code != 201:
        raise RuntimeError(f"posting as {author_id}: {answer.status_code} {answer.text[:300]}")
    return int(answer.json()["tweetId"]), held_201_at


async def _write_times(session, tweet_id: int, followers: Sequence[int], after: float) -> dict[int, float]:
    """Milliseconds from `after` to each follower's home row of the tweet, for the rows written so far."""
    statement = await cql.prepare(
        session, "SELECT user_id, WRITETIME(author_id) AS written FROM home_timeline WHERE user_id IN ? AND tweet_id = ?"
    )
    found: dict[int, float] = {}

    async def one(keys: Sequence[int]) -> None:
        for row in await cql.execute(session, statement, (list(keys), tweet_id)) or ():
            found[row.user_id] = (row.written / 1e6 - after) * 1000  # ms

    batches = [followers[i : i + IN_KEYS] for i in range(0, len(followers), IN_KEYS)]
    for start in range(0, len(batches), 16):
        await asyncio.gather(*(one(keys) for keys in batches[start : start + 16]))
    return found


async def _seen_through_rest(
    client: httpx.AsyncClient, stack: Stack, reader: int, tweet_id: int, after: float
) -> float | None:
    headers = bearer(stack, reader)
    deadline = after + VISIBLE_WITHIN_S
    while time.time() < deadline:
        answer = await client.get(
            f"{stack.envoy_url}/v1/timelines/home", params={"pageSize": 20},
            headers=headers, timeout=5.0,
        )
        if answer.status_code == 200 and any(t.get("tweetId") == str(tweet_id) for t in answer.json().get("tweets", [])):
            return (time.time() - after) * 1000  # ms
        await asyncio.sleep(REST_POLL_INTERVAL_S)
    return None


async def measure_author(
    stack: Stack, session, client: httpx.AsyncClient, author_id: int, posts: int, *, rng: random.Random
) -> dict[str, Any]:
    followers = await follower_ids(stack, author_id)
    per_follower: list[float] = []
    all_visible: list[float] = []
    rest_seen: list[float] = []
    not_visible = 0
    home_writes: list[float] = []
    celebrity_tweets = 0.0
    for n in range(posts):
        before = await timeline_metrics.read_async(client, stack, _COUNTERS)
        tweet_id, held_201_at = await _post(client, stack, author_id, f"fan-out probe {n} of {author_id} #bench")
        sample = rng.sample(followers, min(REST_SAMPLE, len(followers)))
        rest_task = asyncio.gather(*(_seen_through_rest(client, stack, r, tweet_id, held_201_at) for r in sample))
        pending = list(followers)
        seen: dict[int, float] = {}
        celebrity = False
        while time.time() < held_201_at + VISIBLE_WITHIN_S:
            counters = await timeline_metrics.read_async(client, stack, _COUNTERS)
            celebrity = counters[FANOUT_CELEBRITY_TWEETS] > before[FANOUT_CELEBRITY_TWEETS]
            if celebrity:
                break  # merged at read time: no home rows will come
            if pending:
                seen.update(await _write_times(session, tweet_id, pending, held_201_at))
                pending = [f for f in followers if f not in seen]
            if not pending:
                break
            await asyncio.sleep(WRITE_TIME_POLL_S)
        rest = await rest_task
        rest_seen.extend(s for s in rest if s is not None)
        not_visible += sum(1 for s in rest if s is None)
        await asyncio.sleep(0.2)  # the author's own home row and counters settle
        after = await timeline_metrics.read_async(client, stack, _COUNTERS)
        if celebrity:
            # counted in the homes themselves: the counter also moves with other tweets' fan-outs
            home_writes.append(len(await _write_times(session, tweet_id, [author_id, *followers], held_201_at)))
        else:
            home_writes.append(after[FANOUT_HOME_WRITES] - before[FANOUT_HOME_WRITES])
        celebrity_tweets += after[FANOUT_CELEBRITY_TWEETS] - before[FANOUT_CELEBRITY_TWEETS]
        if seen:
            per_follower.extend(seen.values())
            if not pending:
                all_visible.append(max(seen.values()))
        if not celebrity:
            not_visible += len(pending)
    return {
        "author_id": author_id,
        "followers": len(followers),
        "posts": posts,
        "celebrity_tweets": celebrity_tweets,
        "home_writes_per_post": home_writes,
        "home_row_visible_ms": latency_summary(per_follower),
        "all_followers_visible_ms": latency_summary(all_visible),
        "rest_sample_visible_ms": latency_summary(rest_seen),
        "not_visible_within_s": {"seconds": VISIBLE_WITHIN_S, "count": not_visible},
    }


async def measure(stack: Stack, authors: dict[str, int], celebrities: Sequence[int], *, seed: int = 8) -> dict[str, Any]:
    """{"10": {...}, "1000": {...}, "10000": {...}, "celebrity": {...}}: per author size."""
    rng = random.Random(seed)
    posts_for = {"10": 20, "1000": 10, "10000": 5}
    session = await cql.connect(stack, keyspace=stack.cql_keyspace)
    try:
        async with httpx.AsyncClient() as client:
            results: dict[str, Any] = {}
            for size, author_id in authors.items():
                results[size] = await measure_author(stack, session, client, author_id, posts_for.get(size, 5), rng=rng)
            if celebrities:
                results["celebrity"] = await measure_author(stack, session, client, celebrities[0], 3, rng=rng)
            return results
    finally:
        await cql.close(session)


def for_report(measured: dict[str, Any]) -> dict[str, Any]:
    """The report's shape (bench/report.py Fanout): per author size the per-follower visibility of
    the home rows, the rest kept beside it; the celebrity's home rows written."""
    by_followers = []
    for size, figures in measured.items():
        if size == "celebrity":
            continue
        by_followers.append({
            "followers": figures["followers"], "samples": figures["posts"],
            "visible_ms": figures["home_row_visible_ms"], **figures,
        })
    found: dict[str, Any] = {"by_followers": by_followers}
    celebrity = measured.get("celebrity")
    if celebrity is not None:
        found["celebrity"] = {
            "followers": celebrity["followers"], "fanout_writes": int(sum(celebrity["home_writes_per_post"])),
            "merged_at_read": celebrity["celebrity_tweets"] == celebrity["posts"],
            "rest_sample_visible_ms": celebrity["rest_sample_visible_ms"],
        }
    return found
