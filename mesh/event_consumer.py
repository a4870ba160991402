"""A durable JetStream pull consumer that runs a handler over each message, as a BackgroundJob.

The pull loop is mesh.consuming's; this adds the per-message outcome:
- ack only after the handler returned, i.e. after its writes are stored; a crash before that gets
  the message redelivered after the consumer's ack_wait, and handlers are idempotent;
- a handler failure (a store, cache or peer that did not answer) naks with a delay growing with
  the delivery count, so a dependency that is down is not hammered; JetStream gives up after the
  consumer's max_deliver;
- a message that can never be handled (PoisonEvent) is terminated at once and logged;
- a long handler reports progress (`still_working`), which restarts the ack_wait clock, so a big
  fan-out is not redelivered to another replica while it is still running.
Messages of one fetched batch are handled concurrently, a bounded number at a time; ordering
between them is not needed because every handler decides from current state, not from order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from prometheus_client import Counter

from mesh import consuming, context
from mesh.aio import gather_bounded
from mesh.consuming import DEFAULT_RETRY_DELAYS_S, PoisonEvent
from mesh.server import BackgroundJob

log = logging.getLogger("mesh.event_consumer")

Handler = Callable[[str, bytes, Callable[[], Awaitable[None]]], Awaitable[None]]


class EventConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        durable: str,
        handle: Handler,
        outcomes: Counter,
        batch: int = 64,
        concurrency: int = 8,
        fetch_wait_s: float = 1.0,
        backlog_wait_s: float = 0.05,
        retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S,
    ):
        self._js = js
        self._stream = stream
        self._durable = durable
        self._handle = handle
        # the service's own counter, labelled (durable, outcome: ack, retry, rejected)
        self._outcomes = outcomes
        self._batch = batch
        self._concurrency = concurrency
        # how long an idle fetch waits for a message: also how soon a stop is noticed when idle
        self._fetch_wait_s = fetch_wait_s
        # how long a batch fetch waits for more once the stored backlog is drained
        self._backlog_wait_s = backlog_wait_s
        self._retry_delays_s = tuple(retry_delays_s)

    def as_job(self) -> BackgroundJob:
        async def consume(stopping: asyncio.Event) -> None:
            await self.run(stopping)

        consume.__name__ = f"consume-{self._durable}"
        return consume

    async def run(self, stopping: asyncio.Event) -> None:
        """Consume until `stopping` is set; returns once the messages in hand are handled."""
        await consuming.pull(
            self._js, stream=self._stream, durable=self._durable, stopping=stopping,
            process=lambda messages: gather_bounded((self._process(m) for m in messages), self._concurrency),
            batch=self._batch, fetch_wait_s=self._fetch_wait_s, backlog_wait_s=self._backlog_wait_s,
        )

    async def _process(self, message: Msg) -> None:
        # one request id per event in every log line and peer call it causes: the event's id
        event_id = consuming.event_id_of(message, self._durable)
        context.request_id.set(event_id)
        try:
            await self._handle(message.subject, message.data, message.in_progress)
        except PoisonEvent as exc:
            log.error("dropping %s %s: %s", message.subject, event_id, exc)
            self._outcomes.labels(self._durable, "rejected").inc()
            await self._settle(message.term)
        except Exception as exc:  # noqa: BLE001 - any failure may pass: retry later, never lose it
            delivered = message.metadata.num_delivered or 1
            delay = consuming.retry_delay(message, self._retry_delays_s)
            log.warning(
                "%s %s failed (delivery %d), retrying in %.0fs: %r", message.subject, event_id, delivered, delay, exc,
                exc_info=delivered == 1,
            )
            self._outcomes.labels(self._durable, "retry").inc()
            await self._settle(lambda: message.nak(delay=delay))
        else:
            self._outcomes.labels(self._durable, "ack").inc()
            await self._settle(message.ack)

    async def _settle(self, action: Callable[[], Awaitable[None]]) -> None:
        await consuming.settle(action, self._durable)
