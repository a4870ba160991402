"""Helpers of the proto edge: where a service turns message fields into domain values and back.

Every servicer (svc_*/grpc_api.py) needs the same few: ids arrive as decimal strings (protos/README.md),
the caller arrives in mesh.context (set by the call pipeline from the gateway's verified header),
times leave as google.protobuf.Timestamp (in answers, and in the events the outbox adapters
serialise). Use cases never import this module: they see ints and datetimes only.
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from mesh import context, ids
from mesh.errors import FieldViolation, InvalidArgument, Unauthenticated


def parse_id(field: str, text: str) -> int:
    """The id in the request field `field`; INVALID_ARGUMENT (reason INVALID_ID) naming the field if
    `text` is not one. The proto's rules usually refuse such text first; this is the last guard."""
    try:
        return ids.parse(text)
    except ValueError as exc:
        raise InvalidArgument(f"{field}: {exc}", violations=[FieldViolation(field, str(exc))], reason="INVALID_ID") from None


def optional_id(field: str, text: str) -> int | None:
    """An id field that may be left empty (proto3's unset string): None when empty, else `parse_id`."""
    return parse_id(field, text) if text else None


def caller_id() -> int | None:
    """The verified caller of this call (set by the pipeline from the gateway's header), if any."""
    raw = context.caller_user_id.get()
    if not raw:
        return None
    try:
        return ids.parse(raw)
    except ValueError:
        raise Unauthenticated("the caller's identity is not a user id", reason="INVALID_CALLER") from None


def to_timestamp(moment: datetime) -> Timestamp:
    """A datetime as a google.protobuf.Timestamp (naive datetimes are taken as UTC, as protobuf does)."""
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
