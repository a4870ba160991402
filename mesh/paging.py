"""Pages of lists (AIP-158): the size a request gets, and opaque page tokens.

A list RPC takes `page_size` and `page_token` and answers `next_page_token`. The token names where
the previous page ended, as a tuple of positive ints (the clustering key of its last row, e.g.
(month, tweet_id)), bound to the list it was made for: the `listing` (the RPC and any filters that
change what is listed, e.g. "followers", "user_tweets:01") and the `owner_id` (the user or tweet
whose list it is). Tokens are never stored, so the format may change between releases.

Not signed: a token only moves a cursor inside a list the caller may read anyway, and decoding
checks every field, so a forged token can do nothing a valid one could not. Garbage, and a token
of another list, are refused with InvalidPageToken (INVALID_ARGUMENT, reason INVALID_PAGE_TOKEN).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

from mesh.errors import InvalidPageToken

_NOT_OURS = "not a page token this server issued"


def page_size(requested: int, *, default: int, maximum: int) -> int:
    """AIP-158: 0 means the default; the proto's rules already refuse sizes above the maximum."""
    return default if requested <= 0 else min(requested, maximum)


def encode_page_token(listing: str, owner_id: int, position: Sequence[int]) -> str:
    """An opaque token for the page after `position` of the list (`listing`, `owner_id`)."""
    body = {"l": listing, "o": owner_id, "p": list(position)}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).rstrip(b"=").decode()


def decode_page_token(token: str, listing: str, owner_id: int, *, arity: int) -> tuple[int, ...] | None:
    """The position a token names, `arity` positive ints; None for an empty token (the first page)."""
    if not token:
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidPageToken(_NOT_OURS) from None
    if not isinstance(body, dict) or set(body) != {"l", "o", "p"} or not isinstance(body["p"], list):
        raise InvalidPageToken(_NOT_OURS)
    position = body["p"]
    if len(position) != arity or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in position):
        raise InvalidPageToken(_NOT_OURS)
    if body["l"] != listing or body["o"] != owner_id:
        raise InvalidPageToken("this token belongs to another list (other RPC, user, tweet or filters)")
    return tuple(position)
