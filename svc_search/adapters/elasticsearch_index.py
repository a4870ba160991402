"""The search indices in Elasticsearch: bulk writes, tweet and user searches, index generations.

Every request carries the caller's remaining time, capped (mesh.context.remaining), as its
`request_timeout`. A server that does not answer, or answers 429/5xx to the whole request, becomes
Unavailable (the caller may retry); any other refusal is a bug in what we sent and is raised as is.

Ranking is deterministic on purpose: a hit's sort values depend on the document and the query
only, never on the rest of the index (BM25 scores move as documents come and go). That is what
makes `search_after` cursors exact: paging while tweets are posted neither repeats nor skips a hit.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError, TransportError

from mesh import context
from mesh.config import env_float
from mesh.deps import ES_TIMEOUT_S
from mesh.errors import Unavailable
from svc_search.documents import LIVE_TWEETS
from svc_search.domain import (
    IndexWrite,
    TweetHit,
    TweetOrder,
    TweetPosition,
    TweetQuery,
    UserHit,
    UserPosition,
    WriteOutcome,
)

log = logging.getLogger("svc_search.elasticsearch")

# a bulk request of a few hundred documents takes longer than a search
BULK_TIMEOUT_S = env_float("TM_SEARCH_BULK_TIMEOUT_S", 10.0)

MAX_HANDLE_LENGTH = 15  # graph's handle rule: 3..15 of [A-Za-z0-9_]


def _unavailable(exc: Exception, what: str) -> Unavailable:
    failure = Unavailable(f"Elasticsearch did not {what}: {exc}", reason="SEARCH_UNAVAILABLE")
    failure.__cause__ = exc
    return failure


def _is_transient(exc: ApiError) -> bool:
    return exc.meta.status == 429 or exc.meta.status >= 500


def _error_type(exc: ApiError) -> str:
    error = exc.body.get("error") if isinstance(exc.body, dict) else None
    return error.get("type", "") if isinstance(error, dict) else ""


# ---------------------------------------------------------------------------------------------
# Writes


def _write_outcome(item: dict[str, Any]) -> WriteOutcome:
    status = item.get("status", 500)
    if status in (200, 201):
        return WriteOutcome.STORED
    if status == 409:  # version conflict: this version or a newer one is stored (documents.py)
        return WriteOutcome.SUPERSEDED
    if status == 400:  # the document breaks the mapping: no retry changes that
        log.error("index refused document %s: %s", item.get("_id"), item.get("error"))
        return WriteOutcome.REJECTED
    # 429 (queue full), 5xx, 404 (the alias is being swapped, the target index is gone): later
    log.warning("index could not take document %s now (%s): %s", item.get("_id"), status, item.get("error"))
    return WriteOutcome.FAILED


class ElasticsearchDocuments:
    """Versioned writes into `target`: an alias (the live indexers: `through_alias`, so a missing
    alias is an error instead of a new index of that name made on the fly), or one index."""

    def __init__(self, es: AsyncElasticsearch, target: str, *, through_alias: bool, timeout_s: float = BULK_TIMEOUT_S):
        self._es = es
        self._target = target
        self._through_alias = through_alias
        self._timeout_s = timeout_s

    async def write(self, writes: Sequence[IndexWrite]) -> list[WriteOutcome]:
        if not writes:
            return []
        operations: list[dict[str, Any]] = []
        for write in writes:
            operations.append({"index": {
                "_index": self._target, "_id": write.doc_id, "version": write.version, "version_type": "external",
            }})
            operations.append(dict(write.document))
        try:
            response = await self._es.options(request_timeout=context.remaining(self._timeout_s)).bulk(
                operations=operations, require_alias=self._through_alias,
            )
        except TransportError as exc:
            raise _unavailable(exc, f"take a bulk of {len(writes)}") from exc
        except ApiError as exc:
            if _is_transient(exc):
                raise _unavailable(exc, f"take a bulk of {len(writes)}") from exc
            raise
        # one item per operation, in order (the bulk API's promise)
        return [_write_outcome(item["index"]) for item in response["items"]]


# ---------------------------------------------------------------------------------------------
# Tweet search


def tweet_search_body(
    query: TweetQuery, after: TweetPosition | None, size: int, order: TweetOrder = TweetOrder.BEST_MATCH,
) -> dict[str, Any]:
    """The search request of a parsed query.

    Each free-text word is one `constant_score` clause worth 1, so a tweet's score is the number of
    query words it contains (a word the analyzer splits, `foo-bar`, needs all its parts): best
    match first, newest first among equals (tweet_id_num, Snowflake ids grow with time). Hashtags,
    mentions and authors are filters: they decide what matches, not the order. Without words every
    score is 0: newest first. Newest first (TweetOrder.NEWEST) sorts by tweet_id_num alone; the
    words still decide what matches, and no score is computed.

    With one word or none every match has the same score (`_same_score`), so best match first is
    newest first, and the sort leaves the score out: sorting on tweet_id_num alone lets
    Elasticsearch skip the documents that cannot make the page (its numeric sort optimization,
    which a leading _score sort turns off). A word in 3 of 4 tweets of a million took 21 ms a page
    scored, 4 ms so. Positions and cursors stay what they were: the score is put back into them.
    """
    filters: list[dict[str, Any]] = [LIVE_TWEETS]
    filters += [{"term": {"hashtags": tag}} for tag in query.hashtags]
    filters += [{"term": {"mentions": handle}} for handle in query.mentions]
    if query.authors:
        filters.append({"terms": {"author_handle": list(query.authors)}})
    clauses: dict[str, Any] = {"filter": filters}
    if query.words:
        clauses["should"] = [
            {"constant_score": {"filter": {"match": {"text": {"query": word, "operator": "and"}}}, "boost": 1.0}}
            for word in query.words
        ]
        clauses["minimum_should_match"] = 1
    same_score = _same_score(query, order)
    newest_first = [{"tweet_id_num": "desc"}]
    body: dict[str, Any] = {
        "query": {"bool": clauses},
        "sort": newest_first if same_score is not None else [{"_score": "desc"}, *newest_first],
        "size": size,
        "_source": ["tweet_id", "author_id", "text", "created_at"],
        "track_total_hits": False,  # nobody shows a total; counting it costs on every page
    }
    search_after = _search_after(after, same_score)
    if search_after is not None:
        body["search_after"] = search_after
    return body


def _same_score(query: TweetQuery, order: TweetOrder) -> int | None:
    """The score of every match, when it is the same for all: 0 newest first (none is computed),
    else the number of words when there is at most one (each is worth 1); None when they differ."""
    if order is TweetOrder.NEWEST:
        return 0
    return len(query.words) if len(query.words) <= 1 else None


def _search_after(after: TweetPosition | None, same_score: int | None) -> list[float | int] | None:
    """The sort values the page continues after; None: from the first match."""
    if after is None:
        return None
    if same_score is None:
        return [float(after.words_matched), after.tweet_id]
    if after.words_matched == same_score:
        return [after.tweet_id]
    # a position of another score (only a forged cursor names one): ranked above every match, all
    # of them come after it; ranked below, none does (tweet ids are positive)
    return None if after.words_matched > same_score else [0]


def _tweet_hit(hit: dict[str, Any], same_score: int | None) -> TweetHit:
    source = hit["_source"]
    *score, tweet_id = hit["sort"]  # [_score, tweet_id_num], or [tweet_id_num] when all scores are the same
    created_at = source.get("created_at")
    return TweetHit(
        tweet_id=int(source["tweet_id"]),
        author_id=int(source["author_id"]),
        text=source.get("text", ""),
        create_time=datetime.fromisoformat(created_at) if created_at else None,
        position=TweetPosition(round(score[0]) if score else same_score or 0, int(tweet_id)),
    )


class ElasticsearchTweetSearch:
    def __init__(self, es: AsyncElasticsearch, alias: str, *, timeout_s: float = ES_TIMEOUT_S):
        self._es = es
        self._alias = alias
        self._timeout_s = timeout_s

    async def search(
        self, query: TweetQuery, after: TweetPosition | None, size: int, *, order: TweetOrder = TweetOrder.BEST_MATCH,
    ) -> list[TweetHit]:
        body = tweet_search_body(query, after, size, order)
        response = await _search(self._es, self._alias, body, self._timeout_s)
        same_score = _same_score(query, order)
        return [_tweet_hit(hit, same_score) for hit in response["hits"]["hits"]]


# ---------------------------------------------------------------------------------------------
# User search


def _length_rank(length: int) -> float:
    """The score of a handle of this length: shorter is higher, all positive."""
    return float(MAX_HANDLE_LENGTH + 1 - length)


def user_search_body(prefix: str, after: UserPosition | None, size: int) -> dict[str, Any]:
    """Handles starting with `prefix` (lowercase), shorter first, then alphabetical.

    The index has no handle-length field and this cluster runs no scripts, so the length is scored:
    one `regexp` clause per possible length (`bob`, `bob.`, `bob..` ... up to 15 characters, at
    most 13 clauses over short keywords), each worth the rank of its length; exactly one matches.
    """
    def exactly(length: int) -> str:  # the prefix, then any `length - len(prefix)` characters
        rest = length - len(prefix)
        return prefix + (f".{{{rest}}}" if rest else "")

    shortest = max(len(prefix), 3)  # the graph's handles have 3 characters at least
    should = [
        {"constant_score": {"filter": {"regexp": {"handle": {"value": exactly(length)}}}, "boost": _length_rank(length)}}
        for length in range(shortest, MAX_HANDLE_LENGTH + 1)
    ]
    body: dict[str, Any] = {
        "query": {"bool": {"should": should, "minimum_should_match": 1}},
        "sort": [{"_score": "desc"}, {"handle": "asc"}],  # the normalized (lowercased) handle
        "size": size,
        "_source": ["user_id", "handle", "display_name"],
        "track_total_hits": False,
    }
    if after is not None:
        body["search_after"] = [_length_rank(after.length), after.handle]
    return body


def _user_hit(hit: dict[str, Any]) -> UserHit:
    source = hit["_source"]
    _, handle = hit["sort"]
    return UserHit(int(source["user_id"]), source["handle"], source.get("display_name", ""), UserPosition(handle))


class ElasticsearchUserSearch:
    def __init__(self, es: AsyncElasticsearch, alias: str, *, timeout_s: float = ES_TIMEOUT_S):
        self._es = es
        self._alias = alias
        self._timeout_s = timeout_s

    async def by_handle_prefix(self, prefix: str, after: UserPosition | None, size: int) -> list[UserHit]:
        response = await _search(self._es, self._alias, user_search_body(prefix, after, size), self._timeout_s)
        return [_user_hit(hit) for hit in response["hits"]["hits"]]


async def _search(es: AsyncElasticsearch, index: str, body: dict[str, Any], timeout_s: float) -> Any:
    try:
        return await es.options(request_timeout=context.remaining(timeout_s)).search(index=index, body=body)
    except TransportError as exc:
        raise _unavailable(exc, "answer a search") from exc
    except ApiError as exc:
        if _is_transient(exc):
            raise _unavailable(exc, "answer a search") from exc
        raise


# ---------------------------------------------------------------------------------------------
# Index generations (the rebuild)


class ElasticsearchIndexGenerations:
    """The indices `<alias>-v<N>` behind an alias, made from the index template of
    migrations/elasticsearch/<alias>.json. Admin calls get a longer cap than reads and writes:
    creating an index waits for its shards."""

    def __init__(self, es: AsyncElasticsearch, template_file: Path, *, timeout_s: float = 60.0):
        self._es = es
        self._template = json.loads(template_file.read_text())
        self.alias: str = self._template["_meta"]["alias"]
        self._generation = re.compile(rf"^{re.escape(self.alias)}-v(\d+)$")
        self._timeout_s = timeout_s

    def _admin(self) -> AsyncElasticsearch:
        return self._es.options(request_timeout=context.remaining(self._timeout_s))

    async def prepare_next(self) -> tuple[list[str], str]:
        # the template as the file has it now: a new mapping version takes effect with this index
        await self._admin().indices.put_index_template(name=self.alias, body=self._template)
        behind_alias = await self._aliased()
        existing = [name for name in await self._indices() if name not in behind_alias]
        current = max((self._number(name) for name in behind_alias), default=0)
        stale = [name for name in existing if self._number(name) <= current]
        if stale:  # older generations an earlier run swapped out but did not get to delete
            log.info("dropping stale generations", extra={"indices": stale})
            await self.drop(stale)
        new = f"{self.alias}-v{current + 1}"
        if new in existing:
            log.info("continuing into the unfinished index of an earlier run", extra={"index": new})
        else:
            try:
                await self._admin().indices.create(index=new)
            except ApiError as exc:
                # another run created it a moment ago: both write the same documents into it
                if _error_type(exc) != "resource_already_exists_exception":
                    raise
        return sorted(behind_alias), new

    async def refresh(self, index: str) -> None:
        await self._admin().indices.refresh(index=index)

    async def swap(self, old: Sequence[str], new: str) -> None:
        # must_exist: if the alias left an old index meanwhile, someone else swapped: the whole
        # update is refused, nothing changes, and we look at what they did
        actions: list[dict[str, Any]] = [
            {"remove": {"index": index, "alias": self.alias, "must_exist": True}} for index in old if index != new
        ]
        actions.append({"add": {"index": new, "alias": self.alias, "is_write_index": True}})
        try:
            await self._admin().indices.update_aliases(actions=actions)
        except NotFoundError:
            if await self._aliased() != [new]:
                raise
            log.info("another run already swapped the alias", extra={"alias": self.alias, "index": new})

    async def drop(self, indices: Sequence[str]) -> None:
        for index in indices:
            await self._admin().options(ignore_status=404).indices.delete(index=index)

    async def _aliased(self) -> list[str]:
        try:
            response = await self._admin().indices.get_alias(name=self.alias)
        except NotFoundError:  # no alias yet (a new cluster): the first generation will be v1
            return []
        return sorted(response.body)

    async def _indices(self) -> list[str]:
        response = await self._admin().indices.get(index=f"{self.alias}-v*", allow_no_indices=True)
        return sorted(name for name in response.body if self._generation.match(name))

    def _number(self, index: str) -> int:
        match = self._generation.match(index)
        return int(match.group(1)) if match else 0
