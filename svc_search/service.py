"""The use cases of svc_search, over the ports (svc_search/ports.py).

- TweetIndexer, UserIndexer: decoded events -> versioned index writes, one bulk request per batch,
  one outcome per event (documents.py says why redelivery and reordering are harmless);
- TweetSearch, UserSearch: the two RPCs;
- TweetIndexRebuild: the tweet index rebuilt from the tweet store into a new index, then swapped in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mesh.errors import Unavailable, require_caller
from mesh.paging import page_size
from svc_search.cursors import decode_cursor, encode_cursor, exact_int
from svc_search.documents import tweet_tombstone, tweet_write, user_write
from svc_search.domain import (
    EventOutcome,
    IndexWrite,
    ProfileChanged,
    TweetChange,
    TweetPage,
    TweetPosition,
    TweetPosted,
    TweetOrder,
    TweetRemoved,
    UserHit,
    UserPage,
    UserPosition,
    UserProfile,
    WriteOutcome,
    parse_query,
    results_key,
)
from svc_search.event_handlers import TweetEvents
from svc_search.ports import (
    DocumentIndex,
    IndexGenerations,
    TweetEventLog,
    TweetSearchIndex,
    TweetSource,
    UserDirectory,
    UserSearchIndex,
)

log = logging.getLogger("svc_search.service")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100  # the proto's rules refuse more

_OUTCOME_OF_WRITE = {
    WriteOutcome.STORED: EventOutcome.DONE,
    WriteOutcome.SUPERSEDED: EventOutcome.DONE,
    WriteOutcome.REJECTED: EventOutcome.REJECT,
    WriteOutcome.FAILED: EventOutcome.RETRY,
}


async def _store(index: DocumentIndex, writes: Sequence[IndexWrite]) -> list[EventOutcome]:
    """One bulk request; the outcome of each write as the outcome of the event it came from."""
    if not writes:
        return []
    try:
        results = await index.write(writes)
    except Unavailable as exc:
        log.warning("index did not take a batch of %d, retrying later: %s", len(writes), exc.message)
        return [EventOutcome.RETRY] * len(writes)
    return [_OUTCOME_OF_WRITE[result] for result in results]


# ---------------------------------------------------------------------------------------------
# Indexing


class TweetIndexer:
    def __init__(self, index: DocumentIndex, users: UserDirectory):
        self._index = index
        self._users = users

    async def apply(self, changes: Sequence[TweetChange]) -> list[EventOutcome]:
        """Index posted tweets and tombstone deleted ones; one outcome per change, in order.

        The author's handle (for `from:`) comes from the graph, once for the whole batch. If the
        graph does not answer, the posted tweets of the batch are retried later rather than
        indexed without it (a write of version 1 is final: it could not be completed afterwards);
        deletions go through regardless.
        """
        authors = {change.tweet.author_id for change in changes if isinstance(change, TweetPosted)}
        handles: dict[int, str] | None = {}
        if authors:
            try:
                handles = await self._users.handles(authors)
            except Unavailable as exc:
                log.warning("graph did not resolve %d authors; their tweets are retried later: %s",
                            len(authors), exc.message)
                handles = None
        outcomes = [EventOutcome.RETRY] * len(changes)
        writes: list[IndexWrite] = []
        written_by: list[int] = []  # the change each write comes from
        for position, change in enumerate(changes):
            if isinstance(change, TweetRemoved):
                writes.append(tweet_tombstone(change.tweet_id))
            elif handles is not None:
                handle = handles.get(change.tweet.author_id)
                if handle is None:
                    log.warning("author %d of tweet %d is unknown to the graph; indexed without a handle",
                                change.tweet.author_id, change.tweet.tweet_id)
                writes.append(tweet_write(change.tweet, handle))
            else:
                continue
            written_by.append(position)
        for position, outcome in zip(written_by, await _store(self._index, writes)):
            outcomes[position] = outcome
        return outcomes


class UserIndexer:
    def __init__(self, index: DocumentIndex):
        self._index = index

    async def apply(self, changes: Sequence[ProfileChanged]) -> list[EventOutcome]:
        return await _store(self._index, [user_write(change) for change in changes])


# ---------------------------------------------------------------------------------------------
# Searching


def _best_match_position(sort_values: list) -> TweetPosition:
    words_matched, tweet_id = sort_values  # ValueError unless exactly two
    return TweetPosition(exact_int(words_matched, minimum=0), exact_int(tweet_id, minimum=1))


def _newest_position(sort_values: list) -> TweetPosition:
    (tweet_id,) = sort_values  # ValueError unless exactly one
    return TweetPosition(0, exact_int(tweet_id, minimum=1))


def _sort_values(position: TweetPosition, order: TweetOrder) -> list[int]:
    if order is TweetOrder.NEWEST:
        return [position.tweet_id]
    return [position.words_matched, position.tweet_id]


_POSITION_OF_CURSOR = {TweetOrder.BEST_MATCH: _best_match_position, TweetOrder.NEWEST: _newest_position}


class TweetSearch:
    def __init__(self, index: TweetSearchIndex, users: UserDirectory):
        self._index = index
        self._users = users

    async def search(
        self, caller: int | None, text: str, limit: int, cursor: str, order: TweetOrder = TweetOrder.BEST_MATCH,
    ) -> TweetPage:
        """A page of live tweets matching `text` (domain.parse_query), in `order`, leaving out the
        tweets of authors who block the caller. A page may hold fewer than `limit` tweets when some
        were left out; only an empty `next_cursor` means the end. A cursor continues only the query
        and the order it was made for."""
        me = require_caller(caller)
        query = parse_query(text)
        size = page_size(limit, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        key = results_key(query, order)
        after = decode_cursor(cursor, key, _POSITION_OF_CURSOR[order], field="cursor_value")
        # one more than asked for: whether there is a next page, without an empty last page
        hits = await self._index.search(query, after, size + 1, order=order)
        page = hits[:size]
        next_cursor = ""
        if len(hits) > size:
            next_cursor = encode_cursor(key, _sort_values(page[-1].position, order))
        # Blocks are checked after the search, on the page only: the index knows no blocks. Without
        # an answer the call fails rather than show a blocker's tweets to the user they block.
        blocking = await self._users.authors_blocking(me, {hit.author_id for hit in page}) if page else set()
        return TweetPage([hit for hit in page if hit.author_id not in blocking], next_cursor)


_LOWERCASED_HANDLE = re.compile(r"[a-z0-9_]{1,15}")


def _user_position(sort_values: list) -> UserPosition:
    (handle,) = sort_values
    if not isinstance(handle, str) or not _LOWERCASED_HANDLE.fullmatch(handle):
        raise ValueError(f"not a lowercased handle: {handle!r}")
    return UserPosition(handle)


def _profile_from_index(hit: UserHit) -> UserProfile:
    return UserProfile(user_id=hit.user_id, handle=hit.handle, display_name=hit.display_name)


class UserSearch:
    def __init__(self, index: UserSearchIndex, users: UserDirectory):
        self._index = index
        self._users = users

    async def search(self, caller: int | None, handle_prefix: str, requested_size: int, page_token: str) -> UserPage:
        """Users whose handle starts with the prefix (case-insensitive), shorter handles first, then
        alphabetical; profiles as the graph has them now, or as the index has them when the graph
        does not answer (counts and bio missing rather than no completion at all)."""
        require_caller(caller)
        prefix = handle_prefix.lower()
        size = page_size(requested_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        query_key = f"handle_prefix={prefix}"
        after = decode_cursor(page_token, query_key, _user_position, field="page_token")
        hits = await self._index.by_handle_prefix(prefix, after, size + 1)
        page = hits[:size]
        next_token = encode_cursor(query_key, [page[-1].position.handle]) if len(hits) > size else ""
        profiles = await self._users.profiles([hit.user_id for hit in page]) if page else {}
        if profiles is None:
            users = [_profile_from_index(hit) for hit in page]
        else:
            # a user the graph no longer knows is left out: the index has not caught up yet
            users = [profiles[hit.user_id] for hit in page if hit.user_id in profiles]
        return UserPage(users, next_token)


# ---------------------------------------------------------------------------------------------
# Rebuilding the tweet index


class RebuildFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class RebuildReport:
    old_indices: list[str]
    new_index: str
    tweets: int  # live tweets indexed from the store
    tombstones: int  # deleted tweets recorded as such
    replayed: int  # events replayed from the stream (written during the rebuild)


class TweetIndexRebuild:
    """The tweet index rebuilt from the tweet store (the source of truth) into the next generation
    `tweets-v<N+1>`, then swapped in behind the alias in one atomic alias update.

    The live indexer keeps writing through the alias (into the old index) while the store is read.
    What changes meanwhile is not lost: the stream position is taken before the scan, and the
    events after it are replayed into the new index, once before the swap and once after it (for
    those the live indexer put into the old index until the swap). Every write is versioned
    (documents.py), so replaying an event the scan already saw, or that arrives after a newer one,
    changes nothing. Deleted tweets get their tombstone in the new index too, so a create replayed
    late cannot bring one back.

    Safe to re-run: an interrupted run leaves its unfinished index unaliased, and the next run
    writes into it again (all writes are idempotent) instead of starting another; two runs at
    once write the same index and the second swap finds the alias already moved.
    """

    def __init__(
        self,
        generations: IndexGenerations,
        source: TweetSource,
        events: TweetEventLog,
        index_into: Callable[[str], DocumentIndex],
        users: UserDirectory,
        *,
        page_size: int = 500,
    ):
        self._generations = generations
        self._source = source
        self._events = events
        self._index_into = index_into
        self._users = users
        self._page_size = page_size

    async def run(self) -> RebuildReport:
        old, new = await self._generations.prepare_next()
        log.info("rebuilding", extra={"old_indices": old, "new_index": new})
        indexer = TweetIndexer(self._index_into(new), self._users)
        replay_into_new = TweetEvents(indexer.apply).handle_batch

        scan_started_at = await self._events.last_sequence()
        tweets = tombstones = 0
        async for changes in self._source.changes(self._page_size):
            outcomes = await indexer.apply(changes)
            failed = sum(outcome is not EventOutcome.DONE for outcome in outcomes)
            if failed:
                raise RebuildFailed(
                    f"{failed} of {len(changes)} tweets could not be indexed into {new} (see the log); "
                    "run the rebuild again: it continues into the same index"
                )
            removed = sum(isinstance(change, TweetRemoved) for change in changes)
            tweets, tombstones = tweets + len(changes) - removed, tombstones + removed
            log.info("indexed from the store", extra={"index": new, "tweets": tweets, "tombstones": tombstones})

        caught_up_to = await self._events.last_sequence()
        replayed = await self._events.replay(scan_started_at, caught_up_to, replay_into_new)
        await self._generations.refresh(new)
        await self._generations.swap(old, new)
        # the live indexer wrote into the old index until the swap: bring those writes over too
        after_swap = await self._events.last_sequence()
        replayed += await self._events.replay(caught_up_to, after_swap, replay_into_new)
        await self._generations.drop([index for index in old if index != new])
        report = RebuildReport(old, new, tweets, tombstones, replayed)
        log.info("rebuilt", extra={"old_indices": old, "new_index": new, "tweets": tweets,
                                   "tombstones": tombstones, "replayed": replayed})
        return report
