"""svc_notify's CQL adapters against the real Cassandra of the stack, in a scratch keyspace:
notifications and their read state, source claims, devices and target claims, preferences, the
delivery log."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from mesh import cql
from svc_notify.adapters.cql_delivery_log import CqlDeliveryLog
from svc_notify.adapters.cql_devices import CqlDeviceStore
from svc_notify.adapters.cql_notifications import CqlNotificationStore
from svc_notify.adapters.cql_preferences import CqlPreferenceStore
from svc_notify.domain import Channel, Device, Kind, Notification, Platform
from svc_notify.ports import TargetHolder
from tests.integration.scratch import scratch_cql_session

BIG = 1 << 60  # ids above 2**53, like every Snowflake id made since 2024
T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
async def session(stack):
    async with scratch_cql_session(stack) as opened:
        yield opened


@pytest.fixture
def store(session) -> CqlNotificationStore:
    return CqlNotificationStore(session, session.scratch_keyspace)


@pytest.fixture
def devices(session) -> CqlDeviceStore:
    return CqlDeviceStore(session, session.scratch_keyspace)


def new_id() -> int:
    """A fresh user (a partition of this test only)."""
    return BIG + (uuid.uuid4().int >> 70)


def like(recipient_id: int, n: int, **changes) -> Notification:
    """The n-th notification of a recipient: ids and times grow with n."""
    fields = dict(
        notification_id=BIG + 1000 + n, recipient_id=recipient_id, kind=Kind.LIKE, actor_id=BIG + 500 + n,
        create_time=T0 + timedelta(seconds=n), tweet_id=BIG + 77,
    )
    return Notification(**(fields | changes))


async def add_many(store: CqlNotificationStore, recipient_id: int, count: int) -> list[Notification]:
    added = [like(recipient_id, n) for n in range(1, count + 1)]
    for notification in added:
        await store.add(notification)
    return added


def ids(notifications: list[Notification]) -> list[int]:
    return [n.notification_id for n in notifications]


def read_ids(notifications: list[Notification]) -> set[int]:
    return {n.notification_id for n in notifications if n.read}


# --- notifications --------------------------------------------------------------------------------


async def test_adding_the_same_notification_twice_keeps_one_with_every_field(store):
    recipient = new_id()
    follow = Notification(BIG + 1, recipient, Kind.FOLLOW, BIG + 2, T0)  # no tweet, comment...
    comment = Notification(BIG + 3, recipient, Kind.COMMENT, BIG + 2, T0 + timedelta(seconds=1),
                           tweet_id=BIG + 4, actor_tweet_id=BIG + 5, comment_id=BIG + 6)
    for notification in (follow, comment, comment, follow):
        await store.add(notification)
    assert await store.page(recipient, before=None, limit=10, unread_only=False) == [comment, follow]
    assert await store.unread_count(recipient) == 2


async def test_pages_list_newest_first_and_continue_before_the_last_id(store):
    recipient = new_id()
    added = await add_many(store, recipient, 7)
    newest_first = ids(added)[::-1]
    first = await store.page(recipient, before=None, limit=3, unread_only=False)
    second = await store.page(recipient, before=first[-1].notification_id, limit=3, unread_only=False)
    third = await store.page(recipient, before=second[-1].notification_id, limit=3, unread_only=False)
    assert ids(first) + ids(second) + ids(third) == newest_first
    assert len(third) == 1
    assert await store.page(recipient, before=third[-1].notification_id, limit=3, unread_only=False) == []
    assert await store.page(new_id(), before=None, limit=3, unread_only=False) == []  # someone else's


async def test_marking_read_sets_the_read_flags_and_the_unread_count(store):
    recipient = new_id()
    added = await add_many(store, recipient, 6)
    n1, n2, n3, n4, n5, n6 = ids(added)
    assert await store.unread_count(recipient) == 6

    stranger = new_id()
    not_theirs = like(stranger, 100)
    await store.add(not_theirs)
    await store.mark_read(recipient, [n2, n5, BIG + 999_999, not_theirs.notification_id])
    page = await store.page(recipient, before=None, limit=10, unread_only=False)
    assert read_ids(page) == {n2, n5}
    assert await store.unread_count(recipient) == 4
    assert await store.unread_count(stranger) == 1  # another recipient's id was left alone

    await store.mark_read_through(recipient, n3)
    page = await store.page(recipient, before=None, limit=10, unread_only=False)
    assert read_ids(page) == {n1, n2, n3, n5}  # n4 and n6 came later: still unread
    assert await store.unread_count(recipient) == 2
    assert ids(page) == [n6, n5, n4, n3, n2, n1]  # reading removes nothing from the list

    await store.mark_read(recipient, [n4, n4])  # already read or not, twice: harmless
    await store.mark_read(recipient, [])
    assert await store.unread_count(recipient) == 1


async def test_read_flags_are_right_on_every_page(store):
    recipient = new_id()
    added = await add_many(store, recipient, 5)
    n1, n2, n3, n4, n5 = ids(added)
    await store.mark_read(recipient, [n1, n4])
    first = await store.page(recipient, before=None, limit=2, unread_only=False)
    second = await store.page(recipient, before=first[-1].notification_id, limit=2, unread_only=False)
    assert [(n.notification_id, n.read) for n in first + second] == [(n5, False), (n4, True), (n3, False), (n2, False)]


async def test_unread_only_pages_skip_what_was_read(store):
    recipient = new_id()
    added = await add_many(store, recipient, 8)
    n = ids(added)
    await store.mark_read(recipient, [n[7], n[5], n[2]])  # n8, n6, n3
    first = await store.page(recipient, before=None, limit=3, unread_only=True)
    second = await store.page(recipient, before=first[-1].notification_id, limit=3, unread_only=True)
    third = await store.page(recipient, before=second[-1].notification_id, limit=3, unread_only=True)
    assert ids(first) == [n[6], n[4], n[3]]
    assert ids(second) == [n[1], n[0]]
    assert third == []
    assert not read_ids(first + second)
    assert first[0] == added[6]  # the whole notification, not only its id

    await store.mark_read_through(recipient, n[7])
    assert await store.page(recipient, before=None, limit=3, unread_only=True) == []


async def test_after_lists_oldest_first_from_the_given_id(store):
    recipient = new_id()
    added = await add_many(store, recipient, 6)
    n = ids(added)
    await store.mark_read(recipient, [n[2]])
    resumed = await store.after(recipient, n[1], 3)
    assert ids(resumed) == [n[2], n[3], n[4]]
    assert [x.read for x in resumed] == [True, False, False]
    assert ids(await store.after(recipient, n[4], 3)) == [n[5]]
    assert await store.after(recipient, n[5], 3) == []
    assert ids(await store.after(recipient, 0, 100)) == n


# --- source claims --------------------------------------------------------------------------------


async def test_a_source_is_held_by_the_first_notification_that_claims_it(store):
    recipient = new_id()
    first, second = like(recipient, 1, actor_id=BIG + 5), like(recipient, 2, actor_id=BIG + 5)  # one like, two events
    assert first.source_key == second.source_key
    assert await store.claim_source(recipient, first.source_key, first.notification_id) == first.notification_id
    assert await store.claim_source(recipient, second.source_key, second.notification_id) == first.notification_id
    assert await store.claim_source(recipient, first.source_key, first.notification_id) == first.notification_id
    # the same source for another recipient is another claim
    other = new_id()
    assert await store.claim_source(other, first.source_key, second.notification_id) == second.notification_id


async def test_removing_a_source_removes_its_notification_read_state_and_claim(store):
    recipient = new_id()
    kept, liked = like(recipient, 1, kind=Kind.FOLLOW, tweet_id=None), like(recipient, 2, actor_id=BIG + 5)
    for notification in (kept, liked):
        await store.claim_source(recipient, notification.source_key, notification.notification_id)
        await store.add(notification)

    assert await store.remove_source(recipient, liked.source_key) == liked.notification_id
    assert await store.page(recipient, before=None, limit=10, unread_only=False) == [kept]
    assert ids(await store.page(recipient, before=None, limit=10, unread_only=True)) == [kept.notification_id]
    assert await store.unread_count(recipient) == 1
    assert await store.remove_source(recipient, liked.source_key) is None  # the second undo finds nothing

    # the claim is gone: a new like is a new notification
    again = like(recipient, 3, actor_id=BIG + 5)
    assert again.source_key == liked.source_key
    assert await store.claim_source(recipient, again.source_key, again.notification_id) == again.notification_id
    assert await store.remove_source(new_id(), kept.source_key) is None


# --- devices --------------------------------------------------------------------------------------


async def test_a_target_belongs_to_one_device_and_moves_or_goes_only_from_its_holder(devices):
    token = f"apns-{uuid.uuid4().hex}"
    ann, bob, cat = TargetHolder(new_id(), BIG + 1), TargetHolder(new_id(), BIG + 2), TargetHolder(new_id(), BIG + 3)

    assert await devices.claim_target(Platform.APNS, token, ann) == ann
    assert await devices.claim_target(Platform.APNS, token, bob) == ann  # the second claimant sees the holder
    assert await devices.claim_target(Platform.FCM, token, bob) == bob  # another platform, another target

    assert not await devices.move_target(Platform.APNS, token, old=cat, new=bob)  # cat does not hold it
    assert await devices.claim_target(Platform.APNS, token, cat) == ann
    assert await devices.move_target(Platform.APNS, token, old=ann, new=bob)
    assert await devices.claim_target(Platform.APNS, token, cat) == bob
    assert not await devices.move_target(Platform.APNS, token, old=ann, new=cat)  # ann no longer holds it
    assert not await devices.move_target(Platform.APNS, f"never-{token}", old=ann, new=cat)

    await devices.release_target(Platform.APNS, token, ann)  # not the holder: nothing happens
    await devices.release_target(Platform.APNS, token, TargetHolder(bob.user_id, BIG + 99))  # bob's other device
    assert await devices.claim_target(Platform.APNS, token, cat) == bob
    await devices.release_target(Platform.APNS, token, bob)
    assert await devices.claim_target(Platform.APNS, token, cat) == cat


async def test_devices_are_listed_most_recent_first_and_removed_one_by_one(devices):
    user = new_id()
    phone = Device(BIG + 10, user, Platform.APNS, "apns-token-abcdef", "Ann's phone", T0)
    tablet = Device(BIG + 20, user, Platform.FCM, "fcm-token-123456", "", T0 + timedelta(days=1))
    mail = Device(BIG + 30, user, Platform.EMAIL, "ann@example.com", "work", T0 + timedelta(days=2))
    for device in (tablet, mail, phone, mail):
        await devices.put(device)

    assert await devices.list(user) == [mail, tablet, phone]
    assert await devices.get(user, phone.device_id) == phone
    assert await devices.get(new_id(), phone.device_id) is None  # another user's id finds nothing

    await devices.remove(user, tablet.device_id)
    await devices.remove(user, tablet.device_id)
    assert await devices.get(user, tablet.device_id) is None
    assert await devices.list(user) == [mail, phone]
    assert await devices.list(new_id()) == []


# --- preferences and the delivery log -------------------------------------------------------------


async def test_preferences_keep_what_the_user_set_last(session):
    preferences = CqlPreferenceStore(session, session.scratch_keyspace)
    user = new_id()
    assert await preferences.explicit(user) == {}
    await preferences.put(user, {(Kind.LIKE, Channel.PUSH): False, (Kind.FOLLOW, Channel.EMAIL): True})
    await preferences.put(user, {(Kind.LIKE, Channel.PUSH): True, (Kind.MENTION, Channel.IN_APP): False})
    await preferences.put(user, {})
    assert await preferences.explicit(user) == {
        (Kind.LIKE, Channel.PUSH): True, (Kind.FOLLOW, Channel.EMAIL): True, (Kind.MENTION, Channel.IN_APP): False,
    }
    assert await preferences.explicit(new_id()) == {}


async def test_the_delivery_log_remembers_deliveries_for_a_week(session):
    log = CqlDeliveryLog(session, session.scratch_keyspace)
    delivery_id = f"{BIG + 1}-{uuid.uuid4().int >> 70}"
    assert not await log.delivered(delivery_id)
    await log.record(delivery_id)
    await log.record(delivery_id)  # a retry
    assert await log.delivered(delivery_id)
    assert not await log.delivered(f"{delivery_id}0")
    # it expires, after the delivery queue's 1-day max age
    (row,) = await cql.execute(
        session,
        f"SELECT TTL(delivered_at) FROM {session.scratch_keyspace}.notification_deliveries WHERE delivery_id = %s",
        (delivery_id,),
    )
    assert 6 * 24 * 3600 < row[0] <= 7 * 24 * 3600


async def test_a_redelivered_add_does_not_revive_what_was_read_or_removed(store):
    recipient = new_id()
    read_one, removed_one = await add_many(store, recipient, 2)
    await store.mark_read(recipient, [read_one.notification_id])
    await store.claim_source(recipient, removed_one.source_key, removed_one.notification_id)
    await store.remove_source(recipient, removed_one.source_key)
    for notification in (read_one, removed_one):
        await store.add(notification)  # the same events, delivered again
    listed = await store.page(recipient, before=None, limit=10, unread_only=False)
    assert [(n.notification_id, n.read) for n in listed] == [(read_one.notification_id, True)]
    assert await store.unread_count(recipient) == 0
