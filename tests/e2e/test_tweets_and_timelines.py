"""Tweets, media and home timelines through the gateway, as the seed's REST client uses them."""

from __future__ import annotations

import asyncio
import urllib.request
import uuid

import pytest

from mesh import cql
from tests.e2e.conftest import account, follow, http, wait_until

VISIBLE_WITHIN_S = 1.0  # a follower sees a new tweet within a second of its 201


@pytest.fixture
def author(gateway):
    return account(gateway)


@pytest.fixture
def reader(gateway):
    return account(gateway)


def compose(gateway, who, text: str, images: list[str] | None = None):
    return http("POST", f"{gateway}/v1/tweet", {"twitterContent": text, "images": images or [], "userId": who["id"]},
                headers=who["auth"])


def home_ids(gateway, who, page_size: int = 50) -> list[str]:
    code, _, body = http("GET", f"{gateway}/v1/timelines/home?pageSize={page_size}", headers=who["auth"])
    assert code == 200, body
    return [t["tweetId"] for t in body.get("tweets", [])]


def test_compose_answers_201_with_the_id_and_the_tweet_reads_back(gateway, author):
    text = f"hello \N{EARTH GLOBE EUROPE-AFRICA} {uuid.uuid4().hex[:6]}"
    code, _, body = compose(gateway, author, text)
    assert code == 201, body
    tweet_id = body["tweetId"]
    code, _, got = http("GET", f"{gateway}/v1/tweets/{tweet_id}", headers=author["auth"])
    assert code == 200, got
    assert (got["tweet"]["tweetId"], got["tweet"]["authorId"], got["tweet"]["text"]) == (tweet_id, author["id"], text)
    assert got["tweet"]["createTime"]


def test_composing_as_someone_else_is_403(gateway, author, reader):
    code, _, body = http("POST", f"{gateway}/v1/tweet", {"twitterContent": "not mine", "images": [], "userId": reader["id"]},
                         headers=author["auth"])
    assert code == 403, body


def test_281_characters_is_400_and_280_is_fine(gateway, author):
    code, _, body = compose(gateway, author, "\N{GRINNING FACE}" * 281)
    assert code == 400 and "twitter_content" in body["error"]["message"], body
    assert compose(gateway, author, "\N{GRINNING FACE}" * 280)[0] == 201


def test_a_follower_sees_a_new_tweet_in_the_home_timeline_within_a_second(gateway, author, reader):
    assert follow(gateway, reader, author)[0] == 200
    code, _, body = compose(gateway, author, "fresh off the press")
    assert code == 201, body
    took = wait_until(lambda: body["tweetId"] in home_ids(gateway, reader), VISIBLE_WITHIN_S)
    assert took <= VISIBLE_WITHIN_S


def test_following_backfills_and_unfollowing_removes(gateway, author, reader):
    code, _, body = compose(gateway, author, "written before you followed")
    assert code == 201, body
    assert follow(gateway, reader, author)[0] == 200
    wait_until(lambda: body["tweetId"] in home_ids(gateway, reader), 2.0)
    assert http("DELETE", f"{gateway}/v1/follow/{author['id']}", headers=reader["auth"])[0] == 200
    wait_until(lambda: body["tweetId"] not in home_ids(gateway, reader), 2.0)


def test_a_deleted_tweet_disappears_from_home_user_timeline_and_reads(gateway, author, reader):
    assert follow(gateway, reader, author)[0] == 200
    _, _, body = compose(gateway, author, "regrettable")
    tweet_id = body["tweetId"]
    wait_until(lambda: tweet_id in home_ids(gateway, reader), 2.0)

    code, _, deleted = http("DELETE", f"{gateway}/v1/tweet/{tweet_id}", headers=author["auth"])
    assert code == 200, deleted
    assert http("GET", f"{gateway}/v1/tweets/{tweet_id}", headers=reader["auth"])[0] == 404
    _, _, own = http("GET", f"{gateway}/v1/users/{author['id']}/tweets", headers=reader["auth"])
    assert tweet_id not in [t["tweetId"] for t in own.get("tweets", [])]
    wait_until(lambda: tweet_id not in home_ids(gateway, reader), 2.0)


def test_the_readers_own_like_and_mute_show_on_the_next_home_reads(gateway, author, reader):
    # the first home page is kept rendered: the reader's own changes must still reach it (by their events)
    assert follow(gateway, reader, author)[0] == 200
    _, _, body = compose(gateway, author, "like me from your home")
    tweet_id = body["tweetId"]
    wait_until(lambda: tweet_id in home_ids(gateway, reader), 2.0)

    def liked_on_home() -> bool:
        _, _, home = http("GET", f"{gateway}/v1/timelines/home?pageSize=50", headers=reader["auth"])
        return any(t["tweetId"] == tweet_id and t.get("callerLiked") for t in home.get("tweets", []))

    assert not liked_on_home()
    assert http("POST", f"{gateway}/v1/like/{tweet_id}", {}, headers=reader["auth"])[0] == 200
    wait_until(liked_on_home, 2.0)
    assert http("POST", f"{gateway}/v1/mutes/{author['id']}", {}, headers=reader["auth"])[0] == 200
    wait_until(lambda: tweet_id not in home_ids(gateway, reader), 2.0)


