"""The delivery work queues on NATS JetStream: enqueue, consume per channel, dead-letter, replay.

Streams and consumers are declared in mesh/events.py:
- NOTIFY_DELIVERY (work queue, `notify.deliver.<queue>`, queue = apns | fcm | email): one item per
  notification and device, published with Nats-Msg-Id = delivery_id, so a republished item inside
  the stream's duplicate window is stored once; removed once acknowledged.
- durable `deliver-<queue>` per channel: each channel has its own consumer, sender and pull loop,
  so a stalled APNs never holds up FCM or email.
- NOTIFY_DEAD (`notify.dead.<queue>`, kept 30 days): the items that will not be retried, their
  payload untouched and why in the headers: Tm-Dead-Reason, Tm-Attempts, Tm-Queue, Tm-Buried-At.

Retries: the worker (svc_notify.delivery) answers each attempt; a retry is a nak with the worker's
delay (TM_NOTIFY_RETRY_DELAYS_S, default 1,5,30,120,600 s; the provider's Retry-After when longer),
and attempt n = JetStream's delivery count. After the last attempt the worker dead-letters the item.
An item whose deliveries all ran out WITHOUT an answer (the process died or hung mid-send, so
JetStream redelivered it after ack_wait until max_deliver) is not answered by the worker: JetStream
publishes the advisory $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<durable> and keeps the
item; the consumer listens to it (when given a NATS client) and moves the item to the dead letters.
The advisory is plain NATS (at most once): one fired while no replica runs leaves the item in the
stream until its max age (1 day); `replay`/`list` below do not see those (they are not dead yet).

Timing: every item gets a deadline (item_deadline_s, 20 s; adapters cap their calls by it through
mesh.context) below the consumer's ack_wait (30 s), so a send in progress is never redelivered;
an item that waited for a free worker slot sends one in_progress() before it starts.

Inspecting and replaying dead letters (the `nats` CLI is not installed here):

    .venv/bin/python -m svc_notify.adapters.jetstream_delivery list apns      # seq, delivery id, attempts, reason
    .venv/bin/python -m svc_notify.adapters.jetstream_delivery replay apns    # back onto notify.deliver.apns

A replay republishes each dead item with a fresh Nats-Msg-Id (`<delivery_id>/replay-<dead seq>`, so
the delivery stream's duplicate window does not drop it) and then deletes it from the dead letters;
the device and delivery-log checks still apply, so a replay never sends what was already delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import nats.errors
from google.protobuf.message import DecodeError
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from mesh import consuming, context
from mesh.errors import Unavailable
from mesh.events import PUBLISH_TIMEOUT_S, JetStreamPublisher
from mesh.server import BackgroundJob
from svc_notify import messages, metrics
from svc_notify.delivery import DeliveryWorker
from svc_notify.domain import Platform
from svc_notify.ports import DeadLetters, DeliveryRequest

log = logging.getLogger("svc_notify.delivery_queue")

DELIVERY_STREAM = "NOTIFY_DELIVERY"
DELIVERY_PREFIX = "notify.deliver"
DEAD_STREAM = "NOTIFY_DEAD"
DEAD_PREFIX = "notify.dead"
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"
_MAX_HEADER_CHARS = 1000
_WAITED_S = 1.0  # an item that waited longer than this for a worker slot reports progress first


class JetStreamDeliveryQueue:
    """ports.DeliveryQueue: one work item per request on notify.deliver.<queue>."""

    def __init__(self, js: JetStreamContext, *, subject_prefix: str = DELIVERY_PREFIX):
        self._publisher = JetStreamPublisher(js)
        self._prefix = subject_prefix

    async def enqueue(self, requests: Sequence[DeliveryRequest]) -> None:
        """All published (at least once, stored once per delivery_id) or Unavailable."""
        await asyncio.gather(*(
            self._publisher.publish(
                f"{self._prefix}.{request.platform.queue}",
                messages.delivery_requested(request).SerializeToString(),
                event_id=request.delivery_id,
            )
            for request in requests
        ))


def _header_text(text: str) -> str:
    """A header value: one line (NATS headers end at CR/LF), bounded."""
    return " ".join(text.split())[:_MAX_HEADER_CHARS]


class JetStreamDeadLetters:
    """ports.DeadLetters: the item's payload untouched on notify.dead.<queue>, why in its headers."""

    def __init__(self, js: JetStreamContext, *, subject_prefix: str = DEAD_PREFIX):
        self._js = js
        self._prefix = subject_prefix

    async def bury(self, request_payload: bytes, *, queue: str, delivery_id: str, reason: str, attempts: int) -> None:
        subject = f"{self._prefix}.{queue}"
        headers = {
            "Nats-Msg-Id": delivery_id,  # buried twice (worker and advisory racing) is stored once
            "Tm-Queue": queue,
            "Tm-Dead-Reason": _header_text(reason),
            "Tm-Attempts": str(attempts),
            "Tm-Buried-At": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        try:
            await self._js.publish(subject, request_payload, timeout=context.remaining(PUBLISH_TIMEOUT_S), headers=headers)
        except (TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
            raise Unavailable(f"event bus did not confirm {subject}: {exc!r}") from exc


class DeliveryConsumer:
    """Pulls one channel's work items from its durable and has the worker deliver them.

    Per item: undecodable, or not of this channel: terminated and logged (no retry can fix it);
    otherwise attempt = JetStream's delivery count, and the worker's Decision is an ack or a nak
    with its delay. A worker that raises (a store or the dead-letter subject did not answer) gets a
    nak with the worker's backoff: nothing was decided, so the same attempt logic runs again.
    Up to `concurrency` items are in flight at once, and the next items are fetched while they run,
    so one slow send holds one slot, not the queue; an item that had to wait for a slot reports
    in_progress() first (restarting its ack_wait) so it is not redelivered while it is handled.

    With `nc` (the NATS client) and `dead`, it also listens to the MAX_DELIVERIES advisory of its
    durable and dead-letters the items JetStream gave up on (see the module docstring).
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        platform: Platform,
        worker: DeliveryWorker,
        nc: NatsClient | None = None,
        dead: DeadLetters | None = None,
        stream: str = DELIVERY_STREAM,
        durable: str | None = None,
        concurrency: int = 16,
        item_deadline_s: float = 20.0,
        fetch_wait_s: float = 1.0,
        backlog_wait_s: float = 0.05,
    ):
        if nc is not None and dead is None:
            raise ValueError("listening to the max-deliveries advisory needs the dead letters")
        self._js = js
        self._nc = nc
        self._dead = dead
        self._platform = platform
        self._queue = platform.queue
        self._worker = worker
        self._stream = stream
        self._durable = durable or f"deliver-{platform.queue}"
        self._concurrency = concurrency
        self._item_deadline_s = item_deadline_s
        self._fetch_wait_s = fetch_wait_s
        self._backlog_wait_s = backlog_wait_s
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()

    def as_job(self) -> BackgroundJob:
        async def consume(stopping: asyncio.Event) -> None:
            await self.run(stopping)

        consume.__name__ = f"consume-{self._durable}"
        return consume

    async def run(self, stopping: asyncio.Event) -> None:
        """Consume until `stopping` is set; returns once the items in hand are handled."""
        info = await self._js.consumer_info(self._stream, self._durable)
        if info.config.max_deliver not in (None, -1, self._worker.max_attempts):
            # not fatal: the advisory buries what JetStream stops delivering; but declare again
            log.error(
                "durable %s allows %s deliveries but the worker makes %d attempts: run mesh.events.declare "
                "with the same TM_NOTIFY_RETRY_DELAYS_S", self._durable, info.config.max_deliver, self._worker.max_attempts,
            )
        advisories = None
        if self._nc is not None:
            subject = f"{MAX_DELIVERIES_ADVISORY}.{self._stream}.{self._durable}"
            advisories = await self._nc.subscribe(subject, cb=self._on_max_deliveries)
        self._slots = asyncio.Semaphore(self._concurrency)
        try:
            await consuming.pull(
                self._js, stream=self._stream, durable=self._durable, stopping=stopping, process=self._process,
                batch=self._concurrency, fetch_wait_s=self._fetch_wait_s, backlog_wait_s=self._backlog_wait_s,
            )
        finally:
            # on stop (or a failed pull) the items in hand are finished, then settled
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            if advisories is not None:
                try:
                    await advisories.unsubscribe()
                except Exception as exc:  # noqa: BLE001 - closing on the way out
                    log.debug("advisory unsubscribe failed: %r", exc)

    async def _process(self, batch: Sequence[Msg]) -> None:
        """Start each fetched item as soon as a slot is free, and return: the pull loop fetches the
        next items while these run, so a slow send holds one slot, not the queue."""
        for message in batch:
            asked = time.monotonic()
            await self._slots.acquire()
            if time.monotonic() - asked > _WAITED_S:
                # it waited for a slot while its ack_wait ran: restart the clock before working on it
                await self._settle(message.in_progress)
            task = asyncio.create_task(self._handle_in_slot(message))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _handle_in_slot(self, message: Msg) -> None:
        try:
            await self._handle(message)
        finally:
            self._slots.release()

    async def _handle(self, message: Msg) -> None:
        # each item runs in its own task: these context values are its own
        delivery_id = consuming.event_id_of(message, self._durable)
        context.request_id.set(delivery_id)
        context.deadline.set(time.monotonic() + self._item_deadline_s)
        try:
            request = messages.delivery_request_from(message.data)
        except (ValueError, DecodeError) as exc:
            log.error("dropping an undecodable work item %s of %s: %r", delivery_id, self._durable, exc)
            metrics.DELIVERIES.labels(self._queue, "undecodable").inc()
            await self._settle(message.term)
            return
        if request.platform is not self._platform:
            log.error("dropping %s: a %s item on the %s queue", delivery_id, request.platform.queue, self._queue)
            metrics.DELIVERIES.labels(self._queue, "undecodable").inc()
            await self._settle(message.term)
            return
        attempt = message.metadata.num_delivered or 1
        try:
            decision = await self._worker.deliver(request, attempt=attempt, payload=message.data)
        except Exception as exc:  # noqa: BLE001 - a dependency failed: nothing decided, try again later
            delay = self._worker.backoff(attempt)
            log.warning(
                "delivery %s (attempt %d) failed, again in %.1fs: %r", delivery_id, attempt, delay, exc,
                exc_info=attempt == 1,
            )
            metrics.DELIVERIES.labels(self._queue, "error").inc()
            await self._settle(lambda: message.nak(delay=delay))
            return
        if decision.ack:
            await self._settle(message.ack)
        else:
            await self._settle(lambda: message.nak(delay=decision.retry_in_s))

    async def _on_max_deliveries(self, advisory: Msg) -> None:
        """JetStream stopped delivering an item (max_deliver reached without an ack): bury it."""
        try:
            body = json.loads(advisory.data)
            seq, deliveries = int(body["stream_seq"]), int(body.get("deliveries") or 0)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("unreadable max-deliveries advisory on %s: %r", advisory.subject, exc)
            return
        try:
            stored = await self._js.get_msg(self._stream, seq)
        except NotFoundError:
            return  # acknowledged or removed meanwhile
        except Exception as exc:  # noqa: BLE001 - the item stays in the stream until its max age
            log.error("could not read item %d of %s after its last delivery: %r", seq, self._stream, exc)
            return
        delivery_id = (stored.headers or {}).get("Nats-Msg-Id") or f"{self._durable}-{seq}"
        context.request_id.set(delivery_id)
        reason = f"no answer after {deliveries} deliveries: each one timed out (worker crashed or hung)"
        if self._dead is None:  # checked in __init__: the advisory is only listened to with dead letters
            return
        try:
            await self._dead.bury(stored.data or b"", queue=self._queue, delivery_id=delivery_id, reason=reason,
                                  attempts=deliveries)
            await self._js.delete_msg(self._stream, seq)
        except Exception as exc:  # noqa: BLE001
            log.error("could not dead-letter %s after %d deliveries: %r", delivery_id, deliveries, exc)
            return
        metrics.DEAD_LETTERS.labels(self._queue, "unanswered").inc()
        metrics.DELIVERIES.labels(self._queue, "buried").inc()
        log.error("delivery dead-lettered", extra={"delivery_id": delivery_id, "queue": self._queue,
                                                   "attempt": deliveries, "result": "buried", "detail": reason})

    async def _settle(self, action) -> None:
        await consuming.settle(action, self._durable)


# ---- operator tools: list and replay dead letters ------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    seq: int  # in the dead-letter stream
    delivery_id: str
    reason: str
    attempts: int
    buried_at: str
    payload: bytes


async def dead_letters(js: JetStreamContext, queue: str, *, stream: str = DEAD_STREAM,
                       subject_prefix: str = DEAD_PREFIX, limit: int = 1000) -> list[DeadLetter]:
    """The dead letters of one queue, oldest first."""
    found: list[DeadLetter] = []
    seq = 1
    while len(found) < limit:
        try:
            stored = await js.get_msg(stream, seq, subject=f"{subject_prefix}.{queue}", next=True)
        except NotFoundError:
            break
        headers = stored.headers or {}
        found.append(DeadLetter(
            seq=stored.seq or 0,
            delivery_id=headers.get("Nats-Msg-Id", ""),
            reason=headers.get("Tm-Dead-Reason", ""),
            attempts=int(headers.get("Tm-Attempts") or 0),
            buried_at=headers.get("Tm-Buried-At", ""),
            payload=stored.data or b"",
        ))
        seq = (stored.seq or seq) + 1
    return found


async def replay_dead_letters(js: JetStreamContext, queue: str, *, dead_stream: str = DEAD_STREAM,
                              dead_prefix: str = DEAD_PREFIX, deliver_prefix: str = DELIVERY_PREFIX,
                              limit: int = 1000) -> int:
    """Put the dead letters of `queue` back on its work queue (then delete them); returns how many."""
    publisher = JetStreamPublisher(js)
    replayed = 0
    for letter in await dead_letters(js, queue, stream=dead_stream, subject_prefix=dead_prefix, limit=limit):
        await publisher.publish(f"{deliver_prefix}.{queue}", letter.payload,
                                event_id=f"{letter.delivery_id}/replay-{letter.seq}")
        await js.delete_msg(dead_stream, letter.seq)
        replayed += 1
    return replayed


async def _main(argv: Sequence[str] | None = None) -> None:
    from mesh.config import Stack
    from mesh.events import connect

    parser = argparse.ArgumentParser(prog="python -m svc_notify.adapters.jetstream_delivery",
                                     description="List or replay the dead letters of a delivery queue.")
    parser.add_argument("action", choices=("list", "replay"))
    parser.add_argument("queue", choices=[p.queue for p in Platform])
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args(argv)
    nc = await connect(Stack(), name="notify-dead-letters", wait_s=5)
    try:
        js = nc.jetstream(timeout=5)
        if args.action == "list":
            for letter in await dead_letters(js, args.queue, limit=args.limit):
                print(f"{letter.seq}\t{letter.delivery_id}\t{letter.attempts}\t{letter.buried_at}\t{letter.reason}")
        else:
            print(f"replayed {await replay_dead_letters(js, args.queue, limit=args.limit)}")
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(_main())
