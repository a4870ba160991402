"""Notifications through the gateway: what a user sees in GET /v1/notifications, live on the stream
(REST and gRPC), and receives on each registered device, exactly once, via the local APNs, FCM and
SMTP simulators the stack runs (deploy/provider_sim)."""

from __future__ import annotations

import json
import queue
import secrets
import threading
import time
import urllib.parse
import urllib.request

import grpc
import pytest

from mesh.config import Stack
from tests.conftest import require_listening
from tests.e2e.conftest import account, follow, http, wait_until
from tweetmesh.notify.v1 import notification_pb2
from tweetmesh.notify.v1 import notification_service_pb2 as pb
from tweetmesh.notify.v1 import notification_service_pb2_grpc

VISIBLE_WITHIN_S = 1.0  # the issue: "sees it in GET /v1/notifications within a second"


@pytest.fixture(scope="module")
def sims(stack: Stack) -> str:
    require_listening(stack.host, stack.provider_sim_control_port, "the provider simulators")
    return stack.provider_sim_control_url


def sim_get(sims: str, path: str, **query: str) -> list[dict]:
    url = f"{sims}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    return body if isinstance(body, list) else next(v for v in body.values() if isinstance(v, list))


@pytest.fixture
def author(gateway):
    return account(gateway)


@pytest.fixture
def fan(gateway):
    return account(gateway)


def compose(gateway, who, text: str) -> str:
    code, _, body = http("POST", f"{gateway}/v1/tweet", {"twitterContent": text, "images": [], "userId": who["id"]},
                         headers=who["auth"])
    assert code == 201, body
    return body["tweetId"]


def notifications(gateway, who, **query) -> list[dict]:
    suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
    code, _, body = http("GET", f"{gateway}/v1/notifications{suffix}", headers=who["auth"])
    assert code == 200, body
    return body.get("notifications", [])


def kinds(gateway, who) -> list[str]:
    return [n["kind"] for n in notifications(gateway, who)]


def unread(gateway, who) -> int:
    code, _, body = http("GET", f"{gateway}/v1/notifications:unreadCount", headers=who["auth"])
    assert code == 200, body
    return body.get("unreadCount", 0)


def register(gateway, who, body: dict) -> dict:
    code, _, answer = http("POST", f"{gateway}/v1/devices", body, headers=who["auth"])
    assert code == 200, answer
    return answer


def test_liked_commented_followed_mentioned_and_retweeted_each_show_within_a_second(gateway, author, fan):
    tweet_id = compose(gateway, author, "notify me")
    actions = [
        ("NOTIFICATION_KIND_FOLLOW", lambda: follow(gateway, fan, author)),
        ("NOTIFICATION_KIND_LIKE", lambda: http("POST", f"{gateway}/v1/like/{tweet_id}", headers=fan["auth"])),
        ("NOTIFICATION_KIND_COMMENT",
         lambda: http("POST", f"{gateway}/v1/comment/{tweet_id}?commentString=nice", headers=fan["auth"])),
        ("NOTIFICATION_KIND_RETWEET",
         lambda: http("POST", f"{gateway}/v1/share/{tweet_id}", {}, headers=fan["auth"])),
        ("NOTIFICATION_KIND_MENTION", lambda: compose(gateway, fan, f"hello @{author['handle']}")),
    ]
    for kind, act in actions:
        answer = act()
        if isinstance(answer, tuple):
            assert answer[0] == 200, answer
        waited = wait_until(lambda: kind in kinds(gateway, author), VISIBLE_WITHIN_S)
        print(f"{kind}: visible after {waited * 1000:.0f} ms")
    listed = notifications(gateway, author)
    assert {n["actorUserId"] for n in listed} == {fan["id"]}
    assert all(n["actor"]["handle"] == fan["handle"] for n in listed)
    like = next(n for n in listed if n["kind"] == "NOTIFICATION_KIND_LIKE")
    assert like["tweetId"] == tweet_id and not like.get("read", False)
    assert unread(gateway, author) == 5
    assert notifications(gateway, fan) == []  # nothing for the one who acted


def test_acting_on_your_own_tweet_notifies_nobody(gateway, author):
    tweet_id = compose(gateway, author, "my own")
    assert http("POST", f"{gateway}/v1/like/{tweet_id}", headers=author["auth"])[0] == 200
    assert http("POST", f"{gateway}/v1/comment/{tweet_id}?commentString=me", headers=author["auth"])[0] == 200
    time.sleep(0.5)
    assert notifications(gateway, author) == []


