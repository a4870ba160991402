"""The delivery use case (svc_notify.delivery) over the in-memory fakes: what each device receives,
what is retried and when, what is dead-lettered and which devices are removed."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from svc_notify import messages
from svc_notify.delivery import DeliveryWorker, Result, render, retry_delays_from_env
from svc_notify.domain import Device, Kind, Notification, Platform, SendOutcome, SendResult
from svc_notify.ports import ActorProfile, DeliveryRequest, TargetHolder
from svc_notify.testing import FakeDeadLetters, FakeDeliveryLog, FakeDeviceStore, FakeSender

ALICE, BOB, CAROL = 101, 202, 303
PHONE, LAPTOP = 9001, 9002
WHEN = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
DELAYS = (1.0, 5.0, 30.0)


def notification(kind: Kind = Kind.LIKE, **ids: int) -> Notification:
    return Notification(notification_id=777, recipient_id=BOB, kind=kind, actor_id=ALICE, create_time=WHEN, **ids)


def request(kind: Kind = Kind.LIKE, *, platform: Platform = Platform.APNS, device_id: int = PHONE,
            actor: ActorProfile | None = ActorProfile(ALICE, "alice", "Alice"), **ids: int) -> DeliveryRequest:
    return DeliveryRequest(notification(kind, **ids), device_id, platform, actor, unread_count=3)


def payload(r: DeliveryRequest) -> bytes:
    return messages.delivery_requested(r).SerializeToString()


class World:
    def __init__(self, script=(), **worker_options):
        self.devices = FakeDeviceStore()
        self.log = FakeDeliveryLog()
        self.apns = FakeSender(script)
        self.email = FakeSender()
        self.dead = FakeDeadLetters()
        options = {"retry_delays_s": DELAYS, "max_attempts": len(DELAYS) + 1, **worker_options}
        self.worker = DeliveryWorker(
            self.devices, self.log, {Platform.APNS: self.apns, Platform.EMAIL: self.email}, self.dead, **options
        )

    async def register(self, user_id: int, device_id: int, platform: Platform, target: str) -> Device:
        device = Device(device_id, user_id, platform, target, "phone", WHEN)
        await self.devices.put(device)
        await self.devices.claim_target(platform, target, TargetHolder(user_id, device_id))
        return device

    async def attempt(self, r: DeliveryRequest, n: int):
        return await self.worker.deliver(r, attempt=n, payload=payload(r))


async def test_a_delivery_is_sent_once_recorded_and_acknowledged():
    world = World()
    await world.register(BOB, PHONE, Platform.APNS, "tok-bob")
    r = request()
    decision = await world.attempt(r, 1)
    assert decision.ack and decision.result is Result.DELIVERED
    assert [(target, m.delivery_id) for target, m in world.apns.delivered] == [("tok-bob", "777-9001")]
    assert await world.log.delivered("777-9001")
    assert world.email.attempts == [] and world.dead.buried == []


async def test_a_work_item_redelivered_after_its_success_sends_nothing():
    world = World()
    await world.register(BOB, PHONE, Platform.APNS, "tok-bob")
    r = request()
    await world.attempt(r, 1)
    again = await world.attempt(r, 2)  # crash between the provider's yes and the ack
    assert again.ack and again.result is Result.DUPLICATE
    assert len(world.apns.attempts) == 1


async def test_each_registered_channel_gets_its_own_delivery_once():
    world = World()
    await world.register(BOB, PHONE, Platform.APNS, "tok-bob")
    await world.register(BOB, LAPTOP, Platform.EMAIL, "bob@example.com")
    for r in (request(), request(platform=Platform.EMAIL, device_id=LAPTOP)):
        for attempt in (1, 2):
            assert (await world.attempt(r, attempt)).ack
    assert [t for t, _ in world.apns.delivered] == ["tok-bob"]
    assert [t for t, _ in world.email.delivered] == ["bob@example.com"]


async def test_provider_unavailable_is_retried_with_growing_delays_then_delivered():
    unavailable = SendResult(SendOutcome.RETRY, "503 ServiceUnavailable")
    world = World([unavailable, unavailable, unavailable])
    await world.register(BOB, PHONE, Platform.APNS, "tok-bob")
    r = request()
    decisions = [await world.attempt(r, n) for n in (1, 2, 3)]
    assert [d.result for d in decisions] == [Result.RETRY] * 3
    assert [d.retry_in_s for d in decisions] == [1.0, 5.0, 30.0]
    assert not any(d.ack for d in decisions) and decisions[0].detail == "503 ServiceUnavailable"
    final = await world.attempt(r, 4)
    assert final.result is Result.DELIVERED and len(world.apns.delivered) == 1 and world.dead.buried == []


async def test_the_last_delay_repeats_and_retry_after_is_honoured_within_the_cap():
    world = World(
        [SendResult(SendOutcome.RETRY, "429 TooManyRequests", retry_after_s=20.0),
         SendResult(SendOutcome.RETRY, "429 TooManyRequests", retry_after_s=2.0),
         SendResult(SendOutcome.RETRY, "429 TooManyRequests", retry_after_s=3600.0)],
        max_attempts=10,
    )
    await world.register(BOB, PHONE, Platform.APNS, "tok-bob")
    r = request()
    assert (await world.attempt(r, 1)).retry_in_s == 20.0  # Retry-After longer than the backoff
    assert (await world.attempt(r, 2)).retry_in_s == 5.0  # backoff longer than Retry-After
    assert (await world.attempt(r, 7)).retry_in_s == 30.0  # an hour asked, capped at the longest delay
    assert world.worker.backoff(9) == 30.0


async def test_after_the_last_attempt_the_item_is_dead_lettered_with_the_reason():
    world = World([SendResult(SendOutcome.RETRY, "500 InternalServerError")] * 4)
    await world.register(BOB, PHONE, Platform.APNS, "tok-bob")
    r = request()
    for n in (1, 2, 3):
        assert not (await world.attempt(r, n)).ack
    final = await world.attempt(r, 4)
    assert final.ack and final.result is Result.BURIED
    (buried,) = world.dead.buried
    assert buried["queue"] == "apns" and buried["delivery_id"] == "777-9001" and buried["attempts"] == 4
    assert "500 InternalServerError" in buried["reason"] and "4 attempts" in buried["reason"]
    assert buried["payload"] == payload(r)  # the work item as queued: replayable as it is
    assert not await world.log.delivered("777-9001")


async def test_a_sender_that_raises_counts_as_a_retry_with_its_error():
    class Broken(FakeSender):
        async def send(self, target, message):
            raise KeyError("badge")

    world = World(max_attempts=2)
    world.worker._senders[Platform.APNS] = Broken()
    await world.register(BOB, PHONE, Platform.APNS, "tok-bob")
    first = await world.attempt(request(), 1)
    assert first.result is Result.RETRY and first.retry_in_s == 1.0 and "KeyError" in first.detail
    assert (await world.attempt(request(), 2)).result is Result.BURIED
    assert "KeyError('badge')" in world.dead.buried[0]["reason"]


async def test_a_send_that_never_returns_is_a_retry_after_the_send_timeout():
    class Hung(FakeSender):
        async def send(self, target, message):
            await asyncio.sleep(3600)

    world = World(send_timeout_s=0.05)
    world.worker._senders[Platform.APNS] = Hung()
    await world.register(BOB, PHONE, Platform.APNS, "tok-bob")
    decision = await world.attempt(request(), 1)
    assert decision.result is Result.RETRY and "no answer" in decision.detail


async def test_an_unregistered_token_removes_the_device_and_releases_the_token():
    world = World([SendResult(SendOutcome.TARGET_GONE, "410 Unregistered")])
    await world.register(BOB, PHONE, Platform.APNS, "tok-bob")
    decision = await world.attempt(request(), 1)
    assert decision.ack and decision.result is Result.TARGET_GONE
    assert await world.devices.list(BOB) == []
    assert (Platform.APNS, "tok-bob") not in world.devices.targets  # free for whoever registers it next
    assert world.dead.buried == [] and not await world.log.delivered("777-9001")


async def test_a_dead_token_that_moved_to_another_user_keeps_its_new_owner():
    world = World([SendResult(SendOutcome.TARGET_GONE, "400 BadDeviceToken")])
    await world.register(BOB, PHONE, Platform.APNS, "tok-shared")
    # the phone was signed in to Carol's account since: the token moved to her device
    carol_phone = await world.register(CAROL, 9100, Platform.APNS, "tok-shared")
    assert await world.devices.move_target(Platform.APNS, "tok-shared", old=TargetHolder(BOB, PHONE),
                                           new=TargetHolder(CAROL, 9100))
    await world.attempt(request(), 1)
    assert await world.devices.list(BOB) == []
    assert world.devices.targets[(Platform.APNS, "tok-shared")] == TargetHolder(CAROL, 9100)
    assert await world.devices.list(CAROL) == [carol_phone]


async def test_a_message_the_provider_rejects_is_dead_lettered_at_once():
    world = World([SendResult(SendOutcome.REJECTED, "400 PayloadTooLarge")])
    await world.register(BOB, PHONE, Platform.APNS, "tok-bob")
    decision = await world.attempt(request(), 1)
    assert decision.ack and decision.result is Result.BURIED
    (buried,) = world.dead.buried
    assert "400 PayloadTooLarge" in buried["reason"] and buried["attempts"] == 1
    assert [d.device_id for d in await world.devices.list(BOB)] == [PHONE]  # the device stays


async def test_a_device_removed_or_re_registered_elsewhere_gets_nothing():
    world = World()
    assert (await world.attempt(request(), 1)).result is Result.NO_DEVICE  # never registered / removed
    await world.register(BOB, PHONE, Platform.FCM, "fcm-tok")  # same id, another platform
    decision = await world.attempt(request(), 1)
    assert decision.ack and decision.result is Result.NO_DEVICE
    assert world.apns.attempts == [] and world.dead.buried == []


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        (Kind.LIKE, "liked your tweet"),
        (Kind.FOLLOW, "followed you"),
        (Kind.RETWEET, "retweeted your tweet"),
        (Kind.REPLY, "replied to your tweet"),
        (Kind.QUOTE, "quoted your tweet"),
        (Kind.COMMENT, "commented on your tweet"),
        (Kind.MENTION, "mentioned you"),
    ],
)
def test_render_says_who_did_what(kind, body):
    message = render(request(kind))
    assert (message.title, message.body, message.badge) == ("@alice", body, 3)
    assert message.data["kind"] == kind.name.lower()


def test_render_carries_what_the_app_opens_and_a_stable_delivery_id():
    message = render(request(Kind.COMMENT, tweet_id=55, comment_id=66))
    assert message.delivery_id == "777-9001" and message.notification_id == 777
    assert dict(message.data) == {
        "notification_id": "777", "kind": "comment", "actor_user_id": str(ALICE), "tweet_id": "55", "comment_id": "66",
    }
    assert render(request(Kind.COMMENT, tweet_id=55, comment_id=66)) == message  # the same on every attempt


def test_render_of_a_deleted_actor_says_someone():
    message = render(request(Kind.FOLLOW, actor=None))
    assert (message.title, message.body) == ("Someone", "followed you")
    assert "tweet_id" not in message.data


def test_retry_delays_come_from_the_environment(monkeypatch):
    assert retry_delays_from_env() == (1.0, 5.0, 30.0, 120.0, 600.0)
    monkeypatch.setenv("TM_NOTIFY_RETRY_DELAYS_S", "0.2, 0.5")
    assert retry_delays_from_env() == (0.2, 0.5)
    monkeypatch.setenv("TM_NOTIFY_RETRY_DELAYS_S", "soon")
    with pytest.raises(ValueError, match="TM_NOTIFY_RETRY_DELAYS_S"):
        retry_delays_from_env()
