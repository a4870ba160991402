"""Opaque cursors of search results: where the previous page ended, bound to the query it was for.

A cursor is the base64url of `{"q": <fingerprint of the query>, "a": <sort values of the last hit>}`;
the next page asks the index for the hits after those values (`search_after`), so a page costs the
same however deep it is (no `from` offsets). The fingerprint is a hash of the parsed query's
canonical key, so a cursor only works for the query that made it.

Not signed, like mesh/paging.py's page tokens and for the same reason: a cursor only moves a
position inside results the caller may read anyway, and decoding checks every field, so a forged
cursor can do nothing a valid one could not. Cursors are never stored: the format may change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from mesh.errors import FieldViolation, InvalidArgument

P = TypeVar("P")

_NOT_OURS = "not a cursor this server issued"


def encode_cursor(query_key: str, sort_values: Sequence[int | str]) -> str:
    body = {"q": _fingerprint(query_key), "a": list(sort_values)}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).rstrip(b"=").decode()


def decode_cursor(token: str, query_key: str, position: Callable[[list], P], *, field: str) -> P | None:
    """The position a cursor names (built by `position` from its sort values, which raises
    ValueError or TypeError on values that cannot be one); None for an empty cursor (the first
    page). Garbage, and a cursor of another query, are INVALID_ARGUMENT naming `field`."""
    if not token:
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _invalid(field, _NOT_OURS) from None
    if not isinstance(body, dict) or set(body) != {"q", "a"} or not isinstance(body["a"], list):
        raise _invalid(field, _NOT_OURS)
    if body["q"] != _fingerprint(query_key):
        raise _invalid(field, "this cursor belongs to another query")
    try:
        return position(body["a"])
    except (TypeError, ValueError):
        raise _invalid(field, _NOT_OURS) from None


def _fingerprint(query_key: str) -> str:
    return hashlib.sha256(query_key.encode()).hexdigest()[:16]


def _invalid(field: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field}: {why}; pass the cursor of the previous page unchanged, with the same query, or none for the first page",
        violations=[FieldViolation(field, why)],
        reason="INVALID_PAGE_TOKEN",
    )


def exact_int(value: object, *, minimum: int) -> int:
    """An int of a decoded cursor (JSON true/false and floats are not), at least `minimum`."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"not an int >= {minimum}: {value!r}")
    return value