def test_unlike_takes_the_notification_back(gateway, author, fan):
    tweet_id = compose(gateway, author, "like and unlike")
    http("POST", f"{gateway}/v1/like/{tweet_id}", headers=fan["auth"])
    wait_until(lambda: kinds(gateway, author) == ["NOTIFICATION_KIND_LIKE"], VISIBLE_WITHIN_S)
    assert http("DELETE", f"{gateway}/v1/like/{tweet_id}", headers=fan["auth"])[0] == 200
    wait_until(lambda: kinds(gateway, author) == [], VISIBLE_WITHIN_S)


def test_mark_read_through_an_id_and_the_unread_filter(gateway, author, fan):
    tweets = [compose(gateway, author, f"tweet {i}") for i in range(3)]
    for tweet_id in tweets:
        http("POST", f"{gateway}/v1/like/{tweet_id}", headers=fan["auth"])
    wait_until(lambda: unread(gateway, author) == 3, VISIBLE_WITHIN_S)
    listed = notifications(gateway, author)
    code, _, body = http("POST", f"{gateway}/v1/notifications:markRead",
                         {"throughNotificationId": listed[1]["notificationId"]}, headers=author["auth"])
    assert code == 200 and body.get("unreadCount", 0) == 1, body
    assert [n["notificationId"] for n in notifications(gateway, author, unreadOnly="true")] == [listed[0]["notificationId"]]
    code, _, body = http("POST", f"{gateway}/v1/notifications:markRead",
                         {"notificationIds": [listed[0]["notificationId"]]}, headers=author["auth"])
    assert code == 200 and body.get("unreadCount", 0) == 0, body
    code, _, body = http("POST", f"{gateway}/v1/notifications:markRead", {}, headers=author["auth"])
    assert code == 400, body  # one of the two is required


def test_paging_through_notifications_returns_each_once(gateway, author, fan):
    tweets = [compose(gateway, author, f"page {i}") for i in range(5)]
    for tweet_id in tweets:
        http("POST", f"{gateway}/v1/like/{tweet_id}", headers=fan["auth"])
    wait_until(lambda: unread(gateway, author) == 5, VISIBLE_WITHIN_S)
    seen, token = [], ""
    for _ in range(10):
        query = {"pageSize": "2", **({"pageToken": token} if token else {})}
        code, _, page = http("GET", f"{gateway}/v1/notifications?{urllib.parse.urlencode(query)}", headers=author["auth"])
        assert code == 200, page
        seen += [n["tweetId"] for n in page.get("notifications", [])]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert seen == list(reversed(tweets))


def test_a_notification_reaches_each_registered_channel_exactly_once(gateway, sims, author, fan):
    apns_token, fcm_token = secrets.token_hex(32), f"fcm_{secrets.token_urlsafe(40)}"
    email = f"{author['handle']}@example.com"
    register(gateway, author, {"apnsToken": apns_token, "label": "phone"})
    register(gateway, author, {"fcmToken": fcm_token, "label": "tablet"})
    register(gateway, author, {"email": email, "label": "mail"})
    code, _, body = http("PATCH", f"{gateway}/v1/notificationPreferences", {"preferences": [
        {"kind": "NOTIFICATION_KIND_LIKE", "channel": "NOTIFICATION_CHANNEL_EMAIL", "enabled": True}]},
        headers=author["auth"])
    assert code == 200, body
    tweet_id = compose(gateway, author, "deliver me")
    assert http("POST", f"{gateway}/v1/like/{tweet_id}", headers=fan["auth"])[0] == 200
    wait_until(lambda: (len(sim_get(sims, "/apns/requests", token=apns_token)) == 1
                        and len(sim_get(sims, "/fcm/requests", token=fcm_token)) == 1
                        and len(sim_get(sims, "/smtp/messages", to=email)) == 1), 5.0)
    time.sleep(1.5)  # a duplicate would come from a redelivery: give it the time to show
    apns = sim_get(sims, "/apns/requests", token=apns_token)
    fcm = sim_get(sims, "/fcm/requests", token=fcm_token)
    mails = sim_get(sims, "/smtp/messages", to=email)
    assert [r["status"] for r in apns] == [200] and [r["status"] for r in fcm] == [200] and len(mails) == 1
    assert f"@{fan['handle']}" in json.dumps(apns[0]["payload"]) and "liked your tweet" in json.dumps(apns[0]["payload"])
    assert "liked your tweet" in json.dumps(fcm[0]["message"])
    assert "liked your tweet" in json.dumps(mails[0])


