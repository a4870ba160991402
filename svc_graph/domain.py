"""The language of svc_graph: users, sessions and the relations between users, with their rules.

Plain data and pure functions; no I/O and no generated code. The typed errors subclass the ones of
mesh.errors, so the one table there turns each into its gRPC status, and each carries a stable
`reason` clients can branch on.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Union

from mesh.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)

# How long a refresh token works, and for how long a rotated one still returns its successor (a
# client retrying after a lost answer); reuse later than that is treated as theft.
REFRESH_TOKEN_TTL = timedelta(days=30)
REFRESH_REUSE_GRACE = timedelta(seconds=30)
TOKEN_TYPE = "Bearer"


# ---------------------------------------------------------------------------------------------
# Errors (those every service raises, e.g. UserNotFound, are in mesh.errors)


class InvalidCredentials(Unauthenticated):
    """Unknown handle and wrong password are one error on purpose: no probing for handles."""

    default_reason = "INVALID_CREDENTIALS"

    def __init__(self) -> None:
        super().__init__("the handle or the password is wrong")


class RefreshTokenInvalid(Unauthenticated):
    default_reason = "REFRESH_TOKEN_INVALID"

    def __init__(self) -> None:
        super().__init__("the refresh token is unknown, expired or revoked; log in again")


class RefreshTokenReused(Unauthenticated):
    default_reason = "REFRESH_TOKEN_REUSED"

    def __init__(self) -> None:
        super().__init__(
            "this refresh token was already exchanged for a new one; as it may have been stolen, "
            "the session is now revoked: log in again"
        )


class HandleTaken(AlreadyExists):
    default_reason = "HANDLE_TAKEN"

    def __init__(self, handle: str) -> None:
        super().__init__(f"the handle @{handle} is already taken; choose another one", metadata={"handle": handle})


class BlockedByUser(PermissionDenied):
    default_reason = "BLOCKED_BY_USER"

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} blocks you, so you cannot follow them", metadata={"user_id": str(user_id)})


class YouBlockUser(FailedPrecondition):
    default_reason = "USER_BLOCKED_BY_YOU"

    def __init__(self, user_id: int) -> None:
        super().__init__(f"you block user {user_id}: unblock them first to follow them", metadata={"user_id": str(user_id)})


class SelfRelation(InvalidArgument):
    default_reason = "SELF_RELATION"

    def __init__(self, verb: str, field: str) -> None:
        super().__init__(
            f"you cannot {verb} yourself",
            violations=[FieldViolation(field, f"must not be your own user id (you cannot {verb} yourself)")],
        )


# ---------------------------------------------------------------------------------------------
# Users


def handle_key(handle: str) -> str:
    """What handle uniqueness and lookups compare: handles are ASCII, so lower() is exact."""
    return handle.lower()


@dataclass(frozen=True)
class User:
    user_id: int
    handle: str  # as spelt at sign-up
    display_name: str
    bio: str
    create_time: datetime


@dataclass(frozen=True)
class Account:
    """What logging in needs: the user behind a handle and their password hash."""

    user_id: int
    password_hash: str


@dataclass(frozen=True)
class ProfileChanges:
    """UpdateUser's field presence: None leaves the field as it is."""

    display_name: str | None = None
    bio: str | None = None

    def applied_to(self, user: User) -> User:
        return User(
            user_id=user.user_id,
            handle=user.handle,
            display_name=user.display_name if self.display_name is None else self.display_name,
            bio=user.bio if self.bio is None else self.bio,
            create_time=user.create_time,
        )


@dataclass(frozen=True)
class FollowCounts:
    followers: int
    following: int


@dataclass(frozen=True)
class Profile:
    """A user as the API shows them: the profile with its counts."""

    user: User
    counts: FollowCounts
    # more followers than the celebrity threshold: timelines pull this user's tweets on read
    # instead of fanning them out on write
    celebrity: bool


# ---------------------------------------------------------------------------------------------
# Relations between users


class Relation(enum.Enum):
    FOLLOW = "follow"
    BLOCK = "block"
    MUTE = "mute"


class Direction(enum.Enum):
    OUTGOING = "outgoing"  # edges the user made: the users they follow, block, mute
    INCOMING = "incoming"  # edges pointing at the user: their followers


