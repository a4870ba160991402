"""The CQL driver's failures as the domain error callers understand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cassandra import DriverException, RequestExecutionException
from cassandra.cluster import NoHostAvailable

from mesh.errors import Unavailable


@contextmanager
def store_unavailable_on_failure(what: str) -> Iterator[None]:
    """Timeouts and unreachable replicas become Unavailable (UNAVAILABLE to a client, a delayed
    retry to the event consumer) instead of an INTERNAL error with the driver's message."""
    try:
        yield
    except (RequestExecutionException, DriverException, NoHostAvailable) as exc:
        raise Unavailable(f"timeline store did not answer ({what}): {type(exc).__name__}",
                          reason="TIMELINE_STORE_UNAVAILABLE") from exc
