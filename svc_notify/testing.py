"""In-memory fakes of svc_notify's ports, for unit tests: no I/O, same contracts as the adapters.

Each fake keeps what the real one keeps, so tests assert on behaviour (what a user lists, what a
device received, what was buried) rather than on calls.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from svc_notify.domain import (
    Channel,
    Device,
    Kind,
    Notification,
    OutgoingMessage,
    Platform,
    SendOutcome,
    SendResult,
)
from svc_notify.ports import ActorProfile, DeliveryRequest, TargetHolder


class FakeNotificationStore:
    def __init__(self) -> None:
        self.rows: dict[int, dict[int, Notification]] = {}
        self.unread: dict[int, set[int]] = {}
        self.sources: dict[tuple[int, str], int] = {}

    async def claim_source(self, recipient_id: int, source_key: str, notification_id: int) -> int:
        return self.sources.setdefault((recipient_id, source_key), notification_id)

    async def add(self, notification: Notification) -> None:
        recipient = notification.recipient_id
        self.rows.setdefault(recipient, {})[notification.notification_id] = replace(notification, read=False)
        self.unread.setdefault(recipient, set()).add(notification.notification_id)

    async def remove_source(self, recipient_id: int, source_key: str) -> int | None:
        held = self.sources.pop((recipient_id, source_key), None)
        if held is not None:
            self.rows.get(recipient_id, {}).pop(held, None)
            self.unread.get(recipient_id, set()).discard(held)
        return held

    def _with_read(self, recipient_id: int, notification_id: int) -> Notification:
        unread = notification_id in self.unread.get(recipient_id, set())
        return replace(self.rows[recipient_id][notification_id], read=not unread)

    async def page(self, recipient_id: int, *, before: int | None, limit: int, unread_only: bool) -> list[Notification]:
        pool = self.unread.get(recipient_id, set()) if unread_only else self.rows.get(recipient_id, {}).keys()
        chosen = sorted((i for i in pool if before is None or i < before), reverse=True)[:limit]
        return [self._with_read(recipient_id, i) for i in chosen]

    async def after(self, recipient_id: int, after_id: int, limit: int) -> list[Notification]:
        chosen = sorted(i for i in self.rows.get(recipient_id, {}) if i > after_id)[:limit]
        return [self._with_read(recipient_id, i) for i in chosen]

    async def unread_count(self, recipient_id: int) -> int:
        return len(self.unread.get(recipient_id, set()))

    async def mark_read(self, recipient_id: int, notification_ids: Collection[int]) -> None:
        self.unread.get(recipient_id, set()).difference_update(notification_ids)

    async def mark_read_through(self, recipient_id: int, through_id: int) -> None:
        unread = self.unread.get(recipient_id, set())
        unread.difference_update({i for i in unread if i <= through_id})


class FakePreferenceStore:
    def __init__(self) -> None:
        self.saved: dict[int, dict[tuple[Kind, Channel], bool]] = {}

    async def explicit(self, user_id: int) -> dict[tuple[Kind, Channel], bool]:
        return dict(self.saved.get(user_id, {}))

    async def put(self, user_id: int, changes: Mapping[tuple[Kind, Channel], bool]) -> None:
        self.saved.setdefault(user_id, {}).update(changes)


class FakeDeviceStore:
    def __init__(self) -> None:
        self.devices: dict[int, dict[int, Device]] = {}
        self.targets: dict[tuple[Platform, str], TargetHolder] = {}

    async def claim_target(self, platform: Platform, target: str, holder: TargetHolder) -> TargetHolder:
        return self.targets.setdefault((platform, target), holder)

    async def move_target(self, platform: Platform, target: str, *, old: TargetHolder, new: TargetHolder) -> bool:
        if self.targets.get((platform, target)) != old:
            return False
        self.targets[(platform, target)] = new
        return True

    async def release_target(self, platform: Platform, target: str, holder: TargetHolder) -> None:
        if self.targets.get((platform, target)) == holder:
            del self.targets[(platform, target)]

    async def put(self, device: Device) -> None:
        self.devices.setdefault(device.user_id, {})[device.device_id] = device

    async def get(self, user_id: int, device_id: int) -> Device | None:
        return self.devices.get(user_id, {}).get(device_id)

    async def remove(self, user_id: int, device_id: int) -> None:
        self.devices.get(user_id, {}).pop(device_id, None)

    async def list(self, user_id: int) -> list[Device]:
        return sorted(self.devices.get(user_id, {}).values(), key=lambda d: d.device_id, reverse=True)


class FakeUserDirectory:
    def __init__(self, handles: Mapping[int, str] | None = None) -> None:
        self.handles = dict(handles or {})
        self.hidden: dict[int, set[int]] = {}  # recipient -> actors they block or mute

    def hide(self, recipient_id: int, actor_id: int) -> None:
        self.hidden.setdefault(recipient_id, set()).add(actor_id)

    async def profiles(self, user_ids: Collection[int]) -> dict[int, ActorProfile]:
        return {
            user_id: ActorProfile(user_id, self.handles[user_id], self.handles[user_id].title())
            for user_id in user_ids
            if user_id in self.handles
        }

    async def hidden_actors(self, recipient_id: int, actor_ids: Collection[int]) -> set[int]:
        return self.hidden.get(recipient_id, set()) & set(actor_ids)


class FakeDeliveryQueue:
    def __init__(self) -> None:
        self.items: dict[str, DeliveryRequest] = {}  # by delivery_id, as the stream's dedup keeps them

    async def enqueue(self, requests: Sequence[DeliveryRequest]) -> None:
        for request in requests:
            self.items.setdefault(request.delivery_id, request)


class FakeLiveFeed:
    def __init__(self) -> None:
        self.published: list[tuple[Notification, ActorProfile | None]] = []

    async def publish(self, notification: Notification, actor: ActorProfile | None) -> None:
        self.published.append((notification, actor))


class FakeSender:
    """A provider that answers from a script (then DELIVERED), recording every attempt."""

    def __init__(self, script: Sequence[SendResult] = ()) -> None:
        self.script = list(script)
        self.attempts: list[tuple[str, OutgoingMessage, SendResult]] = []
        self.closed = False

    @property
    def delivered(self) -> list[tuple[str, OutgoingMessage]]:
        return [(target, message) for target, message, result in self.attempts if result.outcome is SendOutcome.DELIVERED]

    async def send(self, target: str, message: OutgoingMessage) -> SendResult:
        result = self.script.pop(0) if self.script else SendResult(SendOutcome.DELIVERED, "200")
        self.attempts.append((target, message, result))
        return result

    async def close(self) -> None:
        self.closed = True


class FakeDeliveryLog:
    def __init__(self) -> None:
        self.recorded: set[str] = set()

    async def delivered(self, delivery_id: str) -> bool:
        return delivery_id in self.recorded

    async def record(self, delivery_id: str) -> None:
        self.recorded.add(delivery_id)


class FakeDeadLetters:
    def __init__(self) -> None:
        self.buried: list[dict[str, object]] = []

    async def bury(self, request_payload: bytes, *, queue: str, delivery_id: str, reason: str, attempts: int) -> None:
        self.buried.append(
            {"payload": request_payload, "queue": queue, "delivery_id": delivery_id, "reason": reason, "attempts": attempts}
        )
