"""Domain <-> protobuf for the messages svc_notify sends outside the gRPC API too.

A notification travels as tweetmesh.notify.v1.Notification in three places: the API's answers,
the live feed (events.v1.NotificationCreated on NATS core) and the delivery queue's work items
(events.v1.NotificationDeliveryRequested). One mapping serves all three.
"""

from __future__ import annotations

from datetime import timezone

from mesh import ids
from mesh.api import to_timestamp
from svc_notify.domain import Kind, Notification, Platform
from svc_notify.ports import ActorProfile, DeliveryRequest
from tweetmesh.events.v1 import events_pb2
from tweetmesh.graph.v1 import user_pb2
from tweetmesh.notify.v1 import notification_pb2


def _id_text(value: int | None) -> str:
    return ids.to_str(value) if value else ""


def _optional_id(text: str) -> int | None:
    return ids.parse(text) if text else None


def notification_to_proto(notification: Notification, actor: ActorProfile | None) -> notification_pb2.Notification:
    message = notification_pb2.Notification(
        notification_id=ids.to_str(notification.notification_id),
        kind=int(notification.kind),
        actor_user_id=ids.to_str(notification.actor_id),
        tweet_id=_id_text(notification.tweet_id),
        actor_tweet_id=_id_text(notification.actor_tweet_id),
        comment_id=_id_text(notification.comment_id),
        create_time=to_timestamp(notification.create_time),
        read=notification.read,
    )
    if actor is not None and isinstance(actor.body, user_pb2.User):
        message.actor.CopyFrom(actor.body)
    return message


def notification_from_proto(message: notification_pb2.Notification, recipient_id: int) -> Notification:
    """Raises ValueError on ids that are not ids (a payload no retry can fix)."""
    return Notification(
        notification_id=ids.parse(message.notification_id),
        recipient_id=recipient_id,
        kind=Kind(message.kind),
        actor_id=ids.parse(message.actor_user_id),
        create_time=message.create_time.ToDatetime(tzinfo=timezone.utc),
        tweet_id=_optional_id(message.tweet_id),
        actor_tweet_id=_optional_id(message.actor_tweet_id),
        comment_id=_optional_id(message.comment_id),
        read=message.read,
    )


def actor_from_proto(user: user_pb2.User) -> ActorProfile:
    return ActorProfile(user_id=ids.parse(user.user_id), handle=user.handle, display_name=user.display_name, body=user)


def notification_created(notification: Notification, actor: ActorProfile | None) -> events_pb2.NotificationCreated:
    return events_pb2.NotificationCreated(
        event_id=ids.to_str(notification.notification_id),
        occurred_at=to_timestamp(notification.create_time),
        actor_user_id=ids.to_str(notification.actor_id),
        recipient_user_id=ids.to_str(notification.recipient_id),
        notification=notification_to_proto(notification, actor),
    )


def delivery_requested(request: DeliveryRequest) -> events_pb2.NotificationDeliveryRequested:
    notification = request.notification
    return events_pb2.NotificationDeliveryRequested(
        event_id=request.delivery_id,
        occurred_at=to_timestamp(notification.create_time),
        actor_user_id=ids.to_str(notification.actor_id),
        recipient_user_id=ids.to_str(notification.recipient_id),
        device_id=ids.to_str(request.device_id),
        platform=int(request.platform),
        notification=notification_to_proto(notification, request.actor),
        unread_count=request.unread_count,
    )


def delivery_request_from(payload: bytes) -> DeliveryRequest:
    """Decodes a work item; raises ValueError (or DecodeError) on one no retry can read."""
    message = events_pb2.NotificationDeliveryRequested()
    message.ParseFromString(payload)
    recipient_id = ids.parse(message.recipient_user_id)
    actor = actor_from_proto(message.notification.actor) if message.notification.HasField("actor") else None
    return DeliveryRequest(
        notification=notification_from_proto(message.notification, recipient_id),
        device_id=ids.parse(message.device_id),
        platform=Platform(message.platform),
        actor=actor,
        unread_count=message.unread_count,
    )