@dataclass(frozen=True)
class Edge:
    """`source` follows / blocks / mutes `target` since `create_time`."""

    relation: Relation
    source_id: int
    target_id: int
    create_time: datetime

    def other_than(self, user_id: int) -> int:
        return self.target_id if self.source_id == user_id else self.source_id


@dataclass(frozen=True)
class Relationship:
    """How `user_id` (the subject) relates to `target_user_id`. No `muted_by`: mutes are private."""

    user_id: int
    target_user_id: int
    following: bool = False
    followed_by: bool = False
    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False


# ---------------------------------------------------------------------------------------------
# Pages (AIP-158): where a page ended; mesh.paging turns it into a page token


@dataclass(frozen=True)
class ListPosition:
    """Where a page ended: the clustering key of its last row, lists being newest first."""

    create_time_ms: int
    other_id: int


@dataclass(frozen=True)
class EdgePage:
    edges: list[Edge]
    next_position: ListPosition | None  # None on the last page


# ---------------------------------------------------------------------------------------------
# Sessions


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class AccessToken:
    token: str
    expire_time: datetime


@dataclass(frozen=True)
class RefreshTokenRecord:
    """A refresh token as stored: only its hash, never the token."""

    token_hash: bytes
    session_id: int
    user_id: int
    issue_time: datetime
    expire_time: datetime
    rotate_time: datetime | None = None  # when it was exchanged for its successor
    rotation_nonce: bytes | None = None  # what the successor was derived from (with the token)


@dataclass(frozen=True)
class Rotation:
    """The exchange of a refresh token for its successor, as committed (first writer wins)."""

    rotate_time: datetime
    nonce: bytes


@dataclass(frozen=True)
class SessionTokens:
    user_id: int
    access_token: AccessToken
    refresh_token: str
    refresh_expire_time: datetime


def refresh_token_hash(token: str) -> bytes:
    """What the store keeps of a refresh token. SHA-256 is enough: tokens are 256 random bits."""
    return hashlib.sha256(token.encode()).digest()


def encode_refresh_token(raw: bytes) -> str:
    return _b64(raw)


def successor_refresh_token(token: str, nonce: bytes) -> str:
    """The token that replaces `token` at rotation, derived rather than stored.

    A retry within the grace period must get the same successor back, but the store never holds a
    usable token: it keeps the random nonce, and the successor needs the old token as well, which
    only its holder has.
    """
    return _b64(hmac.new(token.encode(), b"tweetmesh refresh rotation\x00" + nonce, hashlib.sha256).digest())


# ---------------------------------------------------------------------------------------------
# Events (payloads of tweetmesh.events.v1; the adapters serialise them)


@dataclass(frozen=True)
class UserCreated:
    event_id: str
    occurred_at: datetime
    user: User


@dataclass(frozen=True)
class UserUpdated:
    event_id: str
    occurred_at: datetime
    user: User


@dataclass(frozen=True)
class FollowCreated:
    event_id: str
    occurred_at: datetime
    follower_id: int
    followee_id: int


@dataclass(frozen=True)
class FollowDeleted:
    event_id: str
    occurred_at: datetime
    follower_id: int
    followee_id: int


@dataclass(frozen=True)
class BlockCreated:
    event_id: str
    occurred_at: datetime
    blocker_id: int
    blocked_id: int


@dataclass(frozen=True)
class BlockDeleted:
    event_id: str
    occurred_at: datetime
    blocker_id: int
    blocked_id: int


@dataclass(frozen=True)
class MuteCreated:
    event_id: str
    occurred_at: datetime
    muter_id: int
    muted_id: int


@dataclass(frozen=True)
class MuteDeleted:
    event_id: str
    occurred_at: datetime
    muter_id: int
    muted_id: int


GraphEvent = Union[
    UserCreated, UserUpdated, FollowCreated, FollowDeleted, BlockCreated, BlockDeleted, MuteCreated, MuteDeleted
]


@dataclass(frozen=True)
class GraphChange:
    """Edges to add and remove and the events announcing it: stored all together or not at all."""

    actor_id: int  # whose action this is; keeps one user's events in commit order
    added: tuple[Edge, ...] = ()
    removed: tuple[Edge, ...] = ()
    events: tuple[GraphEvent, ...] = ()
