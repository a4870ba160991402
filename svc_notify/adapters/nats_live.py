"""The live feed over NATS core: every new notification goes to `notify.live.<recipient>`, and each
replica listens to `notify.live.*` and hands what it hears to its LiveHub, which passes it to the
recipient's streams if this replica holds any. Core NATS, not JetStream: a stream that was not
connected at that moment resumes from the store (`after_notification_id`), so nothing is kept.
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from mesh import ids
from mesh.server import BackgroundJob
from svc_notify import messages
from svc_notify.domain import Notification
from svc_notify.ports import ActorProfile
from svc_notify.service import LiveHub
from tweetmesh.events.v1 import events_pb2

log = logging.getLogger("svc_notify.live")

SUBJECT_PREFIX = "notify.live"


class NatsLiveFeed:
    def __init__(self, nc: NatsClient, *, subject_prefix: str = SUBJECT_PREFIX):
        self._nc = nc
        self._prefix = subject_prefix

    async def publish(self, notification: Notification, actor: ActorProfile | None) -> None:
        payload = messages.notification_created(notification, actor).SerializeToString()
        # fire and forget: the client library buffers; a stream missing it resumes from the store
        await self._nc.publish(f"{self._prefix}.{notification.recipient_id}", payload)

    def listener(self, hub: LiveHub) -> BackgroundJob:
        async def relay(message: Msg) -> None:
            try:
                recipient = ids.parse(message.subject.rsplit(".", 1)[-1])
                if not hub.wants(recipient):
                    return
                event = events_pb2.NotificationCreated.FromString(message.data)
                actor = messages.actor_from_proto(event.notification.actor) if event.notification.HasField("actor") else None
                hub.deliver(messages.notification_from_proto(event.notification, recipient), actor)
            except Exception as exc:  # noqa: BLE001 - one bad message must not end the listener
                log.warning("dropping a live notification on %s: %r", message.subject, exc)

        async def listen(stopping: asyncio.Event) -> None:
            subscription = await self._nc.subscribe(f"{self._prefix}.*", cb=relay)
            try:
                await stopping.wait()
            finally:
                hub.drain()  # every open stream ends with UNAVAILABLE: clients reconnect elsewhere
                await subscription.unsubscribe()

        listen.__name__ = "live-notifications"
        return listen
