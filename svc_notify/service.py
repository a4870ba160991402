"""The use cases of svc_notify: events become notifications; users read, mark, stream them and
manage their devices and preferences.

Plain async classes over the ports (ports.py); they raise the typed errors of domain.py and never
see protobuf, gRPC or NATS. Delivery to the devices (the work queues' consumers) is delivery.py.

Creating a notification (Notifier.happened), in this order, each step idempotent so a redelivered
event repeats them harmlessly:
1. rules: never for one's own action, nor for an actor the recipient blocks or mutes;
2. the id is derived from the event (domain.notification_id_for), and the notification claims its
   source key (kind, actor, tweet...): a second event about the same thing (a retried like that
   got its own event) finds the claim held by another id and stops there;
3. stored in the recipient's list unless they turned the kind off in-app, and published to the
   live streams;
4. one work item per device whose channel the recipient wants for this kind, on that channel's
   queue, deduplicated by `<notification_id>-<device_id>`.
Undoing the action (unlike, unfollow, undo retweet) removes the notification by its source key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from mesh import ids
from mesh.errors import Unavailable, require_caller
from mesh.paging import decode_page_token, encode_page_token, page_size
from svc_notify.domain import (
    MAX_DEVICES_PER_USER,
    Channel,
    Device,
    DeviceNotFound,
    EmailTakenByAnotherUser,
    Kind,
    Notification,
    Platform,
    Preference,
    TooManyDevices,
    TooManyStreams,
    default_enabled,
    notification_id_for,
    source_key,
)
from svc_notify.ports import (
    ActorProfile,
    DeliveryQueue,
    DeliveryRequest,
    DeviceStore,
    LiveFeed,
    NotificationStore,
    PreferenceStore,
    TargetHolder,
    UserDirectory,
)

log = logging.getLogger("svc_notify.service")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
RESUME_LIMIT = 100  # StreamNotifications sends at most this many missed notifications


@dataclass(frozen=True)
class Happening:
    """An event, as what happened to one recipient (decoded by event_handlers.py)."""

    event_id: str
    occurred_at: datetime
    recipient_id: int
    actor_id: int
    kind: Kind
    tweet_id: int | None = None
    actor_tweet_id: int | None = None
    comment_id: int | None = None


@dataclass(frozen=True)
class Undoing:
    """An action taken back: the notification it caused, if any, goes."""

    recipient_id: int
    actor_id: int
    kind: Kind
    tweet_id: int | None = None
    actor_tweet_id: int | None = None
    comment_id: int | None = None


async def effective_preferences(store: PreferenceStore, user_id: int) -> dict[tuple[Kind, Channel], bool]:
    explicit = await store.explicit(user_id)
    return {(k, c): explicit.get((k, c), default_enabled(k, c)) for k in Kind for c in Channel}


class Notifier:
    def __init__(
        self,
        notifications: NotificationStore,
        preferences: PreferenceStore,
        devices: DeviceStore,
        users: UserDirectory,
        queue: DeliveryQueue,
        live: LiveFeed,
    ):
        self._notifications = notifications
        self._preferences = preferences
        self._devices = devices
        self._users = users
        self._queue = queue
        self._live = live

    async def happened(self, happening: Happening) -> Notification | None:
        """The notification made (or made before, by this same event); None when none is due."""
        recipient, actor_id = happening.recipient_id, happening.actor_id
        if recipient == actor_id:
            return None
        if actor_id in await self._users.hidden_actors(recipient, [actor_id]):
            return None
        notification = Notification(
            notification_id=notification_id_for(happening.event_id, recipient, happening.occurred_at),
            recipient_id=recipient,
            kind=happening.kind,
            actor_id=actor_id,
            create_time=happening.occurred_at,
            tweet_id=happening.tweet_id,
            actor_tweet_id=happening.actor_tweet_id,
            comment_id=happening.comment_id,
        )
        holder = await self._notifications.claim_source(recipient, notification.source_key, notification.notification_id)
        if holder != notification.notification_id:
            return None  # another event already told the recipient about this very thing
        wanted = await effective_preferences(self._preferences, recipient)
        actor = (await self._users.profiles([actor_id])).get(actor_id)
        if wanted[(notification.kind, Channel.IN_APP)]:
            await self._notifications.add(notification)
            await self._live.publish(notification, actor)
        targets = [d for d in await self._devices.list(recipient) if wanted[(notification.kind, d.platform.channel)]]
        if targets:
            unread = await self._notifications.unread_count(recipient)
            await self._queue.enqueue(
                [DeliveryRequest(notification, d.device_id, d.platform, actor, unread) for d in targets]
            )
        return notification

    async def undone(self, undoing: Undoing) -> int | None:
        key = source_key(undoing.kind, undoing.actor_id, undoing.tweet_id, undoing.actor_tweet_id, undoing.comment_id)
        return await self._notifications.remove_source(undoing.recipient_id, key)


@dataclass(frozen=True)
class NotificationPage:
    notifications: list[Notification]
    actors: dict[int, ActorProfile]
    next_page_token: str


class Inbox:
    """The caller's notifications: list, count, mark read."""

    def __init__(self, notifications: NotificationStore, users: UserDirectory):
        self._notifications = notifications
        self._users = users

    async def list(self, caller: int | None, requested_size: int, page_token: str, *, unread_only: bool) -> NotificationPage:
        me = require_caller(caller)
        listing = "notifications:unread" if unread_only else "notifications"
        position = decode_page_token(page_token, listing, me, arity=1)
        size = page_size(requested_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        # one more than asked tells whether a next page exists without an empty last page
        found = await self._notifications.page(
            me, before=position[0] if position else None, limit=size + 1, unread_only=unread_only
        )
        shown = found[:size]
        token = encode_page_token(listing, me, [shown[-1].notification_id]) if len(found) > size else ""
        return NotificationPage(shown, await self.actors_of(shown), token)

    async def actors_of(self, notifications: Sequence[Notification]) -> dict[int, ActorProfile]:
        wanted = {n.actor_id for n in notifications}
        return await self._users.profiles(wanted) if wanted else {}

    async def unread_count(self, caller: int | None) -> int:
        return await self._notifications.unread_count(require_caller(caller))

    async def mark_read(self, caller: int | None, notification_ids: Sequence[int], through_id: int | None) -> int:
        me = require_caller(caller)
        if through_id is not None:
            await self._notifications.mark_read_through(me, through_id)
        if notification_ids:
            await self._notifications.mark_read(me, notification_ids)
        return await self._notifications.unread_count(me)


# ---- live streams --------------------------------------------------------------------------------


class Draining(Unavailable):
    """The server is stopping: the stream ends (UNAVAILABLE) and the client reconnects elsewhere."""

    default_reason = "SERVER_DRAINING"

    def __init__(self) -> None:
        super().__init__("this server is shutting down: reconnect, with after_notification_id to get what you missed")


@dataclass(frozen=True)
class LiveItem:
    notification: Notification | None  # None: a heartbeat
    actor: ActorProfile | None
    unread_count: int


class _Subscription:
    def __init__(self, hub: LiveHub, user_id: int):
        self._hub = hub
        self.user_id = user_id
        self.queue: asyncio.Queue[tuple[Notification, ActorProfile | None] | None] = asyncio.Queue(maxsize=256)

    def offer(self, item: tuple[Notification, ActorProfile | None] | None) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # a client that reads slower than it is notified: it resumes from the store on reconnect
            log.warning("live stream of user %d is not keeping up; dropping a notification", self.user_id)

    def close(self) -> None:
        self._hub.unsubscribe(self)


class LiveHub:
    """The open streams of this replica, by user. The live feed adapter hands it every notification
    published anywhere in the mesh; it passes each to the recipient's streams held here."""

    def __init__(self, *, max_streams_per_user: int = 5):
        self._max = max_streams_per_user
        self._streams: dict[int, set[_Subscription]] = {}
        self.draining = False

    def subscribe(self, user_id: int) -> _Subscription:
        if self.draining:
            raise Draining()
        mine = self._streams.setdefault(user_id, set())
        if len(mine) >= self._max:
            raise TooManyStreams(
                f"you already have {self._max} notification streams open; close one first",
                metadata={"limit": str(self._max)},
            )
        subscription = _Subscription(self, user_id)
        mine.add(subscription)
        return subscription

    def unsubscribe(self, subscription: _Subscription) -> None:
        mine = self._streams.get(subscription.user_id)
        if mine is not None:
            mine.discard(subscription)
            if not mine:
                del self._streams[subscription.user_id]

    def wants(self, user_id: int) -> bool:
        return user_id in self._streams

    def deliver(self, notification: Notification, actor: ActorProfile | None) -> None:
        for subscription in list(self._streams.get(notification.recipient_id, ())):
            subscription.offer((notification, actor))

    def drain(self) -> None:
        """End every stream (they answer UNAVAILABLE: reconnect) and refuse new ones."""
        self.draining = True
        for subscriptions in list(self._streams.values()):
            for subscription in list(subscriptions):
                subscription.offer(None)

    @property
    def open_streams(self) -> int:
        return sum(len(s) for s in self._streams.values())


class LiveStreams:
    def __init__(self, notifications: NotificationStore, users: UserDirectory, hub: LiveHub, *, heartbeat_s: float = 25.0):
        self._notifications = notifications
        self._users = users
        self._hub = hub
        self._heartbeat_s = heartbeat_s

    async def stream(self, caller: int | None, after_id: int | None) -> AsyncIterator[LiveItem]:
        """Heartbeat with the unread count, the missed notifications (oldest first), then new ones
        as they come and a heartbeat whenever the stream was idle for heartbeat_s. Raises Draining
        when the server stops."""
        me = require_caller(caller)
        # subscribe before reading the store: a notification made in between is then in both,
        # and the id check below sends it once
        subscription = self._hub.subscribe(me)
        try:
            yield LiveItem(None, None, await self._notifications.unread_count(me))
            last_sent = 0
            if after_id is not None:
                missed = await self._notifications.after(me, after_id, RESUME_LIMIT)
                if missed:
                    actors = await self._users.profiles({n.actor_id for n in missed})
                    unread = await self._notifications.unread_count(me)
                    for notification in missed:
                        yield LiveItem(notification, actors.get(notification.actor_id), unread)
                    last_sent = missed[-1].notification_id
            while True:
                try:
                    item = await asyncio.wait_for(subscription.queue.get(), timeout=self._heartbeat_s)
                except TimeoutError:
                    yield LiveItem(None, None, await self._notifications.unread_count(me))
                    continue
                if item is None:
                    raise Draining()
                notification, actor = item
                if notification.notification_id <= last_sent:
                    continue  # already sent from the store
                yield LiveItem(notification, actor, await self._notifications.unread_count(me))
        finally:
            subscription.close()


# ---- devices and preferences ---------------------------------------------------------------------


def normalized_target(platform: Platform, target: str) -> str:
    """One spelling per target, so the same token or address is recognized whatever the case:
    APNs tokens are hex (case-insensitive), email domains are case-insensitive (the local part is
    kept as given: some servers treat it case-sensitively). FCM tokens are opaque and case-sensitive."""
    if platform is Platform.APNS:
        return target.lower()
    if platform is Platform.EMAIL:
        local, _, domain = target.rpartition("@")
        return f"{local}@{domain.lower()}"
    return target


class Devices:
    def __init__(self, devices: DeviceStore, *, now=None):
        self._devices = devices
        self._now = now or (lambda: datetime.now(timezone.utc))

    async def register(self, caller: int | None, platform: Platform, target: str, label: str) -> Device:
        me = require_caller(caller)
        target = normalized_target(platform, target)
        mine = await self._devices.list(me)
        for device in mine:
            if device.platform is platform and device.target == target:
                if device.label != label:
                    device = replace(device, label=label)
                    await self._devices.put(device)
                return device
        if len(mine) >= MAX_DEVICES_PER_USER:
            raise TooManyDevices(
                f"you already have {MAX_DEVICES_PER_USER} devices; unregister one first",
                metadata={"limit": str(MAX_DEVICES_PER_USER)},
            )
        device = Device(ids.new_id(), me, platform, target, label, self._now())
        wanted = TargetHolder(me, device.device_id)
        # the claim first: a device row never exists without its target being ours
        for _ in range(3):
            holder = await self._devices.claim_target(platform, target, wanted)
            if holder == wanted:
                break
            if holder.user_id == me:
                # claimed by an earlier attempt of ours whose device row was not written
                device = replace(device, device_id=holder.device_id)
                break
            if platform is Platform.EMAIL:
                raise EmailTakenByAnotherUser(
                    "this email address is registered by another account", metadata={"platform": "email"}
                )
            # a push token follows the phone: it leaves the previous owner's devices
            if await self._devices.move_target(platform, target, old=holder, new=wanted):
                await self._devices.remove(holder.user_id, holder.device_id)
                break
        else:
            raise RuntimeError("the device target kept changing hands; try again")
        await self._devices.put(device)
        return device

    async def unregister(self, caller: int | None, device_id: int) -> None:
        me = require_caller(caller)
        device = await self._devices.get(me, device_id)
        if device is None:
            raise DeviceNotFound(f"you have no device {device_id}", metadata={"device_id": str(device_id)})
        await self._devices.remove(me, device_id)
        await self._devices.release_target(device.platform, device.target, TargetHolder(me, device_id))

    async def list(self, caller: int | None, requested_size: int, page_token: str) -> tuple[list[Device], str]:
        me = require_caller(caller)
        position = decode_page_token(page_token, "devices", me, arity=1)
        size = page_size(requested_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        remaining = [d for d in await self._devices.list(me) if position is None or d.device_id < position[0]]
        shown = remaining[:size]
        token = encode_page_token("devices", me, [shown[-1].device_id]) if len(remaining) > size else ""
        return shown, token


class Preferences:
    def __init__(self, store: PreferenceStore):
        self._store = store

    async def get(self, caller: int | None) -> list[Preference]:
        me = require_caller(caller)
        return [Preference(k, c, on) for (k, c), on in (await effective_preferences(self._store, me)).items()]

    async def update(self, caller: int | None, changes: Sequence[Preference]) -> list[Preference]:
        me = require_caller(caller)
        await self._store.put(me, {(p.kind, p.channel): p.enabled for p in changes})
        return await self.get(caller)
