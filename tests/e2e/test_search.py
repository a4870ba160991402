"""Search through the gateway, as the seed's REST client uses it: `GET /v1/search?tweetName=&limitValue=
&cursorValue=` -> `{"results": [{"tweetId", "tweetName", "postedBy"}], "nextCursor"}`."""

from __future__ import annotations

import time
import urllib.parse
import uuid

import pytest

from tests.e2e.conftest import account, http

FINDABLE_WITHIN_S = 1.0  # a new tweet is found within a second of its 201, a deleted one gone as soon


@pytest.fixture
def author(gateway):
    return account(gateway)


@pytest.fixture
def reader(gateway):
    return account(gateway)


def compose(gateway, who, text: str) -> str:
    code, _, body = http("POST", f"{gateway}/v1/tweet", {"twitterContent": text, "images": [], "userId": who["id"]},
                         headers=who["auth"])
    assert code == 201, body
    return body["tweetId"]


def search(gateway, who, query: str, *, limit: int = 0, cursor: str = "", order: str = "", path: str = "/v1/search"):
    params = {"tweetName": query}
    if order:
        params["order"] = order
    if limit:
        params["limitValue"] = str(limit)
    if cursor:
        params["cursorValue"] = cursor
    return http("GET", f"{gateway}{path}?{urllib.parse.urlencode(params)}", headers=who["auth"])


def found(gateway, who, query: str, **options) -> list[str]:
    code, _, body = search(gateway, who, query, **options)
    assert code == 200, body
    return [result["tweetId"] for result in body["results"]]