def test_an_unregistered_device_gets_nothing_more(gateway, sims, author, fan):
    apns_token = secrets.token_hex(32)
    device = register(gateway, author, {"apnsToken": apns_token, "label": "old phone"})
    code, _, body = http("GET", f"{gateway}/v1/devices", headers=author["auth"])
    assert code == 200 and [d["addressHint"] for d in body["devices"]] == [apns_token[-6:]], body
    assert http("DELETE", f"{gateway}/v1/devices/{device['deviceId']}", headers=author["auth"])[0] == 200
    assert http("DELETE", f"{gateway}/v1/devices/{device['deviceId']}", headers=author["auth"])[0] == 404
    follow(gateway, fan, author)
    wait_until(lambda: "NOTIFICATION_KIND_FOLLOW" in kinds(gateway, author), VISIBLE_WITHIN_S)
    time.sleep(1.0)
    assert sim_get(sims, "/apns/requests", token=apns_token) == []


def test_an_apns_token_apple_says_is_gone_is_removed(gateway, sims, author, fan):
    apns_token = secrets.token_hex(32)
    register(gateway, author, {"apnsToken": apns_token, "label": "wiped phone"})
    request = urllib.request.Request(f"{sims}/apns/unregister", data=json.dumps({"token": apns_token}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()
    follow(gateway, fan, author)

    def devices() -> list[dict]:
        return http("GET", f"{gateway}/v1/devices", headers=author["auth"])[2].get("devices", [])

    wait_until(lambda: devices() == [], 5.0)
    assert [r["status"] for r in sim_get(sims, "/apns/requests", token=apns_token)] == [410]


def _read_stream_lines(response, into: queue.Queue) -> None:
    try:
        for line in response:
            if line.strip():
                into.put(json.loads(line))
    except Exception as exc:  # noqa: BLE001 - the test closes the response to end this thread
        into.put(exc)


def test_the_rest_stream_pushes_a_new_notification_live(gateway, author, fan):
    tweet_id = compose(gateway, author, "stream me")
    request = urllib.request.Request(f"{gateway}/v1/notifications:stream", headers=author["auth"])
    response = urllib.request.urlopen(request, timeout=10)
    received: queue.Queue = queue.Queue()
    threading.Thread(target=_read_stream_lines, args=(response, received), daemon=True).start()
    try:
        first = received.get(timeout=5)
        assert "heartbeat" in first, first
        started = time.monotonic()
        assert http("POST", f"{gateway}/v1/like/{tweet_id}", headers=fan["auth"])[0] == 200
        pushed = received.get(timeout=5)
        print(f"pushed on the REST stream after {(time.monotonic() - started) * 1000:.0f} ms")
        assert pushed["notification"]["kind"] == "NOTIFICATION_KIND_LIKE"
        assert pushed["notification"]["actor"]["handle"] == fan["handle"]
        assert pushed["unreadCount"] == 1
    finally:
        response.close()


def test_the_grpc_stream_through_envoy_resumes_after_an_id(gateway, stack, author, fan):
    tweet_id = compose(gateway, author, "resume me")
    http("POST", f"{gateway}/v1/like/{tweet_id}", headers=fan["auth"])
    wait_until(lambda: len(notifications(gateway, author)) == 1, VISIBLE_WITHIN_S)
    http("POST", f"{gateway}/v1/comment/{tweet_id}?commentString=first", headers=fan["auth"])
    wait_until(lambda: len(notifications(gateway, author)) == 2, VISIBLE_WITHIN_S)
    newest, oldest = notifications(gateway, author)
    with grpc.insecure_channel(f"{stack.host}:{stack.envoy_port}") as channel:
        stub = notification_service_pb2_grpc.NotificationServiceStub(channel)
        stream = stub.StreamNotifications(
            pb.StreamNotificationsRequest(after_notification_id=oldest["notificationId"]),
            metadata=(("authorization", author["auth"]["Authorization"]),), timeout=10,
        )
        try:
            assert next(stream).WhichOneof("event") == "heartbeat"
            missed = next(stream)
            assert missed.notification.notification_id == newest["notificationId"]
            follow(gateway, fan, author)
            live = next(stream)
            assert live.notification.kind == notification_pb2.NOTIFICATION_KIND_FOLLOW
        finally:
            stream.cancel()


def test_notifications_need_a_signed_in_user(gateway):
    assert http("GET", f"{gateway}/v1/notifications")[0] == 401
