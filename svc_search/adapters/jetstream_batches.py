"""A durable JetStream pull consumer that hands BATCHES of messages to a handler, as a BackgroundJob.

Built like svc_timeline's consumer (same delivery contract, mesh/events.py), but the handler takes
the whole fetched batch at once, because the indexers turn a batch into ONE bulk request, and
answers one outcome per message, because a bulk request succeeds item by item:
- DONE: ack, only after the handler returned, i.e. after the index stored it; a crash before that
  gets the message redelivered after the consumer's ack_wait, and writes are idempotent;
- RETRY: nak with a delay growing with the delivery count, so a dependency that is down is not
  hammered; JetStream gives up after the consumer's max_deliver;
- REJECT: terminated at once (it can never apply; the handler logged why).
A handler that raises is a RETRY for the whole batch.

Fetching: while idle it asks for ONE message and gets it the moment it is published (a batch
request would hold the first message until the batch is full or the wait expires, and a new tweet
must be searchable within a second); while messages keep coming it asks for batches, which the
server answers at once from what is already stored, so the batches grow with the load.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from mesh import context
from mesh.server import BackgroundJob
from svc_search import metrics
from svc_search.domain import EventOutcome, IncomingEvent
from svc_search.ports import BatchHandler

log = logging.getLogger("svc_search.consumer")

DEFAULT_RETRY_DELAYS_S = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)


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
        # the durable is declared at `make up` (mesh.events.declare): a missing one is a deployment
        # error, reported by failing the job (which stops the service) rather than waiting silently
        await self._js.consumer_info(self._stream, self._durable)
        subscription = await self._js.pull_subscribe_bind(durable=self._durable, stream=self._stream)
        log.info("consuming", extra={"stream": self._stream, "durable": self._durable})
        failures = 0
        backlog = False
        try:
            while not stopping.is_set():
                try:
                    if backlog:
                        messages = await subscription.fetch(self._batch, timeout=self._backlog_wait_s)
                    else:
                        messages = await subscription.fetch(1, timeout=self._fetch_wait_s)
                except TimeoutError:  # nats' own TimeoutError and asyncio's (raised by some fetch paths)
                    backlog = False
                    continue  # nothing new: look again (and at `stopping`)
                except (nats.errors.Error, OSError) as exc:
                    # the client reconnects by itself; wait a little longer each time meanwhile
                    failures += 1
                    delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                    log.warning("fetch from %s failed, again in %.1fs: %r", self._durable, delay, exc)
                    await _sleep_unless_stopped(stopping, delay)
                    continue
                failures = 0
                backlog = True
                await self._process(messages)
        finally:
            try:
                await subscription.unsubscribe()
            except Exception as exc:  # noqa: BLE001 - closing on the way out; the server forgets it anyway
                log.debug("unsubscribe failed: %r", exc)
            log.info("consumer stopped", extra={"durable": self._durable})

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
        delivered = message.metadata.num_delivered or 1
        delay = self._retry_delays_s[min(delivered, len(self._retry_delays_s)) - 1]

        async def nak() -> None:
            await message.nak(delay=delay)

        return nak

    def _event_id(self, message: Msg) -> str:
        return (message.headers or {}).get("Nats-Msg-Id") or f"{self._durable}-{message.metadata.sequence.stream}"

    async def _settle(self, settle: Callable[[], Awaitable[None]]) -> None:
        try:
            await settle()
        except Exception as exc:  # noqa: BLE001 - connection lost: JetStream redelivers after ack_wait
            log.warning("could not settle a message of %s: %r", self._durable, exc)


async def _sleep_unless_stopped(stopping: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except TimeoutError:
        pass
