"""mesh.paging: page sizes, and page tokens that name a position and work only for their own list."""

from __future__ import annotations

import base64
import json

import pytest

from mesh.errors import InvalidArgument, InvalidPageToken
from mesh.paging import decode_page_token, encode_page_token, page_size


def _forge(body) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def test_page_size_zero_means_the_default_and_sizes_are_capped():
    assert page_size(0, default=20, maximum=100) == 20
    assert page_size(-3, default=20, maximum=100) == 20
    assert page_size(1, default=20, maximum=100) == 1
    assert page_size(100, default=20, maximum=100) == 100
    assert page_size(101, default=1000, maximum=5000) == 101
    assert page_size(9999, default=1000, maximum=5000) == 5000


@pytest.mark.parametrize("position", [(1,), (202503, 1234), (1_740_830_400_123, 987654321), (2**63 - 1, 1, 7)])
def test_a_token_round_trips_its_position(position):
    token = encode_page_token("listing", 42, position)
    assert decode_page_token(token, "listing", 42, arity=len(position)) == position


def test_an_empty_token_is_the_first_page():
    assert decode_page_token("", "followers", 42, arity=2) is None


def test_a_token_is_opaque_url_safe_text():
    token = encode_page_token("user_tweets:01", 42, (202503, 1234))
    assert token.isascii() and not set(token) & set("+/= ")
    assert "user_tweets" not in token and "1234" not in token


@pytest.mark.parametrize(
    ("listing", "owner"),
    [("followers", 43), ("following", 42), ("user_tweets:01", 42), ("home", 42)],
)
def test_a_token_of_another_list_is_refused(listing, owner):
    token = encode_page_token("followers", 42, (5, 6))
    with pytest.raises(InvalidPageToken) as refused:
        decode_page_token(token, listing, owner, arity=2)
    assert "another list" in refused.value.message


@pytest.mark.parametrize(
    "token",
    [
        "%%%",
        "not a token!",
        "bm90IGpzb24",  # "not json"
        _forge([1, 2]),
        _forge({"l": "followers", "o": 42}),  # no position
        _forge({"l": "followers", "o": 42, "p": [5, 6], "x": 1}),  # a key too many
        _forge({"l": "followers", "o": 42, "p": "5,6"}),
        _forge({"l": "followers", "o": 42, "p": [5]}),  # wrong arity
        _forge({"l": "followers", "o": 42, "p": [5, 6, 7]}),
        _forge({"l": "followers", "o": 42, "p": ["x", 6]}),
        _forge({"l": "followers", "o": 42, "p": [5.0, 6]}),
        _forge({"l": "followers", "o": 42, "p": [5, True]}),
        _forge({"l": "followers", "o": 42, "p": [-5, 6]}),
        _forge({"l": "followers", "o": 42, "p": [0, 6]}),
        encode_page_token("followers", 42, (5, 6))[:-3],  # cut short
    ],
)
def test_garbage_is_refused_as_an_invalid_page_token(token):
    with pytest.raises(InvalidArgument) as refused:
        decode_page_token(token, "followers", 42, arity=2)
    error = refused.value
    assert isinstance(error, InvalidPageToken)
    assert error.reason == "INVALID_PAGE_TOKEN"
    assert [v.field for v in error.violations] == ["page_token"]
    assert "not a page token this server issued" in error.message
    assert "pass the next_page_token of the previous page unchanged" in error.message


def test_a_well_formed_token_of_the_right_list_is_accepted_even_if_not_issued():
    # not signed, on purpose: such a token only moves a cursor within a list the caller may read
    assert decode_page_token(_forge({"l": "followers", "o": 42, "p": [5, 6]}), "followers", 42, arity=2) == (5, 6)
