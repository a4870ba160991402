"""Search cursors: opaque, bound to their query, refused when forged."""

from __future__ import annotations

import base64
import json

import pytest

from mesh.errors import InvalidArgument
from svc_search.cursors import decode_cursor, encode_cursor, exact_int


def _position(values: list) -> tuple[int, int]:
    score, tweet_id = values
    return exact_int(score, minimum=0), exact_int(tweet_id, minimum=1)


def _decode(token: str, query_key: str = "w=hello|h=|m=|f="):
    return decode_cursor(token, query_key, _position, field="cursor_value")


def test_a_cursor_round_trips_and_looks_opaque():
    token = encode_cursor("w=hello|h=|m=|f=", [2, 1234567890123456789])
    assert _decode(token) == (2, 1234567890123456789)
    assert "hello" not in token and "=" not in token


def test_an_empty_cursor_is_the_first_page():
    assert _decode("") is None


@pytest.mark.parametrize("token", ["not-base64!!", "e30", base64.urlsafe_b64encode(b"[1,2]").decode(), "x" * 40])
def test_garbage_is_refused_naming_the_field(token):
    with pytest.raises(InvalidArgument) as refused:
        _decode(token)
    assert refused.value.reason == "INVALID_PAGE_TOKEN"
    assert refused.value.violations[0].field == "cursor_value"


def test_a_cursor_of_another_query_is_refused():
    token = encode_cursor("w=hello|h=|m=|f=", [1, 99])
    with pytest.raises(InvalidArgument, match="another query"):
        _decode(token, "w=world|h=|m=|f=")


def _tampered(token: str, **changes) -> str:
    body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    body.update(changes)
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


@pytest.mark.parametrize("sort_values", [[1], [1, 2, 3], [-1, 5], [1, 0], [True, 5], [1.5, 5], ["1", 5], [1, None]])
def test_a_cursor_with_values_that_are_no_position_is_refused(sort_values):
    token = _tampered(encode_cursor("w=hello|h=|m=|f=", [1, 99]), a=sort_values)
    with pytest.raises(InvalidArgument, match="not a cursor"):
        _decode(token)


def test_a_cursor_with_extra_or_missing_fields_is_refused():
    token = encode_cursor("w=hello|h=|m=|f=", [1, 99])
    with pytest.raises(InvalidArgument):
        _decode(_tampered(token, owner="someone"))
    body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    del body["q"]
    with pytest.raises(InvalidArgument):
        _decode(base64.urlsafe_b64encode(json.dumps(body).encode()).decode())
