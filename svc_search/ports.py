"""What the use cases of svc_search need from the outside world, as small Protocols.

The composition roots (main.py, rebuild.py) pass the real adapters (adapters/); unit tests pass
the in-memory fakes of svc_search/testing.py. Every method that does I/O is async, honours the
caller's deadline (mesh.context) and raises mesh.errors.Unavailable when its server did not answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Protocol

from svc_search.domain import (
    EventOutcome,
    IncomingEvent,
    IndexWrite,
    TweetChange,
    TweetHit,
    TweetOrder,
    TweetPosition,
    TweetQuery,
    UserHit,
    UserPosition,
    UserProfile,
    WriteOutcome,
)

# Applies a batch of consumed events; one outcome per event, in order.
BatchHandler = Callable[[Sequence[IncomingEvent]], Awaitable[Sequence[EventOutcome]]]


class DocumentIndex(Protocol):
    """Where an indexer writes: an alias (the live indexers) or one index (the rebuild)."""

    async def write(self, writes: Sequence[IndexWrite]) -> list[WriteOutcome]:
        """Store the documents in ONE request; one outcome per write, in order."""
        ...


class TweetSearchIndex(Protocol):
    async def search(
        self, query: TweetQuery, after: TweetPosition | None, size: int, *, order: TweetOrder = TweetOrder.BEST_MATCH,
    ) -> list[TweetHit]:
        """Up to `size` live tweets matching `query`, in `order`, strictly after `after` (a
        position under that same order)."""
        ...


class UserSearchIndex(Protocol):
    async def by_handle_prefix(self, prefix: str, after: UserPosition | None, size: int) -> list[UserHit]:
        """Up to `size` users whose handle starts with `prefix` (lowercase), shorter handles first
        then alphabetical, strictly after `after`."""
        ...


class UserDirectory(Protocol):
    """The graph service, as svc_search asks it about users."""

    async def handles(self, user_ids: Collection[int]) -> dict[int, str]:
        """The handle of each user; unknown users are left out."""
        ...

    async def authors_blocking(self, user_id: int, author_ids: Collection[int]) -> set[int]:
        """Those of `author_ids` who block `user_id`."""
        ...

    async def profiles(self, user_ids: Sequence[int]) -> dict[int, UserProfile] | None:
        """Full profiles; None when the graph did not answer (the caller degrades)."""
        ...


class TweetSource(Protocol):
    """Every tweet of the tweet store, for a rebuild of the index."""

    def changes(self, page_size: int) -> AsyncIterator[Sequence[TweetChange]]:
        """Pages of at most about `page_size`: TweetPosted for a live tweet, TweetRemoved for a
        deleted one; retweets are skipped."""
        ...


class TweetEventLog(Protocol):
    """The TWEETS stream, read by position, for the rebuild to catch up on what changed meanwhile."""

    async def last_sequence(self) -> int:
        ...

    async def replay(self, after: int, through: int, handle: BatchHandler) -> int:
        """Hand the events with `after` < sequence <= `through` to `handle`, in batches, in order;
        returns how many were handled. Raises if `handle` answers RETRY for any."""
        ...


class IndexGenerations(Protocol):
    """The numbered indices behind an alias (`tweets-v3`), for the rebuild."""

    async def prepare_next(self) -> tuple[list[str], str]:
        """(the indices the alias points to now, the index of the next generation: created from
        the template, or reused when an interrupted rebuild left it). Drops stale generations."""
        ...

    async def refresh(self, index: str) -> None:
        ...

    async def swap(self, old: Sequence[str], new: str) -> None:
        """Point the alias at `new` only (and write there), atomically."""
        ...

    async def drop(self, indices: Sequence[str]) -> None:
        ...
