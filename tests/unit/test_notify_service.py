"""svc_notify's use cases against the in-memory fakes: who gets notified of what, and how users
read, mark, stream and route their notifications."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from mesh.errors import AuthenticationRequired, InvalidPageToken
from svc_notify.domain import (
    MAX_DEVICES_PER_USER,
    Channel,
    DeviceNotFound,
    EmailTakenByAnotherUser,
    Kind,
    Platform,
    Preference,
    TooManyDevices,
    TooManyStreams,
)
from svc_notify.service import Devices, Draining, Happening, Inbox, LiveHub, LiveStreams, Notifier, Preferences, Undoing
from svc_notify.testing import (
    FakeDeliveryQueue,
    FakeDeviceStore,
    FakeLiveFeed,
    FakeNotificationStore,
    FakePreferenceStore,
    FakeUserDirectory,
)

ALICE, BOB, CAROL = 101, 202, 303
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
APNS_TOKEN = "ab" * 32


class World:
    def __init__(self) -> None:
        self.store = FakeNotificationStore()
        self.preferences = FakePreferenceStore()
        self.devices = FakeDeviceStore()
        self.users = FakeUserDirectory({ALICE: "alice", BOB: "bob", CAROL: "carol"})
        self.queue = FakeDeliveryQueue()
        self.live = FakeLiveFeed()
        self.notifier = Notifier(self.store, self.preferences, self.devices, self.users, self.queue, self.live)
        self.inbox = Inbox(self.store, self.users)
        self.device_book = Devices(self.devices)
        self.preference_book = Preferences(self.preferences)

    async def like(self, actor: int, author: int, tweet_id: int = 900, *, event: str = "e1", at: datetime = T0):
        return await self.notifier.happened(Happening(event, at, author, actor, Kind.LIKE, tweet_id=tweet_id))


@pytest.fixture
def world() -> World:
    return World()


async def test_a_like_notifies_the_author_once_even_when_the_event_comes_twice(world: World):
    first = await world.like(BOB, ALICE)
    again = await world.like(BOB, ALICE)
    page = await world.inbox.list(ALICE, 0, "", unread_only=False)
    assert first is not None and again is not None and first.notification_id == again.notification_id
    assert [(n.kind, n.actor_id, n.tweet_id, n.read) for n in page.notifications] == [(Kind.LIKE, BOB, 900, False)]
    assert page.actors[BOB].handle == "bob"
    assert await world.inbox.unread_count(ALICE) == 1


async def test_no_notification_for_acting_on_your_own_tweet(world: World):
    assert await world.like(ALICE, ALICE) is None
    assert (await world.inbox.list(ALICE, 0, "", unread_only=False)).notifications == []
    assert world.live.published == []


async def test_no_notification_from_someone_the_recipient_blocks_or_mutes(world: World):
    world.users.hide(ALICE, BOB)
    assert await world.like(BOB, ALICE) is None
    assert await world.inbox.unread_count(ALICE) == 0


async def test_a_second_event_about_the_same_like_does_not_notify_again(world: World):
    await world.like(BOB, ALICE, event="e1")
    assert await world.like(BOB, ALICE, event="e2", at=T0 + timedelta(seconds=1)) is None
    assert await world.inbox.unread_count(ALICE) == 1


async def test_unlike_removes_the_notification_and_a_new_like_notifies_again(world: World):
    await world.like(BOB, ALICE)
    await world.notifier.undone(Undoing(ALICE, BOB, Kind.LIKE, tweet_id=900))
    assert await world.inbox.unread_count(ALICE) == 0
    assert await world.like(BOB, ALICE, event="e3", at=T0 + timedelta(minutes=1)) is not None
    assert await world.inbox.unread_count(ALICE) == 1


async def test_the_new_notification_goes_to_the_live_feed_with_the_actor(world: World):
    made = await world.like(BOB, ALICE)
    assert [(n.notification_id, actor.handle) for n, actor in world.live.published] == [(made.notification_id, "bob")]


async def test_devices_get_a_work_item_for_the_channels_the_user_wants(world: World):
    phone = await world.device_book.register(ALICE, Platform.APNS, APNS_TOKEN, "phone")
    android = await world.device_book.register(ALICE, Platform.FCM, "f" * 40, "android")
    mail = await world.device_book.register(ALICE, Platform.EMAIL, "alice@example.com", "mail")
    made = await world.like(BOB, ALICE)
    # email is opt-in: only the push devices by default
    assert {r.device_id for r in world.queue.items.values()} == {phone.device_id, android.device_id}
    assert {r.unread_count for r in world.queue.items.values()} == {1}
    await world.preference_book.update(ALICE, [Preference(Kind.FOLLOW, Channel.EMAIL, True)])
    follow = await world.notifier.happened(Happening("e9", T0, ALICE, CAROL, Kind.FOLLOW))
    for_follow = [r for r in world.queue.items.values() if r.notification.notification_id == follow.notification_id]
    assert {r.device_id for r in for_follow} == {phone.device_id, android.device_id, mail.device_id}
    assert made.notification_id != follow.notification_id


async def test_in_app_off_keeps_the_list_clean_but_still_pushes(world: World):
    await world.device_book.register(ALICE, Platform.APNS, APNS_TOKEN, "phone")
    await world.preference_book.update(ALICE, [Preference(Kind.LIKE, Channel.IN_APP, False)])
    await world.like(BOB, ALICE)
    assert await world.inbox.unread_count(ALICE) == 0
    assert world.live.published == []
    assert len(world.queue.items) == 1


async def test_list_pages_newest_first_each_notification_once(world: World):
    for i in range(5):
        await world.like(BOB, ALICE, tweet_id=900 + i, event=f"e{i}", at=T0 + timedelta(seconds=i))
    seen, token = [], ""
    while True:
        page = await world.inbox.list(ALICE, 2, token, unread_only=False)
        seen += [n.tweet_id for n in page.notifications]
        token = page.next_page_token
        if not token:
            break
    assert seen == [904, 903, 902, 901, 900]


async def test_a_page_token_of_another_user_is_refused(world: World):
    for i in range(3):
        await world.like(BOB, ALICE, tweet_id=900 + i, event=f"e{i}", at=T0 + timedelta(seconds=i))
    token = (await world.inbox.list(ALICE, 1, "", unread_only=False)).next_page_token
    with pytest.raises(InvalidPageToken):
        await world.inbox.list(BOB, 1, token, unread_only=False)


async def test_mark_read_through_leaves_newer_ones_unread(world: World):
    made = [await world.like(BOB, ALICE, tweet_id=900 + i, event=f"e{i}", at=T0 + timedelta(seconds=i)) for i in range(3)]
    assert await world.inbox.mark_read(ALICE, [], made[1].notification_id) == 1
    page = await world.inbox.list(ALICE, 0, "", unread_only=False)
    assert [n.read for n in page.notifications] == [False, True, True]
    assert await world.inbox.mark_read(ALICE, [made[2].notification_id], None) == 0
    assert (await world.inbox.list(ALICE, 0, "", unread_only=True)).notifications == []


async def test_reading_needs_a_signed_in_user(world: World):
    with pytest.raises(AuthenticationRequired):
        await world.inbox.list(None, 0, "", unread_only=False)


# ---- streams -------------------------------------------------------------------------------------


async def test_a_stream_starts_with_the_unread_count_then_resumes_then_goes_live(world: World):
    old = await world.like(BOB, ALICE, tweet_id=900, event="e0")
    missed = await world.like(BOB, ALICE, tweet_id=901, event="e1", at=T0 + timedelta(seconds=1))
    hub = LiveHub()
    streams = LiveStreams(world.store, world.users, hub, heartbeat_s=30)
    stream = streams.stream(ALICE, old.notification_id)
    first = await anext(stream)
    assert first.notification is None and first.unread_count == 2
    resumed = await anext(stream)
    assert resumed.notification.notification_id == missed.notification_id
    live = await world.like(CAROL, ALICE, tweet_id=902, event="e2", at=T0 + timedelta(seconds=2))
    hub.deliver(missed, None)  # published while the stream was reading the store: not sent twice
    hub.deliver(live, None)
    pushed = await asyncio.wait_for(anext(stream), 1)
    assert pushed.notification.notification_id == live.notification_id and pushed.unread_count == 3
    await stream.aclose()
    assert hub.open_streams == 0


async def test_an_idle_stream_gets_heartbeats_and_ends_when_the_server_drains(world: World):
    hub = LiveHub()
    stream = LiveStreams(world.store, world.users, hub, heartbeat_s=0.05).stream(ALICE, None)
    await anext(stream)
    beat = await asyncio.wait_for(anext(stream), 1)
    assert beat.notification is None
    hub.drain()
    with pytest.raises(Draining):
        await asyncio.wait_for(anext(stream), 1)
    with pytest.raises(Draining):
        hub.subscribe(ALICE)


async def test_too_many_streams_for_one_user_are_refused(world: World):
    hub = LiveHub(max_streams_per_user=2)
    streams = LiveStreams(world.store, world.users, hub)
    opened = [streams.stream(ALICE, None) for _ in range(2)]
    for stream in opened:
        await anext(stream)
    with pytest.raises(TooManyStreams):
        await anext(streams.stream(ALICE, None))
    await anext(streams.stream(BOB, None))  # another user is not limited by Alice's streams


# ---- devices and preferences ---------------------------------------------------------------------


async def test_registering_the_same_target_again_returns_the_same_device(world: World):
    first = await world.device_book.register(ALICE, Platform.APNS, APNS_TOKEN, "phone")
    again = await world.device_book.register(ALICE, Platform.APNS, APNS_TOKEN.upper(), "my phone")
    assert again.device_id == first.device_id and again.label == "my phone"
    devices, _ = await world.device_book.list(ALICE, 0, "")
    assert [d.device_id for d in devices] == [first.device_id]


async def test_a_push_token_follows_the_phone_to_its_new_owner(world: World):
    alices = await world.device_book.register(ALICE, Platform.FCM, "t" * 40, "phone")
    bobs = await world.device_book.register(BOB, Platform.FCM, "t" * 40, "second-hand phone")
    assert bobs.device_id != alices.device_id
    assert (await world.device_book.list(ALICE, 0, ""))[0] == []
    await world.like(CAROL, BOB)
    assert [r.device_id for r in world.queue.items.values()] == [bobs.device_id]


async def test_an_email_address_of_another_user_is_refused(world: World):
    await world.device_book.register(ALICE, Platform.EMAIL, "alice@Example.com", "")
    with pytest.raises(EmailTakenByAnotherUser):
        await world.device_book.register(BOB, Platform.EMAIL, "alice@example.COM", "")


async def test_at_most_twenty_devices(world: World):
    for i in range(MAX_DEVICES_PER_USER):
        await world.device_book.register(ALICE, Platform.FCM, f"{i:040d}", "")
    with pytest.raises(TooManyDevices):
        await world.device_book.register(ALICE, Platform.FCM, "x" * 40, "")


async def test_unregistering_frees_the_target_and_a_second_time_is_not_found(world: World):
    device = await world.device_book.register(ALICE, Platform.EMAIL, "a@example.com", "")
    await world.device_book.unregister(ALICE, device.device_id)
    with pytest.raises(DeviceNotFound):
        await world.device_book.unregister(ALICE, device.device_id)
    assert (await world.device_book.register(BOB, Platform.EMAIL, "a@example.com", "")).user_id == BOB


async def test_someone_elses_device_is_not_found(world: World):
    device = await world.device_book.register(ALICE, Platform.EMAIL, "a@example.com", "")
    with pytest.raises(DeviceNotFound):
        await world.device_book.unregister(BOB, device.device_id)


async def test_preferences_have_every_kind_and_channel_with_email_off_by_default(world: World):
    preferences = await world.preference_book.get(ALICE)
    assert len(preferences) == len(Kind) * len(Channel)
    assert all(p.enabled == (p.channel is not Channel.EMAIL) for p in preferences)
    after = await world.preference_book.update(ALICE, [Preference(Kind.LIKE, Channel.PUSH, False)])
    changed = {(p.kind, p.channel): p.enabled for p in after}
    assert changed[(Kind.LIKE, Channel.PUSH)] is False and changed[(Kind.FOLLOW, Channel.PUSH)] is True
