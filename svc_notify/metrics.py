"""svc_notify's own Prometheus metrics, served on the service's metrics port with the RPC ones."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DELIVERIES = Counter(
    "notify_deliveries_total",
    "Delivery attempts by channel queue (apns, fcm, email) and result: delivered, duplicate, no_device, "
    "target_gone, buried, retry; error (a store did not answer) and undecodable (terminated).",
    ["queue", "result"],
)
SEND_SECONDS = Histogram(
    "notify_send_seconds",
    "Time of one provider call, by channel queue and what the provider answered.",
    ["queue", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0),
)
DEAD_LETTERS = Counter(
    "notify_dead_letters_total",
    "Work items put on notify.dead.<queue>, by queue and cause: rejected (the provider refused it), "
    "exhausted (every attempt answered retry), unanswered (JetStream's max deliveries ran out on timeouts).",
    ["queue", "cause"],
)
EVENTS = Counter(
    "notify_events_total",
    "Events consumed from JetStream by notify-tweets and notify-graph, by durable and outcome (ack, retry, rejected).",
    ["durable", "outcome"],
)
