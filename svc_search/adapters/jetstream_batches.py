"""A durable JetStream pull consumer that hands BATCHES of messages to a handler, as a BackgroundJob.

The pull loop is mesh.consuming's (same delivery contract as every consumer), and the handler takes
the whole fetched batch at once, because the indexers turn a batch into ONE bulk request, and
answers one outcome per message, because a bulk request succeeds item by item:
- DONE: ack, only after the handler returned, i.e. after the index stored it; a crash before that
  gets the message redelivered after the consumer's ack_wait, and writes are idempotent;
- RETRY: nak with a delay growing with the delivery count, so a dependency that is down is not
  hammered; JetStream gives up after the consumer's max_deliver;
- REJECT: terminated at once (it can never apply; the handler logged why).
A handler that raises is a RETRY for the whole batch.
Batches grow with the load: an idle consumer fetches one message at a time (a new tweet must be
searchable within a second), a busy one whole batches of what is already stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from mesh import consuming, context
from mesh.consuming import DEFAULT_RETRY_DELAYS_S
from mesh.server import BackgroundJob
from svc_search import metrics
from svc_search.domain import EventOutcome, IncomingEvent
from svc_search.ports import BatchHandler

log = logging.getLogger("svc_search.consumer")


class JetStreamBatchConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        durable: str,
        handle_batch: BatchHandler,
        batch: int = 256,
        fetch_wait_s: float = 1.0,
        backlog_wait_s: float = 0.05,
        retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S,
    ):
        self._js = js
        self._stream = stream
        self._durable = durable
        self._handle_batch = handle_batch
        self._batch = batch
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
        """Consume until `stopping` is set; returns once the batch in hand is handled."""
        await consuming.pull(
            self._js, stream=self._stream, durable=self._durable, stopping=stopping, process=self._process,
            batch=self._batch, fetch_wait_s=self._fetch_wait_s, backlog_wait_s=self._backlog_wait_s,
        )

    async def _process(self, messages: Sequence[Msg]) -> None:
        events = [IncomingEvent(m.subject, m.data, self._event_id(m)) for m in messages]
        # one request id per batch in every log line and peer call it causes: its first event's id
        context.request_id.set(events[0].event_id)
        metrics.BATCH_SIZE.labels(self._durable).observe(len(events))
        try:
            outcomes = await self._handle_batch(events)
            if len(outcomes) != len(events):
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(events)} events")
        except Exception as exc:  # noqa: BLE001 - any failure may pass: retry later, never lose it
            log.warning("a batch of %d from %s failed, retrying: %r", len(events), self._durable, exc, exc_info=True)
            outcomes = [EventOutcome.RETRY] * len(events)
        for message, outcome in zip(messages, outcomes):
            metrics.EVENTS.labels(self._durable, outcome.value).inc()
            if outcome is EventOutcome.DONE:
                await self._settle(message.ack)
            elif outcome is EventOutcome.REJECT:
                await self._settle(message.term)
            else:
                await self._settle(self._nak_later(message))

    def _nak_later(self, message: Msg) -> Callable[[], Awaitable[None]]:
        delay = consuming.retry_delay(message, self._retry_delays_s)

        async def nak() -> None:
            await message.nak(delay=delay)

        return nak

    def _event_id(self, message: Msg) -> str:
        return consuming.event_id_of(message, self._durable)

    async def _settle(self, action: Callable[[], Awaitable[None]]) -> None:
        await consuming.settle(action, self._durable)
