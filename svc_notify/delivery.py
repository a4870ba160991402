"""Delivering one notification to one device: the use case behind each channel's work queue.

A work item (ports.DeliveryRequest) is handled the same way on every attempt, and the answer is a
Decision for the queue: acknowledge (the item is done: delivered, duplicate, device gone, buried)
or retry after N seconds. The queue adapter (adapters/jetstream_delivery.py) turns that into an
ack or a nak with a delay; this module does no I/O but through the ports.

- The device must still be registered, with the item's platform: a device removed (or its id
  re-registered elsewhere) since the item was queued gets nothing.
- The delivery log makes a redelivered item (a crash between the provider's "accepted" and the ack)
  a no-op, so each device gets each notification once.
- What the provider answered decides the rest (domain.SendOutcome): DELIVERED is recorded;
  TARGET_GONE removes the device and releases its token/address (only if that device still holds
  it: a token that moved to another account stays with it); REJECTED is buried at once (no retry
  can fix it); RETRY is retried with exponential backoff (the provider's Retry-After when longer),
  and buried once the attempts are spent. A sender that raises (a bug) counts as RETRY.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from mesh import events, ids
from svc_notify import metrics
from svc_notify.domain import Kind, OutgoingMessage, Platform, SendOutcome, SendResult
from svc_notify.ports import ChannelSender, DeadLetters, DeliveryLog, DeliveryRequest, DeviceStore, TargetHolder

log = logging.getLogger("svc_notify.delivery")


def retry_delays_from_env() -> tuple[float, ...]:
    """The pauses before the 2nd, 3rd... attempt (TM_NOTIFY_RETRY_DELAYS_S, read by mesh.events so
    the delivery consumers' max_deliver agrees: max_attempts = len(delays) + 1)."""
    return events.delivery_retry_delays()


# ---- what the push / email says ------------------------------------------------------------------

_BODIES: Mapping[Kind, str] = {
    Kind.LIKE: "liked your tweet",
    Kind.FOLLOW: "followed you",
    Kind.RETWEET: "retweeted your tweet",
    Kind.REPLY: "replied to your tweet",
    Kind.QUOTE: "quoted your tweet",
    Kind.COMMENT: "commented on your tweet",
    Kind.MENTION: "mentioned you",
}


def render(request: DeliveryRequest) -> OutgoingMessage:
    """The notification as the device shows it: the same on every attempt of the delivery."""
    notification = request.notification
    data = {
        "notification_id": ids.to_str(notification.notification_id),
        "kind": notification.kind.name.lower(),
        "actor_user_id": ids.to_str(notification.actor_id),
    }
    for key, value in (
        ("tweet_id", notification.tweet_id),
        ("actor_tweet_id", notification.actor_tweet_id),
        ("comment_id", notification.comment_id),
    ):
        if value:
            data[key] = ids.to_str(value)
    return OutgoingMessage(
        delivery_id=request.delivery_id,
        notification_id=notification.notification_id,
        kind=notification.kind,
        title=f"@{request.actor.handle}" if request.actor is not None else "Someone",
        body=_BODIES[notification.kind],
        badge=request.unread_count,
        data=data,
    )


# ---- the decision --------------------------------------------------------------------------------


class Result(Enum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"  # already delivered: a redelivered work item, nothing sent
    NO_DEVICE = "no_device"  # the device is no longer registered (or not on this platform): nothing sent
    TARGET_GONE = "target_gone"  # the provider said the token/address is dead: device removed
    BURIED = "buried"  # rejected by the provider, or out of attempts: on the dead-letter subject
    RETRY = "retry"


@dataclass(frozen=True)
class Decision:
    result: Result
    retry_in_s: float | None = None  # set when result is RETRY
    detail: str = ""

    @property
    def ack(self) -> bool:
        """True: the work item is done and leaves the queue; False: redeliver it in retry_in_s."""
        return self.result is not Result.RETRY


class DeliveryWorker:
    """Handles one delivery attempt; see the module docstring for the rules.

    retry_delays_s[i] is the pause after attempt i+1 failed (the last one repeats, capped at
    max_delay_s, default the largest delay); max_attempts bounds the attempts of a RETRY outcome;
    send_timeout_s caps one provider call (the adapters have their own, shorter, timeouts: this is
    the safety net for a send that never returns).
    """

    def __init__(
        self,
        devices: DeviceStore,
        log: DeliveryLog,
        senders: Mapping[Platform, ChannelSender],
        dead: DeadLetters,
        *,
        retry_delays_s: Sequence[float],
        max_attempts: int,
        max_delay_s: float | None = None,
        send_timeout_s: float = 20.0,
    ):
        if not retry_delays_s:
            raise ValueError("retry_delays_s must hold at least one delay")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._devices = devices
        self._log = log
        self._senders = dict(senders)
        self._dead = dead
        self._delays = tuple(retry_delays_s)
        self.max_attempts = max_attempts
        self._max_delay_s = max_delay_s if max_delay_s is not None else max(self._delays)
        self._send_timeout_s = send_timeout_s

    def backoff(self, attempt: int) -> float:
        """The pause after attempt `attempt` (1-based) failed: the delays in order, the last repeating."""
        return min(self._delays[min(max(attempt, 1), len(self._delays)) - 1], self._max_delay_s)

    async def deliver(self, request: DeliveryRequest, *, attempt: int, payload: bytes) -> Decision:
        """One attempt (1-based) of the work item; `payload` is the item as queued, for the dead letter.

        Raises only when a store or the dead-letter subject did not answer: the queue then retries
        the item later (nothing was decided)."""
        recipient_id = request.notification.recipient_id
        device = await self._devices.get(recipient_id, request.device_id)
        if device is None or device.platform is not request.platform:
            return self._done(request, attempt, Decision(Result.NO_DEVICE, detail="device not registered"))
        if await self._log.delivered(request.delivery_id):
            return self._done(request, attempt, Decision(Result.DUPLICATE, detail="already delivered"))

        sent = await self._send(request, device.target)
        if sent.outcome is SendOutcome.DELIVERED:
            try:
                await self._log.record(request.delivery_id)
            except Exception as exc:  # noqa: BLE001 - the provider accepted it: acking now is right
                # not recording only matters if this item came back, and it will not once acked
                log.warning("could not record delivery %s: %r", request.delivery_id, exc)
            return self._done(request, attempt, Decision(Result.DELIVERED, detail=sent.detail))
        if sent.outcome is SendOutcome.TARGET_GONE:
            await self._devices.remove(recipient_id, device.device_id)
            await self._devices.release_target(device.platform, device.target, TargetHolder(recipient_id, device.device_id))
            return self._done(request, attempt, Decision(Result.TARGET_GONE, detail=sent.detail))
        if sent.outcome is SendOutcome.REJECTED:
            return await self._bury(request, attempt, payload, f"rejected by the provider: {sent.detail}", cause="rejected")
        # RETRY
        if attempt >= self.max_attempts:
            reason = f"no delivery after {attempt} attempts, last: {sent.detail}"
            return await self._bury(request, attempt, payload, reason, cause="exhausted")
        delay = min(max(sent.retry_after_s or 0.0, self.backoff(attempt)), self._max_delay_s)
        decision = Decision(Result.RETRY, retry_in_s=delay, detail=sent.detail)
        return self._done(request, attempt, decision)

    async def _send(self, request: DeliveryRequest, target: str) -> SendResult:
        queue = request.platform.queue
        sender = self._senders.get(request.platform)
        if sender is None:
            return SendResult(SendOutcome.RETRY, f"no sender configured for {queue}")
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._send_timeout_s):
                result = await sender.send(target, render(request))
        except TimeoutError:
            result = SendResult(SendOutcome.RETRY, f"no answer from the provider in {self._send_timeout_s:g}s")
        except Exception as exc:  # noqa: BLE001 - a sender raises only for bugs: log loudly, retry later
            log.error("sender %s failed on %s", queue, request.delivery_id, exc_info=True)
            result = SendResult(SendOutcome.RETRY, f"sender raised {exc!r}")
        metrics.SEND_SECONDS.labels(queue, result.outcome.value).observe(time.monotonic() - started)
        return result

    async def _bury(self, request: DeliveryRequest, attempt: int, payload: bytes, reason: str, *, cause: str) -> Decision:
        queue = request.platform.queue
        await self._dead.bury(payload, queue=queue, delivery_id=request.delivery_id, reason=reason, attempts=attempt)
        metrics.DEAD_LETTERS.labels(queue, cause).inc()
        return self._done(request, attempt, Decision(Result.BURIED, detail=reason))

    def _done(self, request: DeliveryRequest, attempt: int, decision: Decision) -> Decision:
        queue = request.platform.queue
        metrics.DELIVERIES.labels(queue, decision.result.value).inc()
        fields = {
            "delivery_id": request.delivery_id,
            "queue": queue,
            "attempt": attempt,
            "result": decision.result.value,
            "detail": decision.detail,
        }
        if decision.result is Result.RETRY:
            fields["retry_in_s"] = decision.retry_in_s
            log.warning("delivery will be retried", extra=fields)
        elif decision.result is Result.BURIED:
            log.error("delivery dead-lettered", extra=fields)
        else:
            log.info("delivery settled", extra=fields)
        return decision
