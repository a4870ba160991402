"""In-memory fakes of the ports every service has (a Clock, an IdGenerator), for unit tests.

Each service's testing.py holds the fakes of its own ports; these two are the same everywhere.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone


class ManualClock:
    def __init__(self, start: datetime = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)):
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class SequentialIds:
    def __init__(self, start: int = 1000):
        self._next = itertools.count(start)

    def new_id(self) -> int:
        return next(self._next)
