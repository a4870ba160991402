"""Likes and comments through the gateway, on the seed's REST paths and bodies."""

from __future__ import annotations

import urllib.parse
import uuid

import pytest

from tests.e2e.conftest import account, http


@pytest.fixture
def author(gateway):
    return account(gateway)


@pytest.fixture
def fan(gateway):
    return account(gateway)


@pytest.fixture
def stranger(gateway):
    return account(gateway)


def compose(gateway, who, text: str) -> str:
    code, _, body = http("POST", f"{gateway}/v1/tweet", {"twitterContent": text, "images": [], "userId": who["id"]},
                         headers=who["auth"])
    assert code == 201, body
    return body["tweetId"]


def get_tweet(gateway, who, tweet_id: str) -> dict:
    code, _, body = http("GET", f"{gateway}/v1/tweets/{tweet_id}", headers=who["auth"])
    assert code == 200, body
    return body["tweet"]


def comment_by_query(gateway, who, tweet_id: str, text: str):
    """The seed's form: the text in the query string, no body."""
    return http("POST", f"{gateway}/v1/comment/{tweet_id}?commentString={urllib.parse.quote(text)}", headers=who["auth"])


def list_comments(gateway, who, tweet_id: str, page_size: int) -> list[dict]:
    comments, token = [], ""
    for _ in range(20):
        query = f"pageSize={page_size}" + (f"&pageToken={token}" if token else "")
        code, _, page = http("GET", f"{gateway}/v1/tweets/{tweet_id}/comments?{query}", headers=who["auth"])
        assert code == 200, page
        assert len(page.get("comments", [])) <= page_size
        comments += page.get("comments", [])
        token = page.get("nextPageToken", "")
        if not token:
            return comments
    raise AssertionError("the pages never ended")


def test_liking_twice_is_one_like_and_unliking_takes_it_back(gateway, author, fan):
    tweet_id = compose(gateway, author, "like me once")
    for body in (None, {}):  # with and without a JSON body, as clients send it
        code, _, answer = http("POST", f"{gateway}/v1/like/{tweet_id}", body, headers=fan["auth"])
        assert (code, answer) == (200, {"message": "successfully liked"})
    seen_by_fan = get_tweet(gateway, fan, tweet_id)
    assert seen_by_fan["likeCount"] == 1 and seen_by_fan["callerLiked"] is True
    assert get_tweet(gateway, author, tweet_id)["callerLiked"] is False

    code, _, answer = http("DELETE", f"{gateway}/v1/like/{tweet_id}", headers=fan["auth"])
    assert code == 200 and answer["message"] == "successfully unliked", answer
    seen_by_fan = get_tweet(gateway, fan, tweet_id)
    assert seen_by_fan["likeCount"] == 0 and seen_by_fan["callerLiked"] is False
    assert http("DELETE", f"{gateway}/v1/like/{tweet_id}", headers=fan["auth"])[0] == 200  # nothing left: still fine


def test_who_liked_lists_the_most_recent_like_first(gateway, author, fan, stranger):
    tweet_id = compose(gateway, author, "who likes this?")
    for who in (fan, stranger):
        assert http("POST", f"{gateway}/v1/like/{tweet_id}", {}, headers=who["auth"])[0] == 200
    code, _, page = http("GET", f"{gateway}/v1/tweets/{tweet_id}/likes?pageSize=1", headers=author["auth"])
    assert code == 200, page
    assert [(u["userId"], u["handle"]) for u in page["users"]] == [(stranger["id"], stranger["handle"])]
    code, _, rest = http("GET", f"{gateway}/v1/tweets/{tweet_id}/likes?pageSize=1&pageToken={page['nextPageToken']}",
                         headers=author["auth"])
    assert code == 200 and [u["userId"] for u in rest["users"]] == [fan["id"]], rest


def test_liking_a_missing_tweet_is_404(gateway, fan):
    assert http("POST", f"{gateway}/v1/like/{uuid.uuid4().int % 10**15 + 1}", {}, headers=fan["auth"])[0] == 404


def test_a_comment_comes_in_the_query_string_or_in_a_json_body(gateway, author, fan):
    tweet_id = compose(gateway, author, "tell me")
    code, _, by_query = comment_by_query(gateway, fan, tweet_id, "first, & from the query string")
    assert code == 200 and by_query["message"] == "successfully added" and by_query["commentId"], by_query
    code, _, by_body = http("POST", f"{gateway}/v1/comment/{tweet_id}", {"commentString": "second, from the body"},
                            headers=fan["auth"])
    assert code == 200 and by_body["message"] == "successfully added" and by_body["commentId"], by_body
    assert get_tweet(gateway, author, tweet_id)["commentCount"] == 2
    listed = list_comments(gateway, author, tweet_id, 10)
    assert [(c["commentId"], c["text"], c["authorId"], c["author"]["handle"]) for c in listed] == [
        (by_query["commentId"], "first, & from the query string", fan["id"], fan["handle"]),
        (by_body["commentId"], "second, from the body", fan["id"], fan["handle"]),
    ]
    # neither, both, too long: 400 naming the rule
    for query, body in (("", None), ("?commentString=a", {"commentString": "b"}),
                        (f"?commentString={'x' * 281}", None)):
        code, _, answer = http("POST", f"{gateway}/v1/comment/{tweet_id}{query}", body, headers=fan["auth"])
        assert code == 400, (query, body, answer)


def test_comments_are_listed_oldest_first_page_by_page(gateway, author, fan, stranger):
    tweet_id = compose(gateway, author, "a thread of comments")
    written = []
    for i in range(5):
        who = fan if i % 2 == 0 else stranger
        code, _, body = comment_by_query(gateway, who, tweet_id, f"comment {i}")
        assert code == 200, body
        written.append(body["commentId"])
    listed = list_comments(gateway, author, tweet_id, 2)
    assert [c["commentId"] for c in listed] == written
    assert [c["text"] for c in listed] == [f"comment {i}" for i in range(5)]


def test_a_comment_is_deleted_by_its_tweets_author_not_by_a_stranger(gateway, author, fan, stranger):
    tweet_id = compose(gateway, author, "my tweet, my rules")
    _, _, added = comment_by_query(gateway, fan, tweet_id, "hmm")
    path = f"{gateway}/v1/tweets/{tweet_id}/comments/{added['commentId']}"
    code, _, answer = http("DELETE", path, headers=stranger["auth"])
    assert code == 403, answer
    assert get_tweet(gateway, author, tweet_id)["commentCount"] == 1
    code, _, answer = http("DELETE", path, headers=author["auth"])
    assert code == 200 and answer["message"] == "successfully deleted", answer
    assert get_tweet(gateway, author, tweet_id)["commentCount"] == 0
    assert list_comments(gateway, fan, tweet_id, 10) == []
    assert http("DELETE", path, headers=author["auth"])[0] == 404  # already gone


def test_commenting_on_a_missing_or_deleted_tweet_is_404(gateway, author, fan):
    code, _, answer = comment_by_query(gateway, fan, str(uuid.uuid4().int % 10**15 + 1), "anyone?")
    assert code == 404, answer
    tweet_id = compose(gateway, author, "here today")
    assert http("DELETE", f"{gateway}/v1/tweet/{tweet_id}", headers=author["auth"])[0] == 200
    assert comment_by_query(gateway, fan, tweet_id, "gone tomorrow")[0] == 404
    assert http("GET", f"{gateway}/v1/tweets/{tweet_id}/comments", headers=fan["auth"])[0] == 404
