"""Small helpers every service's CQL adapters share: rows, timestamps, IN-list chunks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

from cassandra.query import UNSET_VALUE

T = TypeVar("T")

# ScyllaDB refuses more than 100 clustering keys in one IN by default
# (max_clustering_key_restrictions_per_query); Cassandra has no such limit, we keep to the lower one.
MAX_IN_KEYS = 100


def utc(moment: datetime | None) -> datetime | None:
    """The driver returns timestamps as naive UTC datetimes; the domain uses aware ones."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def micros(moment: datetime) -> int:
    """A CQL write timestamp (microseconds since the Unix epoch)."""
    return int(round(moment.timestamp() * 1000)) * 1000


def rows_of(result: Any) -> list[Any]:
    """mesh.cql.execute answers a list of rows, or None for a statement without rows."""
    return list(result or ())


def was_applied(result: Any) -> bool:
    """Whether a conditional statement (IF ...) was applied: `[applied]` is its first column."""
    rows = rows_of(result)
    return bool(rows and rows[0][0])


def chunks(items: Sequence[T], size: int = MAX_IN_KEYS) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def unique(items: Iterable[T]) -> list[T]:
    return list(dict.fromkeys(items))


async def rows_in(run: Callable[[str, tuple], Awaitable[Any]], query: str, keys: Sequence[Any], *leading: Any) -> list[Any]:
    """The rows of `query`, whose last placeholder is `IN ?`, for every one of `keys`: one statement
    per MAX_IN_KEYS keys, run by `run(query, parameters)` in parallel; `leading` are the values of
    the placeholders before it. A read's cost is per statement, in the driver and the store: this
    is what reading many partitions or rows at once should go through."""
    pages = await asyncio.gather(*(run(query, (*leading, list(chunk))) for chunk in chunks(unique(keys))))
    return [row for page in pages for row in rows_of(page)]


def unset_if_empty(value: Any) -> Any:
    """For a bound value of an optional column: absent (None, or an empty collection, which CQL
    stores as null) is left unset rather than written as null, which would leave a tombstone
    per column and row that every later scan must read past. Reads see None either way."""
    if value is None or (isinstance(value, (list, set, tuple, dict)) and not value):
        return UNSET_VALUE
    return value