def wait_until(condition, within_s: float) -> float:
    """Seconds until `condition()` held; fails after `within_s` (plus one last look)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within_s:
            assert condition(), f"not within {within_s}s"
            break
        time.sleep(0.02)
    return time.monotonic() - started


def unique_word() -> str:
    return f"zq{uuid.uuid4().hex[:10]}"


def test_a_new_tweet_is_found_within_a_second_in_the_seed_shape_on_both_spellings(gateway, author, reader):
    word = unique_word()
    tweet_id = compose(gateway, author, f"Searching for {word} today")
    wait_until(lambda: found(gateway, reader, word) == [tweet_id], FINDABLE_WITHIN_S)
    code, _, body = search(gateway, reader, word, limit=20)
    assert code == 200, body
    assert body["results"] == [{
        "tweetId": tweet_id, "tweetName": f"Searching for {word} today", "postedBy": author["id"],
        "createTime": body["results"][0]["createTime"],
    }]
    assert body["nextCursor"] == ""
    assert search(gateway, reader, word, limit=20, path="/v1/seach")[2] == body


def test_a_deleted_tweet_is_no_longer_found_within_a_second(gateway, author, reader):
    word = unique_word()
    kept, doomed = compose(gateway, author, f"{word} stays"), compose(gateway, author, f"{word} goes")
    wait_until(lambda: sorted(found(gateway, reader, word)) == sorted([kept, doomed]), FINDABLE_WITHIN_S)
    code, _, body = http("DELETE", f"{gateway}/v1/tweet/{doomed}", headers=author["auth"])
    assert code == 200, body
    wait_until(lambda: found(gateway, reader, word) == [kept], FINDABLE_WITHIN_S)


def test_paging_returns_every_hit_exactly_once(gateway, author, reader):
    word = unique_word()
    posted = [compose(gateway, author, f"{word} number {n}") for n in range(7)]
    wait_until(lambda: len(found(gateway, reader, word, limit=10)) == 7, FINDABLE_WITHIN_S)
    pages, cursor = [], ""
    while True:
        code, _, body = search(gateway, reader, word, limit=3, cursor=cursor)
        assert code == 200, body
        pages.append([result["tweetId"] for result in body["results"]])
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [tweet_id for page in pages for tweet_id in page] == list(reversed(posted))  # newest first


def test_newest_first_on_request_best_match_otherwise(gateway, author, reader):
    word, other = unique_word(), unique_word()
    older = compose(gateway, author, f"{word} {other} matches both words")
    newer = compose(gateway, author, f"{word} matches one word")
    wait_until(lambda: len(found(gateway, reader, word)) == 2, FINDABLE_WITHIN_S)
    assert found(gateway, reader, f"{word} {other}") == [older, newer]
    assert found(gateway, reader, f"{word} {other}", order="SEARCH_ORDER_BEST_MATCH") == [older, newer]
    assert found(gateway, reader, f"{word} {other}", order="SEARCH_ORDER_NEWEST") == [newer, older]
    assert found(gateway, reader, f"{word} {other}", order="search_order_newest") == [newer, older]

    code, _, first = search(gateway, reader, f"{word} {other}", limit=1, order="SEARCH_ORDER_NEWEST")
    assert code == 200 and first["nextCursor"], first
    code, _, body = search(gateway, reader, f"{word} {other}", limit=1, cursor=first["nextCursor"])
    assert code == 400 and body["error"]["reason"] == "INVALID_PAGE_TOKEN", body  # another order
    code, _, body = search(gateway, reader, f"{word} {other}", limit=1, cursor=first["nextCursor"],
                           order="SEARCH_ORDER_NEWEST")
    assert code == 200 and [r["tweetId"] for r in body["results"]] == [older] and body["nextCursor"] == "", body


def test_hashtags_and_authors_narrow_a_search(gateway, author, reader):
    tag, word = unique_word(), unique_word()
    tagged = compose(gateway, author, f"about #{tag.upper()} and {word}")
    untagged = compose(gateway, author, f"about {word} only")
    by_reader = compose(gateway, reader, f"#{tag} from the reader")
    wait_until(lambda: len(found(gateway, reader, f"#{tag}")) == 2, FINDABLE_WITHIN_S)
    assert found(gateway, reader, f"#{tag}") == [by_reader, tagged]
    assert found(gateway, reader, f"from:{author['handle']} #{tag}") == [tagged]
    assert found(gateway, reader, f"from:{author['handle'].upper()} {word}") == [untagged, tagged]
    assert found(gateway, reader, f"from:{reader['handle']} {word}") == []


def test_an_empty_or_blank_query_is_400_and_no_token_is_401(gateway, reader):
    for query in ("", "   "):
        code, _, body = search(gateway, reader, query)
        assert code == 400 and "tweet_name" in body["error"]["message"], body
    code, _, _ = http("GET", f"{gateway}/v1/search?tweetName=hello")
    assert code == 401


def test_a_forged_cursor_is_400(gateway, reader):
    code, _, body = search(gateway, reader, "hello", cursor="bm90LWEtY3Vyc29y")
    assert code == 400 and body["error"]["reason"] == "INVALID_PAGE_TOKEN", body


def test_tweets_of_an_author_who_blocks_the_caller_are_left_out_until_unblocked(gateway, author, reader):
    word = unique_word()
    tweet_id = compose(gateway, author, f"{word} not for everyone")
    wait_until(lambda: found(gateway, reader, word) == [tweet_id], FINDABLE_WITHIN_S)
    code, _, body = http("POST", f"{gateway}/v1/blocks/{reader['id']}", {"blockedUserId": reader["id"]},
                         headers=author["auth"])
    assert code == 200, body
    assert found(gateway, reader, word) == []
    assert found(gateway, author, word) == [tweet_id]

    code, _, body = http("DELETE", f"{gateway}/v1/blocks/{reader['id']}", headers=author["auth"])
    assert code == 200, body
    assert found(gateway, reader, word) == [tweet_id]


def test_users_are_found_by_handle_prefix(gateway, reader):
    someone = account(gateway)
    prefix = someone["handle"][:9].upper()

    def handles() -> list[str]:
        code, _, body = http("GET", f"{gateway}/v1/users:search?handlePrefix={prefix}", headers=reader["auth"])
        assert code == 200, body
        return [user["handle"] for user in body["users"]]

    wait_until(lambda: handles() == [someone["handle"]], 2.0)
