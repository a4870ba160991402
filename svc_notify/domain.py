"""The notification domain: what a notification is, where it goes, and what a send answered.

No generated code, no I/O. Enum values equal the proto's (tweetmesh.notify.v1) so the gRPC face
converts with a plain int().
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, IntEnum

from mesh import errors, ids


class Kind(IntEnum):
    FOLLOW = 1
    LIKE = 2
    RETWEET = 3
    REPLY = 4
    QUOTE = 5
    COMMENT = 6
    MENTION = 7


class Channel(IntEnum):
    IN_APP = 1
    PUSH = 2
    EMAIL = 3


class Platform(IntEnum):
    APNS = 1
    FCM = 2
    EMAIL = 3

    @property
    def channel(self) -> Channel:
        return Channel.EMAIL if self is Platform.EMAIL else Channel.PUSH

    @property
    def queue(self) -> str:
        """The delivery work queue's channel name (subject notify.deliver.<queue>, durable deliver-<queue>)."""
        return self.name.lower()


# Defaults of the preferences the user never set: everything on, except email (opt-in).
def default_enabled(kind: Kind, channel: Channel) -> bool:
    return channel is not Channel.EMAIL


MAX_DEVICES_PER_USER = 20


@dataclass(frozen=True)
class Notification:
    """Something that happened to `recipient_id`, caused by `actor_id`.

    tweet_id: the recipient's tweet the action is about (LIKE, RETWEET, REPLY, QUOTE, COMMENT; for a
    MENTION in a comment, the tweet commented on); actor_tweet_id: the actor's own tweet (the reply,
    the quote, the tweet mentioning the recipient); comment_id: the actor's comment (COMMENT, and a
    MENTION made in a comment).
    """

    notification_id: int
    recipient_id: int
    kind: Kind
    actor_id: int
    create_time: datetime
    tweet_id: int | None = None
    actor_tweet_id: int | None = None
    comment_id: int | None = None
    read: bool = False

    @property
    def source_key(self) -> str:
        """What the notification is about, independent of when: the key its undo (unlike, unfollow,
        undo retweet, comment or tweet deleted) finds it by."""
        return source_key(self.kind, self.actor_id, self.tweet_id, self.actor_tweet_id, self.comment_id)


def source_key(kind: Kind, actor_id: int, tweet_id: int | None, actor_tweet_id: int | None,
               comment_id: int | None) -> str:
    return f"{kind.name.lower()}:{actor_id}:{tweet_id or 0}:{actor_tweet_id or 0}:{comment_id or 0}"


def notification_id_for(event_id: str, recipient_id: int, occurred_at: datetime) -> int:
    """A Snowflake id that is the same every time the same event is handled for the same recipient.

    Time-ordered like any id (its timestamp is when the event occurred), so the wide row lists
    notifications newest first; its low 22 bits (worker + sequence) come from a hash of the event
    and recipient, so a redelivered event writes the same row again instead of a second one.
    """
    elapsed_ms = max(0, int(occurred_at.timestamp() * 1000) - ids.EPOCH_MS)
    digest = hashlib.blake2b(f"{event_id}/{recipient_id}".encode(), digest_size=8).digest()
    low_bits = int.from_bytes(digest, "big") & ((1 << ids.TIMESTAMP_SHIFT) - 1)
    return (elapsed_ms << ids.TIMESTAMP_SHIFT) | low_bits or 1


@dataclass(frozen=True)
class Device:
    """A push or email target of a user. `target` is the APNs token, FCM token or email address;
    it is sent only to its provider and never returned by the API (see `address_hint`)."""

    device_id: int
    user_id: int
    platform: Platform
    target: str
    label: str
    create_time: datetime

    @property
    def address_hint(self) -> str:
        return self.target if self.platform is Platform.EMAIL else self.target[-6:]


@dataclass(frozen=True)
class Preference:
    kind: Kind
    channel: Channel
    enabled: bool


# ---- delivery ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingMessage:
    """One notification rendered for one device, the same on every attempt.

    delivery_id: f"{notification_id}-{device_id}", stable across retries: APNs gets it as a UUID
    (apns-id) and collapse id, email as the Message-ID, FCM inside `data`, so a provider or a mail
    client can tell a repeat from a new message.
    """

    delivery_id: str
    notification_id: int
    kind: Kind
    title: str
    body: str
    badge: int | None = None  # the recipient's unread count, for the app icon
    data: Mapping[str, str] = field(default_factory=dict)  # what the app needs to open the right screen


class SendOutcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # the provider is unavailable or throttling (5xx, 429, timeouts): try again later
    TARGET_GONE = "target_gone"  # the token or address is no longer valid: remove the device, no retry
    REJECTED = "rejected"  # the provider refused this message for good (4xx): dead-letter, no retry


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    detail: str = ""  # the provider's own words (status, reason), for logs and the dead-letter record
    retry_after_s: float | None = None  # the provider's Retry-After, when it said one


# ---- errors --------------------------------------------------------------------------------------


class DeviceNotFound(errors.NotFound):
    default_reason = "DEVICE_NOT_FOUND"


class EmailTakenByAnotherUser(errors.AlreadyExists):
    default_reason = "EMAIL_ALREADY_REGISTERED"


class TooManyDevices(errors.ResourceExhausted):
    default_reason = "TOO_MANY_DEVICES"


class TooManyStreams(errors.ResourceExhausted):
    default_reason = "TOO_MANY_STREAMS"
