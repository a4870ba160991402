"""Domain events -> the tweetmesh.events.v1 payloads and JetStream subjects they travel as."""

from __future__ import annotations

from mesh.api import to_timestamp
from mesh.outbox import OutboxEvent
from svc_graph import domain
from tweetmesh.events.v1 import events_pb2

# The subjects of svc_graph's events; all are in the GRAPH stream (mesh/events.py, `graph.>`).
SUBJECTS: dict[type, str] = {
    domain.UserCreated: "graph.user.created",
    domain.UserUpdated: "graph.user.updated",
    domain.FollowCreated: "graph.follow.created",
    domain.FollowDeleted: "graph.follow.deleted",
    domain.BlockCreated: "graph.block.created",
    domain.BlockDeleted: "graph.block.deleted",
    domain.MuteCreated: "graph.mute.created",
    domain.MuteDeleted: "graph.mute.deleted",
}


def payload_of(event: domain.GraphEvent):
    """The protobuf message of an event (actor_user_id: the user whose action caused it)."""
    common = {"event_id": event.event_id, "occurred_at": to_timestamp(event.occurred_at)}
    match event:
        case domain.UserCreated(user=user):
            return events_pb2.UserCreated(
                **common, actor_user_id=str(user.user_id), handle=user.handle, display_name=user.display_name
            )
        case domain.UserUpdated(user=user):
            return events_pb2.UserUpdated(
                **common, actor_user_id=str(user.user_id), handle=user.handle, display_name=user.display_name,
                bio=user.bio,
            )
        case domain.FollowCreated():
            return events_pb2.FollowCreated(
                **common, actor_user_id=str(event.follower_id), following_user_id=str(event.followee_id)
            )
        case domain.FollowDeleted():
            return events_pb2.FollowDeleted(
                **common, actor_user_id=str(event.follower_id), following_user_id=str(event.followee_id)
            )
        case domain.BlockCreated():
            return events_pb2.BlockCreated(**common, actor_user_id=str(event.blocker_id), blocked_user_id=str(event.blocked_id))
        case domain.BlockDeleted():
            return events_pb2.BlockDeleted(**common, actor_user_id=str(event.blocker_id), blocked_user_id=str(event.blocked_id))
        case domain.MuteCreated():
            return events_pb2.MuteCreated(**common, actor_user_id=str(event.muter_id), muted_user_id=str(event.muted_id))
        case domain.MuteDeleted():
            return events_pb2.MuteDeleted(**common, actor_user_id=str(event.muter_id), muted_user_id=str(event.muted_id))
    raise TypeError(f"not an event of svc_graph: {event!r}")


def outbox_event(event: domain.GraphEvent) -> OutboxEvent:
    """What the outbox stores: subject, serialised payload, and the event id as Nats-Msg-Id."""
    return OutboxEvent(subject=SUBJECTS[type(event)], payload=payload_of(event).SerializeToString(), msg_id=event.event_id)
