"""The event bus: NATS JetStream streams and durable consumers, declared in one table.

Subjects are `<domain>.<event>` (e.g. `tweet.created`); payloads are the protobuf messages of
tweetmesh.events.v1. Publishers set `Nats-Msg-Id` to the event id so a retried publish inside the
stream's duplicate window is stored once; consumers are durable, acknowledge explicitly and must
be idempotent (a message may be redelivered after a crash between handling and ack).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from mesh import context
from mesh.config import Stack, env_float, env_str
from mesh.errors import Unavailable

log = logging.getLogger("mesh.events")

PUBLISH_TIMEOUT_S = env_float("TM_NATS_PUBLISH_TIMEOUT_S", 2.0)
DAY_S = 86_400.0
DUPLICATE_WINDOW_S = 120.0  # a publisher retrying longer than this after a crash is caught by consumers' idempotency


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    retention: RetentionPolicy = RetentionPolicy.LIMITS
    max_age_s: float = 7 * DAY_S

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            retention=self.retention,
            storage=StorageType.FILE,
            max_age=self.max_age_s,
            duplicate_window=DUPLICATE_WINDOW_S,
            num_replicas=1,
        )


@dataclass(frozen=True)
class ConsumerSpec:
    stream: str
    durable: str
    filter_subjects: tuple[str, ...]
    ack_wait_s: float = 30.0
    max_deliver: int = 10
    # redelivery delays after a nak/timeout, growing; the last one repeats
    backoff_s: tuple[float, ...] = ()
    max_ack_pending: int = 1000
    # the events from the durable's creation on only: for a consumer whose work is worthless
    # after a while (the stream's backlog of a week would only be replayed for nothing)
    from_creation_on: bool = False

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.NEW if self.from_creation_on else DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_s,
            max_deliver=self.max_deliver,
            backoff=list(self.backoff_s) or None,
            max_ack_pending=self.max_ack_pending,
            filter_subjects=list(self.filter_subjects),
        )


STREAMS: tuple[StreamSpec, ...] = (
    # follow graph: follow.created, follow.deleted, block.created ...
    StreamSpec("GRAPH", ("graph.>",)),
    # tweets and engagement: tweet.created, tweet.deleted, tweet.retweeted, tweet.liked, tweet.commented ...
    StreamSpec("TWEETS", ("tweet.>",)),
    # one work item per notification and channel; removed once acknowledged
    StreamSpec("NOTIFY_DELIVERY", ("notify.deliver.>",), retention=RetentionPolicy.WORK_QUEUE, max_age_s=DAY_S),
    # deliveries that failed their last attempt, kept for inspection and replay
    StreamSpec("NOTIFY_DEAD", ("notify.dead.>",), max_age_s=30 * DAY_S),
)



def delivery_retry_delays(name: str = "TM_NOTIFY_RETRY_DELAYS_S", default: str = "1,5,30,120,600") -> tuple[float, ...]:
    """The pauses before the 2nd, 3rd... attempt of a notification delivery, e.g. "1,5,30,120,600"
    (seconds). The delivery consumers' max_deliver below and svc_notify's worker (which naks each
    failed attempt with the next of these, or the provider's Retry-After when longer) both use it,
    so JetStream's own limit and the worker's agree: attempts = len(delays) + 1."""
    raw = env_str(name, default)
    try:
        delays = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise ValueError(f"environment variable {name} must be comma-separated seconds, got {raw!r}") from None
    if any(delay <= 0 for delay in delays):
        raise ValueError(f"environment variable {name} must hold positive seconds, got {raw!r}")
    return delays


DELIVERY_RETRY_DELAYS_S = delivery_retry_delays()

CONSUMERS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec("TWEETS", "timeline-fanout", ("tweet.created", "tweet.deleted", "tweet.retweeted", "tweet.retweet_undone")),
    ConsumerSpec("GRAPH", "timeline-graph", ("graph.>",)),
    # apart from timeline-fanout, so a like is not held up behind a big fan-out in the same batch;
    # these only make rendered pages stale (pages live minutes), so older ones need not be replayed
    ConsumerSpec("TWEETS", "timeline-readers", ("tweet.liked", "tweet.unliked", "tweet.commented", "tweet.comment_deleted"),
                 from_creation_on=True),
    ConsumerSpec("TWEETS", "search-indexer", ("tweet.>",)),
    ConsumerSpec("GRAPH", "search-users", ("graph.user.>",)),
    ConsumerSpec("TWEETS", "notify-tweets", ("tweet.>",)),
    ConsumerSpec("GRAPH", "notify-graph", ("graph.>",)),
    # One work queue consumer per channel, so a slow provider never holds up another one.
    # No JetStream `backoff` here: when set, JetStream uses backoff[0] (1 s) as the ack wait of the
    # first delivery, and a provider call longer than that would be delivered twice at once. The
    # worker naks every failed attempt with its own delay instead (svc_notify.delivery), and
    # ack_wait (30 s) stays above the consumer's per-item deadline (20 s, which caps the provider
    # call). max_deliver = one attempt + one per delay = the worker's max_attempts: the worker
    # dead-letters an item whose last attempt failed; an item whose attempts all TIMED OUT (worker
    # crashed mid-send) reaches max_deliver in JetStream and is dead-lettered from its advisory.
    *(
        ConsumerSpec(
            "NOTIFY_DELIVERY",
            f"deliver-{channel}",
            (f"notify.deliver.{channel}",),
            ack_wait_s=30.0,
            max_deliver=len(DELIVERY_RETRY_DELAYS_S) + 1,
        )
        for channel in ("apns", "fcm", "email")
    ),
)


async def connect(stack: Stack, *, name: str, wait_s: float = 30.0) -> NatsClient:
    """A NATS connection that reconnects by itself; the first connect is retried for `wait_s`."""
    end = time.monotonic() + wait_s
    while True:
        try:
            return await nats.connect(
                stack.nats_url,
                name=name,
                connect_timeout=2,
                max_reconnect_attempts=-1,  # keep trying: a broker restart must not kill the service
                reconnect_time_wait=1,
                allow_reconnect=True,
            )
        except Exception as exc:  # noqa: BLE001 - connection refused while the broker starts
            if time.monotonic() >= end:
                raise Unavailable(f"NATS at {stack.nats_url} not reachable in {wait_s:.0f}s: {exc}") from exc
            await asyncio.sleep(0.5)


async def declare(js: JetStreamContext) -> None:
    """Create or update every stream and durable consumer of the table; safe to run at each start."""
    for spec in STREAMS:
        wanted = spec.config()
        try:
            await js.stream_info(spec.name)
            await js.update_stream(wanted)
        except NotFoundError:
            await js.add_stream(wanted)
    for spec in CONSUMERS:
        # add_consumer on an existing durable updates it (JetStream create-or-update semantics)
        await js.add_consumer(spec.stream, spec.config())
    log.info("jetstream declared", extra={"streams": len(STREAMS), "consumers": len(CONSUMERS)})


class JetStreamPublisher:
    """Publishes events at least once to the stream, stored once per event id."""

    def __init__(self, js: JetStreamContext):
        self._js = js

    async def publish(self, subject: str, payload: bytes, *, event_id: str) -> None:
        try:
            await self._js.publish(
                subject,
                payload,
                timeout=context.remaining(PUBLISH_TIMEOUT_S),
                headers={"Nats-Msg-Id": event_id},
            )
        except (TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
            raise Unavailable(f"event bus did not confirm {subject}: {exc!r}") from exc