def test_others_likes_and_the_authors_new_name_show_on_the_readers_kept_home_page(gateway, author, reader):
    # the page is kept rendered for minutes: others' changes to what it shows must reach it by their events
    assert follow(gateway, reader, author)[0] == 200
    _, _, body = compose(gateway, author, "count my likes")
    tweet_id = body["tweetId"]
    wait_until(lambda: tweet_id in home_ids(gateway, reader), 2.0)

    def shown_on_home() -> dict:
        _, _, home = http("GET", f"{gateway}/v1/timelines/home?pageSize=50", headers=reader["auth"])
        return next(t for t in home.get("tweets", []) if t["tweetId"] == tweet_id)

    assert shown_on_home().get("likeCount", 0) == 0
    liker = account(gateway)
    assert http("POST", f"{gateway}/v1/like/{tweet_id}", {}, headers=liker["auth"])[0] == 200
    wait_until(lambda: shown_on_home().get("likeCount") == 1, 2.0)
    assert http("PATCH", f"{gateway}/v1/users/{author['id']}", {"displayName": "Renamed Author"},
                headers=author["auth"])[0] == 200
    wait_until(lambda: shown_on_home()["author"].get("displayName") == "Renamed Author", 2.0)


def test_only_the_author_may_delete(gateway, author, reader):
    _, _, body = compose(gateway, author, "mine alone")
    code, _, answer = http("DELETE", f"{gateway}/v1/tweet/{body['tweetId']}", headers=reader["auth"])
    assert code == 403, answer
    assert http("GET", f"{gateway}/v1/tweets/{body['tweetId']}", headers=reader["auth"])[0] == 200


def test_home_timeline_pages_through_every_tweet_once(gateway, author, reader):
    assert follow(gateway, reader, author)[0] == 200
    written = [compose(gateway, author, f"tweet {i}")[2]["tweetId"] for i in range(7)]
    wait_until(lambda: set(written) <= set(home_ids(gateway, reader)), 2.0)
    seen, token = [], ""
    for _ in range(10):
        query = "pageSize=3" + (f"&pageToken={token}" if token else "")
        code, _, page = http("GET", f"{gateway}/v1/timelines/home?{query}", headers=reader["auth"])
        assert code == 200, page
        seen += [t["tweetId"] for t in page.get("tweets", [])]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert [t for t in seen if t in written] == list(reversed(written))  # newest first, each once


def test_retweet_returns_one_retweet_id_however_often_it_is_asked(gateway, author, reader):
    _, _, body = compose(gateway, author, "worth sharing")
    first = http("POST", f"{gateway}/v1/share/{body['tweetId']}", {}, headers=reader["auth"])
    again = http("POST", f"{gateway}/v1/share/{body['tweetId']}", {}, headers=reader["auth"])
    assert first[0] == again[0] == 200, (first, again)
    assert first[2]["tweetId"] == again[2]["tweetId"] != body["tweetId"]


def test_media_upload_through_the_presigned_url_then_attach_then_read_back(gateway, author):
    picture = b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes * 64
    code, _, slot = http("POST", f"{gateway}/v1/media", {"contentType": "image/png", "sizeBytes": len(picture)},
                         headers=author["auth"])
    assert code == 200, slot
    upload = urllib.request.Request(slot["uploadUrl"], data=picture, method=slot.get("uploadMethod") or "PUT",
                                    headers=slot.get("uploadHeaders") or {"Content-Type": "image/png"})
    with urllib.request.urlopen(upload, timeout=10) as response:
        assert response.status == 200
    code, _, done = http("POST", f"{gateway}/v1/media/{slot['mediaId']}:complete", {}, headers=author["auth"])
    assert code == 200, done

    code, _, body = compose(gateway, author, "look at this", images=[slot["mediaId"]])
    assert code == 201, body
    _, _, got = http("GET", f"{gateway}/v1/tweets/{body['tweetId']}", headers=author["auth"])
    (media,) = got["tweet"]["media"]
    with urllib.request.urlopen(media["url"], timeout=10) as response:
        assert response.read() == picture


def test_attaching_media_that_was_never_uploaded_is_refused(gateway, author):
    _, _, slot = http("POST", f"{gateway}/v1/media", {"contentType": "image/jpeg", "sizeBytes": 1000}, headers=author["auth"])
    code, _, body = compose(gateway, author, "phantom picture", images=[slot["mediaId"]])
    assert code == 400, body  # FAILED_PRECONDITION: the upload was not completed
    code, _, body = http("POST", f"{gateway}/v1/media/{slot['mediaId']}:complete", {}, headers=author["auth"])
    assert code == 400 and body["error"]["message"], body  # nothing was uploaded to the slot


def test_a_disallowed_content_type_is_400(gateway, author):
    code, _, body = http("POST", f"{gateway}/v1/media", {"contentType": "application/x-msdownload", "sizeBytes": 10},
                         headers=author["auth"])
    assert code == 400 and "content_type" in body["error"]["message"], body


def test_a_celebrity_tweet_reaches_followers_without_fan_out_writes(stack, gateway, author):
    fans = [account(gateway) for _ in range(6)]
    for fan in fans:
        assert follow(gateway, fan, author)[0] == 200
    _, _, profile = http("GET", f"{gateway}/v1/users/{author['id']}", headers=author["auth"])
    assert profile["user"].get("celebrity"), (
        "6 followers did not make a celebrity: this mesh runs with a higher TM_CELEBRITY_THRESHOLD "
        "than `make test` sets (5); restart it with `make down test`"
    )

    code, _, body = compose(gateway, author, "a word to my many fans")
    assert code == 201, body
    for fan in fans:
        wait_until(lambda: body["tweetId"] in home_ids(gateway, fan), VISIBLE_WITHIN_S)

    async def stored_home_rows() -> int:
        session = await cql.connect(stack, keyspace=stack.cql_keyspace)
        try:
            found = 0
            for fan in fans:
                rows = await cql.execute(session, "SELECT tweet_id FROM home_timeline WHERE user_id = %s AND tweet_id = %s",
                                         (int(fan["id"]), int(body["tweetId"])))
                found += len(list(rows))
            return found
        finally:
            await cql.close(session)

    assert asyncio.run(stored_home_rows()) == 0  # merged at read time, never written to a home
