"""The indexers and searches against the real Elasticsearch, in a scratch index made from the real
template (migrations/elasticsearch/*.json) behind a scratch alias, deleted afterwards."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from elasticsearch import AsyncElasticsearch

from mesh.schema import MIGRATIONS_DIR, ensure_search_indices
from svc_search.adapters.elasticsearch_index import (
    ElasticsearchDocuments,
    ElasticsearchTweetSearch,
    ElasticsearchUserSearch,
    tweet_search_body,
)
from svc_search.domain import (
    EventOutcome,
    IncomingEvent,
    IndexWrite,
    TweetOrder,
    TweetPosition,
    WriteOutcome,
    parse_query,
)
from svc_search.event_handlers import TweetEvents, UserEvents
from svc_search.service import TweetIndexer, TweetSearch, UserIndexer, UserSearch
from svc_search.testing import FakeUserDirectory
from tests.conftest import require_listening
from tweetmesh.events.v1 import events_pb2

ME, ANN, BOB = 1, 1001, 1002
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
async def es(stack):
    require_listening(stack.host, stack.es_port, "Elasticsearch")
    async with AsyncElasticsearch(stack.es_url, request_timeout=30) as client:
        yield client


async def scratch_alias(stack, es, tmp_path, template_name: str) -> str:
    """A scratch copy of a project template (own pattern and alias), its first index behind the alias."""
    alias = f"it-{template_name}-{uuid.uuid4().hex[:10]}"
    template = json.loads((MIGRATIONS_DIR / "elasticsearch" / f"{template_name}.json").read_text())
    template["index_patterns"] = [f"{alias}-v*"]
    template["_meta"]["alias"] = alias
    (tmp_path / f"{alias}.json").write_text(json.dumps(template))
    assert await ensure_search_indices(stack, tmp_path) == [f"{alias}-v1"]
    return alias


async def drop_scratch(es, alias: str) -> None:
    await es.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)
    await es.options(ignore_status=404).indices.delete_index_template(name=alias)


@pytest.fixture
async def tweets_alias(stack, es, tmp_path):
    alias = await scratch_alias(stack, es, tmp_path, "tweets")
    yield alias
    await drop_scratch(es, alias)


def created(tweet_id: int, text: str, author: int = ANN, at: datetime = T0) -> IncomingEvent:
    event = events_pb2.TweetCreated(event_id=f"c{tweet_id}", actor_user_id=str(author), tweet_id=str(tweet_id), text=text)
    event.occurred_at.FromDatetime(at)
    return IncomingEvent("tweet.created", event.SerializeToString(), event.event_id)


def deleted(tweet_id: int, author: int = ANN) -> IncomingEvent:
    event = events_pb2.TweetDeleted(event_id=f"d{tweet_id}", actor_user_id=str(author), tweet_id=str(tweet_id))
    event.occurred_at.FromDatetime(T0)
    return IncomingEvent("tweet.deleted", event.SerializeToString(), event.event_id)


class Harness:
    def __init__(self, es: AsyncElasticsearch, alias: str):
        self.es, self.alias = es, alias
        self.graph = FakeUserDirectory(handles_by_id={ANN: "Ann", BOB: "bob"})
        self.documents = ElasticsearchDocuments(es, alias, through_alias=True)
        self.events = TweetEvents(TweetIndexer(self.documents, self.graph).apply)
        self.search = TweetSearch(ElasticsearchTweetSearch(es, alias), self.graph)

    async def apply(self, *events: IncomingEvent) -> list[EventOutcome]:
        outcomes = await self.events.handle_batch(list(events))
        await self.es.indices.refresh(index=self.alias)
        return outcomes

    async def found(self, text: str, limit: int = 50, order: TweetOrder = TweetOrder.BEST_MATCH) -> list[int]:
        return [hit.tweet_id for hit in (await self.search.search(ME, text, limit, "", order)).hits]


@pytest.fixture
def harness(es, tweets_alias):
    return Harness(es, tweets_alias)


async def test_index_search_by_text_hashtag_mention_and_author_then_delete(harness):
    word = f"w{uuid.uuid4().hex[:8]}"
    assert await harness.apply(
        created(11, f"Hello {word} #Python with @bob"),
        created(12, f"{word} and more #python", author=BOB),
        created(13, "nothing to see"),
    ) == [EventOutcome.DONE] * 3
    assert await harness.found(word) == [12, 11]  # both match one word: newest first
    assert await harness.found(f"#PYTHON from:ann {word}") == [11]
    assert await harness.found(f"from:bob {word}") == [12]
    assert await harness.found("@Bob") == [11]
    assert await harness.found(f"hello {word}") == [11, 12]  # two words matched before one
    assert await harness.found("hello there") == [11]  # any word matches

    assert await harness.apply(deleted(11)) == [EventOutcome.DONE]
    assert await harness.found(word) == [12]
    assert await harness.found("#python") == [12]


async def test_redelivery_is_harmless(harness):
    first = await harness.apply(created(21, "once only"))
    again = await harness.apply(created(21, "once only"), created(21, "once only"))
    assert first == again[:1] == again[1:] == [EventOutcome.DONE]
    assert await harness.found("once") == [21]
    document = await harness.es.get(index=harness.alias, id="21")
    assert document["_version"] == 1 and document["_source"]["text"] == "once only"


async def test_a_delete_before_its_create_stays_deleted(harness):
    assert await harness.apply(deleted(31)) == [EventOutcome.DONE]
    assert await harness.apply(created(31, "too late to matter")) == [EventOutcome.DONE]  # superseded
    assert await harness.found("late") == []
    tombstone = await harness.es.get(index=harness.alias, id="31")
    assert tombstone["_version"] == 2 and tombstone["_source"] == {"tweet_id": "31", "tweet_id_num": 31}


async def test_a_document_that_breaks_the_mapping_is_rejected_alone(harness):
    outcomes = await harness.documents.write([
        IndexWrite("41", 1, {"tweet_id": "41", "tweet_id_num": 41, "unexpected": True}),
        IndexWrite("42", 1, {"tweet_id": "42", "tweet_id_num": 42}),
        IndexWrite("42", 1, {"tweet_id": "42", "tweet_id_num": 42}),
    ])
    assert outcomes == [WriteOutcome.REJECTED, WriteOutcome.STORED, WriteOutcome.SUPERSEDED]


async def test_writes_through_a_missing_alias_fail_instead_of_creating_an_index(es):
    missing = f"it-missing-{uuid.uuid4().hex[:8]}"
    outcomes = await ElasticsearchDocuments(es, missing, through_alias=True).write([IndexWrite("1", 1, {"x": 1})])
    assert outcomes == [WriteOutcome.FAILED]
    assert not await es.indices.exists(index=missing)


async def test_paging_returns_every_hit_exactly_once_while_tweets_keep_coming(harness):
    word = f"p{uuid.uuid4().hex[:8]}"
    await harness.apply(*(created(100 + i, f"{word} number {i}" + (" bonus" if i % 5 == 0 else ""),
                                  at=T0 + timedelta(seconds=i)) for i in range(23)))
    expected = [100 + i for i in range(22, -1, -1) if i % 5 == 0] + [100 + i for i in range(22, -1, -1) if i % 5]
    seen, cursor, pages = [], "", 0
    while True:
        page = await harness.search.search(ME, f"{word} bonus", 4, cursor)
        seen += [hit.tweet_id for hit in page.hits]
        pages += 1
        if pages == 2:  # newer matching tweets arrive mid-way: they rank before the cursor, never again
            await harness.apply(created(200, f"{word} bonus late"), created(201, f"{word} late"))
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == expected
    assert pages == 6  # 23 hits in pages of 4: the last page is full-or-short, never empty


async def test_newest_first_ignores_how_many_words_matched_and_pages_every_hit_once(harness):
    word = f"n{uuid.uuid4().hex[:8]}"
    await harness.apply(created(300, f"{word} extra older but matches both words"),
                        *(created(301 + i, f"{word} number {i}") for i in range(6)))
    assert (await harness.found(f"{word} extra"))[:2] == [300, 306]  # best match: two words first
    assert await harness.found(f"{word} extra", order=TweetOrder.NEWEST) == [306, 305, 304, 303, 302, 301, 300]

    seen, cursor, pages = [], "", 0
    while True:
        page = await harness.search.search(ME, f"{word} extra", 3, cursor, TweetOrder.NEWEST)
        seen += [hit.tweet_id for hit in page.hits]
        pages += 1
        if pages == 1:  # a newer tweet arrives mid-way: it sorts before the cursor, never shown
            await harness.apply(created(399, f"{word} late"))
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == [306, 305, 304, 303, 302, 301, 300] and pages == 3


async def test_one_word_or_none_answers_the_hits_and_positions_of_the_scored_sort(harness):
    word, tag = f"o{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}"
    await harness.apply(*(created(500 + i, f"{word} number {i}" + (f" #{tag}" if i % 2 else "")) for i in range(9)),
                        created(520, f"#{tag} without the word"))
    index = ElasticsearchTweetSearch(harness.es, harness.alias)
    for text in (word, f"#{tag}", f"{word} #{tag}"):
        query = parse_query(text)
        scored = {**tweet_search_body(query, None, 50), "sort": [{"_score": "desc"}, {"tweet_id_num": "desc"}]}
        answer = await harness.es.search(index=harness.alias, body=scored)
        as_scored = [TweetPosition(round(h["sort"][0]), h["sort"][1]) for h in answer["hits"]["hits"]]
        assert as_scored and [hit.position for hit in await index.search(query, None, 50)] == as_scored, text

    seen, cursor = [], ""
    while True:  # the cursors made from those positions page through every hit once
        page = await harness.search.search(ME, word, 4, cursor)
        seen += [hit.tweet_id for hit in page.hits]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == list(range(508, 499, -1))


async def test_users_by_handle_prefix_shorter_first_then_alphabetical(stack, es, tmp_path):
    alias = await scratch_alias(stack, es, tmp_path, "users")
    try:
        tag = uuid.uuid4().hex[:4]  # a prefix no other test's user has
        users = UserEvents(UserIndexer(ElasticsearchDocuments(es, alias, through_alias=True)).apply)
        handles = [f"q{tag}Bob", f"q{tag}", f"q{tag}_x", f"q{tag}abc", f"q{tag}aa", "unrelated"]
        events = []
        for user_id, handle in enumerate(handles, start=500):
            message = events_pb2.UserCreated(event_id=f"u{user_id}", actor_user_id=str(user_id), handle=handle,
                                             display_name=handle.upper())
            message.occurred_at.FromDatetime(T0)
            events.append(IncomingEvent("graph.user.created", message.SerializeToString()))
        assert await users.handle_batch(events) == [EventOutcome.DONE] * len(handles)
        await es.indices.refresh(index=alias)

        graph = FakeUserDirectory(down=True)  # profiles come from the index then
        search = UserSearch(ElasticsearchUserSearch(es, alias), graph)
        first = await search.search(ME, f"Q{tag}", 3, "")
        rest = await search.search(ME, f"q{tag}", 3, first.next_page_token)
        expected = [f"q{tag}", f"q{tag}_x", f"q{tag}aa", f"q{tag}abc", f"q{tag}Bob"]
        assert [u.handle for u in first.users + rest.users] == expected
        assert rest.next_page_token == ""
        assert first.users[0].display_name == f"Q{tag}".upper()
    finally:
        await drop_scratch(es, alias)
