"""A durable JetStream pull consumer that runs a handler over each message, as a BackgroundJob.

Delivery contract (mesh/events.py): at least once, explicit acks. So:
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

Fetching: while idle it asks for ONE message and gets it the moment it is published (a batch
request would hold the first message until the batch is full or the wait expires, adding up to a
second to "a follower sees the tweet"); while messages keep coming it asks for batches, which the
server answers at once from what is already stored.
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
from svc_timeline import metrics
from svc_timeline.aio import gather_bounded
from svc_timeline.domain import PoisonEvent

log = logging.getLogger("svc_timeline.consumer")

Handler = Callable[[str, bytes, Callable[[], Awaitable[None]]], Awaitable[None]]

DEFAULT_RETRY_DELAYS_S = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)


class JetStreamConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        durable: str,
        handle: Handler,
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
                await gather_bounded((self._process(message) for message in messages), self._concurrency)
        finally:
            try:
                await subscription.unsubscribe()
            except Exception as exc:  # noqa: BLE001 - closing on the way out; the server forgets it anyway
                log.debug("unsubscribe failed: %r", exc)
            log.info("consumer stopped", extra={"durable": self._durable})

    async def _process(self, message: Msg) -> None:
        # one request id per event in every log line and peer call it causes: the event's id
        event_id = (message.headers or {}).get("Nats-Msg-Id") or f"{self._durable}-{message.metadata.sequence.stream}"
        context.request_id.set(event_id)
        try:
            await self._handle(message.subject, message.data, message.in_progress)
        except PoisonEvent as exc:
            log.error("dropping %s %s: %s", message.subject, event_id, exc)
            metrics.EVENTS.labels(self._durable, "rejected").inc()
            await self._settle(message.term)
        except Exception as exc:  # noqa: BLE001 - any failure may pass: retry later, never lose it
            delivered = message.metadata.num_delivered or 1
            delay = self._retry_delays_s[min(delivered, len(self._retry_delays_s)) - 1]
            log.warning(
                "%s %s failed (delivery %d), retrying in %.0fs: %r", message.subject, event_id, delivered, delay, exc,
                exc_info=delivered == 1,
            )
            metrics.EVENTS.labels(self._durable, "retry").inc()
            await self._settle(lambda: message.nak(delay=delay))
        else:
            metrics.EVENTS.labels(self._durable, "ack").inc()
            await self._settle(message.ack)

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
