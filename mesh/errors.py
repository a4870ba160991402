"""Typed domain errors, and the ONE table that turns them into gRPC statuses.

Use cases raise these; they never import grpc. The error interceptor (mesh/interceptors.py) is the
only place that converts: status code from `STATUS_BY_ERROR`, the person-readable message as given,
and a `google.rpc.ErrorInfo(reason, domain, metadata)` detail so machines can branch on `reason`.
Envoy's transcoder turns the status into the HTTP code (INVALID_ARGUMENT -> 400, NOT_FOUND -> 404...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

ERROR_DOMAIN = "tweetmesh.dev"


@dataclass(frozen=True)
class FieldViolation:
    """One rejected input field: `field` is the proto field path (e.g. `tweet.text`)."""

    field: str
    description: str
    rule: str = ""


class DomainError(Exception):
    """Base of every error a use case may raise on purpose.

    `reason` is a stable UPPER_SNAKE_CASE identifier (AIP-193), `metadata` carries the specifics a
    client needs (e.g. {"handle": "alice"}); the message is for people and may change.
    """

    default_reason = "DOMAIN_ERROR"

    def __init__(self, message: str, *, reason: str | None = None, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})


class InvalidArgument(DomainError):
    default_reason = "INVALID_ARGUMENT"

    def __init__(self, message: str, *, violations: list[FieldViolation] | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.violations = list(violations or [])


class NotFound(DomainError):
    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    default_reason = "ALREADY_EXISTS"


class Unauthenticated(DomainError):
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    default_reason = "PERMISSION_DENIED"


class FailedPrecondition(DomainError):
    default_reason = "FAILED_PRECONDITION"


class ResourceExhausted(DomainError):
    default_reason = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    """A dependency (database, broker, provider) did not answer in time; the caller may retry."""

    default_reason = "DEPENDENCY_UNAVAILABLE"


# ---------------------------------------------------------------------------------------------
# Errors every service raises: one definition each, so one reason and one message everywhere.


class AuthenticationRequired(Unauthenticated):
    default_reason = "AUTHENTICATION_REQUIRED"

    def __init__(self) -> None:
        super().__init__("this call needs a signed-in user: send an access token (Authorization: Bearer ...)")


def require_caller(caller: int | None) -> int:
    """The signed-in user a use case acts for; AuthenticationRequired when the call is anonymous."""
    if caller is None:
        raise AuthenticationRequired()
    return caller


class NotTheCaller(PermissionDenied):
    """A request names a user who must be the caller, and is someone else.

    `action` says what the request does as that user ("act", "post"), for the message only.
    """

    default_reason = "NOT_THE_CALLER"

    def __init__(self, field: str, user_id: int, *, action: str = "act") -> None:
        super().__init__(
            f"{field} {user_id} is not you: you can only {action} as the signed-in user",
            metadata={"field": field, "user_id": str(user_id)},
        )


class UserNotFound(NotFound):
    default_reason = "USER_NOT_FOUND"

    def __init__(self, user_id: int | None = None, *, handle: str | None = None) -> None:
        if handle is not None:
            super().__init__(f"no user has the handle @{handle}", metadata={"handle": handle})
        else:
            super().__init__(f"user {user_id} does not exist", metadata={"user_id": str(user_id)})


class InvalidPageToken(InvalidArgument):
    """A page token this server did not issue, or issued for another list (mesh/paging.py)."""

    default_reason = "INVALID_PAGE_TOKEN"

    def __init__(self, why: str) -> None:
        super().__init__(
            f"page_token: {why}; pass the next_page_token of the previous page unchanged, or none for the first page",
            violations=[FieldViolation("page_token", why)],
        )


@dataclass(frozen=True)
class StatusMapping:
    code: grpc.StatusCode
    http_status: int = field(default=0)  # documentation only: what Envoy's transcoder answers


# The one table. Order matters only for subclasses (first match wins); keep it flat.
STATUS_BY_ERROR: tuple[tuple[type[DomainError], StatusMapping], ...] = (
    (InvalidArgument, StatusMapping(grpc.StatusCode.INVALID_ARGUMENT, 400)),
    (NotFound, StatusMapping(grpc.StatusCode.NOT_FOUND, 404)),
    (AlreadyExists, StatusMapping(grpc.StatusCode.ALREADY_EXISTS, 409)),
    (Unauthenticated, StatusMapping(grpc.StatusCode.UNAUTHENTICATED, 401)),
    (PermissionDenied, StatusMapping(grpc.StatusCode.PERMISSION_DENIED, 403)),
    (FailedPrecondition, StatusMapping(grpc.StatusCode.FAILED_PRECONDITION, 400)),
    (ResourceExhausted, StatusMapping(grpc.StatusCode.RESOURCE_EXHAUSTED, 429)),
    (Unavailable, StatusMapping(grpc.StatusCode.UNAVAILABLE, 503)),
)


def status_for(error: DomainError) -> grpc.StatusCode:
    for error_type, mapping in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return mapping.code
    return grpc.StatusCode.UNKNOWN

