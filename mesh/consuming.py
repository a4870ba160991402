"""The pull loop of a durable JetStream consumer, shared by every service's event consumers.

Delivery contract (mesh/events.py): at least once, explicit acks; the service's own code decides
per message whether to ack, nak with a delay, or terminate. This module does what is the same for
all of them:
- fetching: while idle it asks for ONE message and gets it the moment it is published (a batch
  request would hold the first message until the batch is full or the wait expires, adding up to
  a second to "a follower sees the tweet" or "the tweet is searchable"); while messages keep
  coming it asks for batches, which the server answers at once from what is already stored;
- a fetch that fails (broker restarting) is retried with a growing pause; the client reconnects;
- the durable is declared at `make up` (mesh.events.declare): a missing one is a deployment error,
  reported by failing the job (which stops the service) rather than waiting silently;
- on stop, the batch in hand is handled before the loop returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import TypeVar

import nats.errors
from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from mesh import ids

log = logging.getLogger("mesh.consuming")

E = TypeVar("E", bound=Message)

DEFAULT_RETRY_DELAYS_S = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)


class PoisonEvent(Exception):
    """An event no retry can handle (undecodable, or ids that are not ids): dropped and logged."""


async def pull(
    js: JetStreamContext,
    *,
    stream: str,
    durable: str,
    stopping: asyncio.Event,
    process: Callable[[list[Msg]], Awaitable[None]],
    batch: int,
    fetch_wait_s: float,
    backlog_wait_s: float,
) -> None:
    """Fetch from the durable and hand each fetched batch to `process` until `stopping` is set.

    fetch_wait_s: how long an idle fetch waits for a message (also how soon a stop is noticed);
    backlog_wait_s: how long a batch fetch waits for more once the stored backlog is drained.
    """
    await js.consumer_info(stream, durable)
    subscription = await js.pull_subscribe_bind(durable=durable, stream=stream)
    log.info("consuming", extra={"stream": stream, "durable": durable})
    failures = 0
    backlog = False
    try:
        while not stopping.is_set():
            try:
                if backlog:
                    messages = await subscription.fetch(batch, timeout=backlog_wait_s)
                else:
                    messages = await subscription.fetch(1, timeout=fetch_wait_s)
            except TimeoutError:  # nats' own TimeoutError and asyncio's (raised by some fetch paths)
                backlog = False
                continue  # nothing new: look again (and at `stopping`)
            except (nats.errors.Error, OSError) as exc:
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.warning("fetch from %s failed, again in %.1fs: %r", durable, delay, exc)
                await sleep_unless_stopped(stopping, delay)
                continue
            failures = 0
            backlog = True
            await process(messages)
    finally:
        try:
            await subscription.unsubscribe()
        except Exception as exc:  # noqa: BLE001 - closing on the way out; the server forgets it anyway
            log.debug("unsubscribe failed: %r", exc)
        log.info("consumer stopped", extra={"durable": durable})


def event_id_of(message: Msg, durable: str) -> str:
    """The event's id (its Nats-Msg-Id), or a stable stand-in from its stream sequence."""
    return (message.headers or {}).get("Nats-Msg-Id") or f"{durable}-{message.metadata.sequence.stream}"


def retry_delay(message: Msg, delays_s: Sequence[float]) -> float:
    """The nak delay for this delivery: growing with the delivery count, the last one repeating."""
    delivered = message.metadata.num_delivered or 1
    return delays_s[min(delivered, len(delays_s)) - 1]


async def settle(action: Callable[[], Awaitable[None]], durable: str) -> None:
    """Ack, nak or term; a lost connection is only logged: JetStream redelivers after ack_wait."""
    try:
        await action()
    except Exception as exc:  # noqa: BLE001
        log.warning("could not settle a message of %s: %r", durable, exc)


async def sleep_unless_stopped(stopping: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except TimeoutError:
        pass


def decode_event(message_type: type[E], payload: bytes) -> E:
    """The protobuf event in `payload`; PoisonEvent when it is not one (no retry can fix that)."""
    message = message_type()
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise PoisonEvent(f"not a {message_type.__name__}: {exc}") from None
    return message


def event_id_field(field: str, text: str) -> int:
    """An id field of an event; PoisonEvent when it is not an id."""
    try:
        return ids.parse(text)
    except (TypeError, ValueError) as exc:
        raise PoisonEvent(f"{field}: {exc}") from None


def optional_event_id_field(field: str, text: str) -> int | None:
    """An optional id field of an event: None when empty, PoisonEvent when not an id."""
    return event_id_field(field, text) if text else None


def occurred_at(event: Message) -> datetime:
    if not event.HasField("occurred_at"):
        raise PoisonEvent("occurred_at is missing")
    return event.occurred_at.ToDatetime(tzinfo=timezone.utc)
