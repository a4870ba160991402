"""What the use cases of svc_notify need from the outside world, as small Protocols.

The composition root (main.py) passes the real adapters (adapters/); unit tests pass the in-memory
fakes of svc_notify/testing.py. Every method that does I/O is async and honours the caller's
deadline (mesh.context).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from svc_notify.domain import Channel, Device, Kind, Notification, OutgoingMessage, Platform, SendResult

# ---- notifications -------------------------------------------------------------------------------


class NotificationStore(Protocol):
    """Every user's notifications (CQL wide rows, newest first) and which of them are unread."""

    async def claim_source(self, recipient_id: int, source_key: str, notification_id: int) -> int:
        """Claim `source_key` (what a notification is about) for `notification_id`, unless some
        notification already holds it; returns the holder's id either way (compare-and-set)."""
        ...

    async def add(self, notification: Notification) -> None:
        """Store it, unread. Upsert: adding the same id again leaves one, and does not undo a later
        mark_read or remove_source of it (a redelivered event must not revive what the user read)."""
        ...

    async def remove_source(self, recipient_id: int, source_key: str) -> int | None:
        """Remove the notification holding `source_key` (an unlike, an unfollow...) and its claim;
        returns its id, or None when there was none."""
        ...

    async def page(self, recipient_id: int, *, before: int | None, limit: int, unread_only: bool) -> list[Notification]:
        """Up to `limit` notifications with id < before (all when None), newest first, `read` set."""
        ...

    async def after(self, recipient_id: int, after_id: int, limit: int) -> list[Notification]:
        """Up to `limit` notifications with id > after_id, OLDEST first (a stream resuming)."""
        ...

    async def unread_count(self, recipient_id: int) -> int: ...

    async def mark_read(self, recipient_id: int, notification_ids: Collection[int]) -> None:
        """Ids that are not the recipient's, or already read, are left alone."""
        ...

    async def mark_read_through(self, recipient_id: int, through_id: int) -> None:
        """Mark read every notification with id <= through_id."""
        ...


class PreferenceStore(Protocol):
    async def explicit(self, user_id: int) -> dict[tuple[Kind, Channel], bool]:
        """The preferences the user set; the others take domain.default_enabled."""
        ...

    async def put(self, user_id: int, changes: Mapping[tuple[Kind, Channel], bool]) -> None: ...


# ---- devices -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetHolder:
    """Who holds a push token or email address (one user's one device at a time)."""

    user_id: int
    device_id: int


class DeviceStore(Protocol):
    """Users' devices (at most domain.MAX_DEVICES_PER_USER each) and the claim on each target, so a
    token or address belongs to one device of one user."""

    async def claim_target(self, platform: Platform, target: str, holder: TargetHolder) -> TargetHolder:
        """Claim the target for `holder` unless held; returns the holder after the call (CAS)."""
        ...

    async def move_target(self, platform: Platform, target: str, *, old: TargetHolder, new: TargetHolder) -> bool:
        """Hand the target from `old` to `new`, only if `old` still holds it (CAS); True if moved."""
        ...

    async def release_target(self, platform: Platform, target: str, holder: TargetHolder) -> None:
        """Drop the claim, only if `holder` still holds it."""
        ...

    async def put(self, device: Device) -> None: ...

    async def get(self, user_id: int, device_id: int) -> Device | None: ...

    async def remove(self, user_id: int, device_id: int) -> None:
        """Remove the device row (the target's claim is released separately)."""
        ...

    async def list(self, user_id: int) -> list[Device]:
        """All of the user's devices, most recently registered first."""
        ...


# ---- the outside world ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActorProfile:
    """An actor as the graph service returned it: `body` (tweetmesh.graph.v1.User) goes to the API
    untouched; the use cases read the handle to write push texts."""

    user_id: int
    handle: str
    display_name: str
    body: Any = None


class UserDirectory(Protocol):
    async def profiles(self, user_ids: Collection[int]) -> dict[int, ActorProfile]:
        """Profiles of the users that exist (a deleted actor is simply missing)."""
        ...

    async def hidden_actors(self, recipient_id: int, actor_ids: Collection[int]) -> set[int]:
        """The actors whose actions the recipient does not want to hear of: blocked or muted."""
        ...


@dataclass(frozen=True)
class DeliveryRequest:
    """One notification to one device: a work item of the channel's delivery queue."""

    notification: Notification
    device_id: int
    platform: Platform
    actor: ActorProfile | None
    unread_count: int

    @property
    def delivery_id(self) -> str:
        return f"{self.notification.notification_id}-{self.device_id}"


class DeliveryQueue(Protocol):
    async def enqueue(self, requests: Sequence[DeliveryRequest]) -> None:
        """Publish the work items, each at least once, stored once per delivery_id."""
        ...


class LiveFeed(Protocol):
    """New notifications to the open streams, whichever replica holds them (NATS core subjects)."""

    async def publish(self, notification: Notification, actor: ActorProfile | None) -> None: ...


class ChannelSender(Protocol):
    """One provider (APNs, FCM, SMTP). Answers what the provider said as a SendResult; raises only
    for bugs. Network errors and timeouts are SendOutcome.RETRY."""

    async def send(self, target: str, message: OutgoingMessage) -> SendResult: ...

    async def close(self) -> None: ...


class DeliveryLog(Protocol):
    """Which deliveries (notification x device) a provider accepted: a redelivered work item whose
    send already succeeded is not sent again. Entries expire after the delivery queue's max age."""

    async def delivered(self, delivery_id: str) -> bool: ...

    async def record(self, delivery_id: str) -> None: ...


class DeadLetters(Protocol):
    async def bury(self, request_payload: bytes, *, queue: str, delivery_id: str, reason: str, attempts: int) -> None:
        """Keep a work item that will not be retried (notify.dead.<queue>), with why."""
        ...
