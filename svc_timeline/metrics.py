"""svc_timeline's own Prometheus metrics, served on the service's metrics port with the RPC ones."""

from __future__ import annotations

from prometheus_client import Counter

FANOUT_HOME_WRITES = Counter(
    "timeline_fanout_home_writes_total",
    "Entries written into home timelines by fan-out on write (one per recipient of a tweet).",
)
FANOUT_CELEBRITY_TWEETS = Counter(
    "timeline_fanout_celebrity_tweets_total",
    "Tweets and retweets of celebrities: pushed nowhere, merged into followers' homes at read time.",
)
CACHE_READS = Counter(
    "timeline_cache_reads_total",
    "Timeline slices asked of the cache, by timeline kind and result (hit, miss, partial = cached "
    "but not deep enough for the page).",
    ["kind", "result"],
)
STALE_ENTRIES_REMOVED = Counter(
    "timeline_stale_entries_removed_total",
    "Entries a read found deleted or hidden and removed from the timeline it came from.",
    ["kind"],
)
RENDERED_PAGES = Counter(
    "timeline_rendered_pages_total",
    "First home pages served from their rendered copy (hit) or rendered afresh and kept (miss).",
    ["result"],
)
EVENTS = Counter(
    "timeline_events_total",
    "Events consumed from JetStream, by durable consumer and outcome (ack, retry, rejected).",
    ["durable", "outcome"],
)
