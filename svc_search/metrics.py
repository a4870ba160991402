"""svc_search's own Prometheus metrics, served on the service's metrics port with the RPC ones."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS = Counter(
    "search_events_total",
    "Events consumed from JetStream, by durable consumer and outcome (done, retry, reject).",
    ["durable", "outcome"],
)
BATCH_SIZE = Histogram(
    "search_index_batch_size",
    "Events handled together (one bulk request), by durable consumer.",
    ["durable"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
