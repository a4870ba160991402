"""The indexers on fakes: a batch of events -> one bulk request -> one ack, nak or term per event."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from svc_search.adapters.jetstream_batches import JetStreamBatchConsumer
from svc_search.domain import EventOutcome, IncomingEvent
from svc_search.event_handlers import TweetEvents, UserEvents
from svc_search.service import TweetIndexer, UserIndexer
from svc_search.testing import FakeDocumentIndex, FakeUserDirectory
from tweetmesh.events.v1 import events_pb2

DONE, RETRY, REJECT = EventOutcome.DONE, EventOutcome.RETRY, EventOutcome.REJECT
WHEN = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
ANN, BOB = 101, 102


def created(tweet_id: int, author: int = ANN, text: str = "hello #World @Bob") -> IncomingEvent:
    event = events_pb2.TweetCreated(event_id=f"c{tweet_id}", actor_user_id=str(author), tweet_id=str(tweet_id), text=text,
                                    media_ids=["77"], quoted_tweet_id="5")
    event.occurred_at.FromDatetime(WHEN)
    return IncomingEvent("tweet.created", event.SerializeToString(), event.event_id)


def deleted(tweet_id: int, author: int = ANN) -> IncomingEvent:
    event = events_pb2.TweetDeleted(event_id=f"d{tweet_id}", actor_user_id=str(author), tweet_id=str(tweet_id))
    event.occurred_at.FromDatetime(WHEN)
    return IncomingEvent("tweet.deleted", event.SerializeToString(), event.event_id)


@pytest.fixture
def index():
    return FakeDocumentIndex()


@pytest.fixture
def graph():
    return FakeUserDirectory(handles_by_id={ANN: "Ann", BOB: "bob"})


@pytest.fixture
def tweets(index, graph):
    return TweetEvents(TweetIndexer(index, graph).apply)


async def test_a_batch_is_one_bulk_request_and_one_graph_lookup(tweets, index, graph):
    outcomes = await tweets.handle_batch([created(1), created(2, BOB), deleted(3)])
    assert outcomes == [DONE, DONE, DONE]
    assert len(index.requests) == 1 and len(index.requests[0]) == 3
    assert graph.handle_lookups == [{ANN, BOB}]
    version, document = index.documents["1"]
    assert version == 1
    assert document == {
        "tweet_id": "1", "tweet_id_num": 1, "author_id": str(ANN), "author_handle": "ann", "text": "hello #World @Bob",
        "hashtags": ["world"], "mentions": ["bob"], "has_media": True, "quoted_tweet_id": "5",
        "created_at": "2025-03-01T12:00:00.000+00:00",
    }
    assert index.documents["3"] == (2, {"tweet_id": "3", "tweet_id_num": 3})  # a tombstone


async def test_redelivery_is_harmless_and_a_late_create_does_not_undo_a_delete(tweets, index):
    assert await tweets.handle_batch([deleted(1)]) == [DONE]
    assert await tweets.handle_batch([created(1), created(1)]) == [DONE, DONE]  # superseded: acked
    assert index.documents["1"] == (2, {"tweet_id": "1", "tweet_id_num": 1})
    assert await tweets.handle_batch([created(2)]) == [DONE]
    assert await tweets.handle_batch([created(2), deleted(2), deleted(2)]) == [DONE, DONE, DONE]
    assert index.documents["2"][0] == 2


async def test_only_the_writes_that_failed_are_retried(tweets, index):
    index.failing_ids = {"2"}
    index.rejected_ids = {"3"}
    assert await tweets.handle_batch([created(1), created(2), created(3)]) == [DONE, RETRY, REJECT]


async def test_an_index_that_does_not_answer_retries_the_whole_batch(tweets, index):
    index.down = True
    assert await tweets.handle_batch([created(1), deleted(2)]) == [RETRY, RETRY]


async def test_without_the_graph_creates_wait_and_deletes_go_through(tweets, index, graph):
    graph.down = True
    assert await tweets.handle_batch([created(1), deleted(2)]) == [RETRY, DONE]
    assert set(index.documents) == {"2"}


async def test_an_author_unknown_to_the_graph_is_indexed_without_a_handle(tweets, index):
    assert await tweets.handle_batch([created(1, author=999)]) == [DONE]
    assert "author_handle" not in index.documents["1"][1]


async def test_undecodable_events_are_rejected_and_other_subjects_acked_untouched(tweets, index, graph):
    garbage = IncomingEvent("tweet.created", b"\xff\xff not protobuf", "bad")
    no_id = IncomingEvent("tweet.deleted", events_pb2.TweetDeleted(tweet_id="not-an-id").SerializeToString(), "bad2")
    liked = IncomingEvent("tweet.liked", b"whatever", "like")
    assert await tweets.handle_batch([garbage, liked, no_id, created(1)]) == [REJECT, DONE, REJECT, DONE]
    assert len(index.requests) == 1 and [w.doc_id for w in index.requests[0]] == ["1"]


async def test_only_events_of_other_subjects_make_no_request(tweets, index):
    assert await tweets.handle_batch([IncomingEvent("tweet.retweeted", b"", "r")]) == [DONE]
    assert index.requests == []


async def test_the_newest_profile_wins_whatever_the_delivery_order(index):
    users = UserEvents(UserIndexer(index).apply)

    def profile(kind, when: datetime, name: str) -> IncomingEvent:
        message = kind(event_id=name, actor_user_id="7", handle="Ann", display_name=name)
        message.occurred_at.FromDatetime(when)
        subject = "graph.user.created" if kind is events_pb2.UserCreated else "graph.user.updated"
        return IncomingEvent(subject, message.SerializeToString(), name)

    later = datetime(2025, 3, 2, tzinfo=timezone.utc)
    assert await users.handle_batch([profile(events_pb2.UserUpdated, later, "Ann B")]) == [DONE]
    assert await users.handle_batch([profile(events_pb2.UserCreated, WHEN, "Ann A")]) == [DONE]
    assert index.documents["7"][1] == {"user_id": "7", "handle": "Ann", "display_name": "Ann B"}
    follows = IncomingEvent("graph.follow.created", b"", "f")
    assert await users.handle_batch([follows]) == [DONE]


# --- the consumer: outcomes -> ack / nak / term ---------------------------------------------------


class FakeMessage:
    def __init__(self, subject: str, data: bytes, *, sequence: int, delivered: int = 1):
        self.subject, self.data, self.headers = subject, data, {"Nats-Msg-Id": f"evt-{sequence}"}
        self.metadata = SimpleNamespace(num_delivered=delivered, sequence=SimpleNamespace(stream=sequence))
        self.settled: list = []

    async def ack(self):
        self.settled.append("ack")

    async def term(self):
        self.settled.append("term")

    async def nak(self, delay=None):
        self.settled.append(("nak", delay))


def consumer_with(handle_batch) -> JetStreamBatchConsumer:
    return JetStreamBatchConsumer(None, stream="TWEETS", durable="search-it", handle_batch=handle_batch,
                                  retry_delays_s=(1.0, 5.0, 30.0))


async def test_each_message_is_settled_by_its_outcome_after_the_batch_was_handled():
    seen: list[list[str]] = []

    async def handle_batch(events):
        seen.append([e.event_id for e in events])
        return [DONE, RETRY, REJECT, RETRY]

    messages = [FakeMessage("tweet.created", b"", sequence=s, delivered=d) for s, d in ((1, 1), (2, 1), (3, 1), (4, 7))]
    await consumer_with(handle_batch)._process(messages)
    assert seen == [["evt-1", "evt-2", "evt-3", "evt-4"]]
    assert [m.settled for m in messages] == [["ack"], [("nak", 1.0)], ["term"], [("nak", 30.0)]]


async def test_a_handler_that_raises_naks_the_whole_batch():
    async def handle_batch(events):
        raise ConnectionError("boom")

    messages = [FakeMessage("tweet.created", b"", sequence=s, delivered=2) for s in (1, 2)]
    await consumer_with(handle_batch)._process(messages)
    assert [m.settled for m in messages] == [[("nak", 5.0)], [("nak", 5.0)]]


async def test_a_handler_that_answers_too_few_outcomes_acks_nothing():
    async def handle_batch(events):
        return [DONE]

    messages = [FakeMessage("tweet.created", b"", sequence=s) for s in (1, 2)]
    await consumer_with(handle_batch)._process(messages)
    assert all(m.settled == [("nak", 1.0)] for m in messages)


def test_the_consumer_is_a_named_background_job():
    job = consumer_with(lambda events: asyncio.sleep(0)).as_job()
    assert job.__name__ == "consume-search-it"
