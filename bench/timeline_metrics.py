"""svc_timeline's counters, read from its metrics endpoint (Prometheus text) around a run.

The fan-out measures home writes with them; every other run reports how many first home pages were
served from their rendered copy. That share explains a home read's cost: a rendered hit is a few
Redis lookups, a miss hydrates the page through svc_tweet and svc_graph (~3x the CPU). In the
DeathStarBench mix, composes invalidate the pages of every follower, so it is far below 100%.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from mesh.config import Stack, service_spec

FANOUT_HOME_WRITES = "timeline_fanout_home_writes_total"
FANOUT_CELEBRITY_TWEETS = "timeline_fanout_celebrity_tweets_total"
PAGE_HITS = 'timeline_rendered_pages_total{result="hit"}'
PAGE_MISSES = 'timeline_rendered_pages_total{result="miss"}'
PAGE_SERIES = (PAGE_HITS, PAGE_MISSES)


def metrics_url(stack: Stack) -> str:
    return f"http://{stack.host}:{stack.metrics_port(service_spec('timeline'))}/metrics"


def series_values(text: str, series: Iterable[str]) -> dict[str, float]:
    """The values of these exact series (name with its labels, as exposed); 0 for one not exposed
    yet (a labelled counter appears with its first increment)."""
    values = dict.fromkeys(series, 0.0)
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name in values:
            values[name] = float(value)
    return values


async def read_async(client: httpx.AsyncClient, stack: Stack, series: Iterable[str]) -> dict[str, float]:
    return series_values((await client.get(metrics_url(stack), timeout=5.0)).text, series)


def read(stack: Stack, series: Iterable[str]) -> dict[str, float] | None:
    """As read_async, for the synchronous runs; None if svc_timeline's metrics did not answer (the
    run's figures stand without them)."""
    try:
        return series_values(httpx.get(metrics_url(stack), timeout=5.0).text, series)
    except httpx.HTTPError:
        return None


def rendered_pages(before: Mapping[str, float] | None, after: Mapping[str, float] | None) -> dict[str, Any] | None:
    """First home pages served rendered (hits) and rendered afresh (misses) between two reads."""
    if before is None or after is None:
        return None
    hits = round(after[PAGE_HITS] - before[PAGE_HITS])
    misses = round(after[PAGE_MISSES] - before[PAGE_MISSES])
    return {"hits": hits, "misses": misses, "hit_ratio": round(hits / (hits + misses), 3) if hits + misses else None}
