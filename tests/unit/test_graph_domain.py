"""Pure rules of svc_graph.domain: page tokens, refresh-token derivation, profile changes."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest

from mesh.errors import InvalidArgument
from mesh.paging import decode_page_token, encode_page_token, page_size
from svc_graph.domain import (
    ProfileChanges,
    User,
    refresh_token_hash,
    successor_refresh_token,
)


def test_a_page_token_round_trips_for_its_own_list():
    position = (1_740_830_400_123, 987654321)  # a follow list's (create_time_ms, other_id)
    token = encode_page_token("followers", 42, position)
    assert decode_page_token(token, "followers", 42, arity=2) == position
    assert decode_page_token("", "followers", 42, arity=2) is None


@pytest.mark.parametrize(
    "token",
    [
        "%%%",
        "bm90IGpzb24",  # "not json"
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"l": "followers", "o": 42, "p": ["x", 1]}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"l": "followers", "o": 42, "p": [-5, 1]}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"l": "followers", "o": 42, "p": [1, True]}).encode()).decode(),
    ],
)
def test_garbage_page_tokens_are_invalid_arguments(token):
    with pytest.raises(InvalidArgument) as refused:
        decode_page_token(token, "followers", 42, arity=2)
    assert refused.value.reason == "INVALID_PAGE_TOKEN"
    assert "pass the next_page_token of the previous page unchanged" in refused.value.message


def test_page_size_zero_means_the_default_and_sizes_are_capped():
    assert page_size(0, default=20, maximum=100) == 20
    assert page_size(7, default=20, maximum=100) == 7
    assert page_size(500, default=20, maximum=100) == 100


def test_a_successor_token_needs_both_the_old_token_and_the_nonce():
    token, nonce = "old-token", b"\x01" * 32
    successor = successor_refresh_token(token, nonce)
    assert successor == successor_refresh_token(token, nonce)  # a retry derives the same one
    assert successor != successor_refresh_token(token, b"\x02" * 32)
    assert successor != successor_refresh_token("other-token", nonce)
    assert len(successor) == 43 and len(refresh_token_hash(successor)) == 32


def test_profile_changes_leave_absent_fields_alone_and_empty_bio_clears():
    user = User(1, "ann", "Ann", "old bio", datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert ProfileChanges(display_name="Annie").applied_to(user).bio == "old bio"
    assert ProfileChanges(bio="").applied_to(user).bio == ""
