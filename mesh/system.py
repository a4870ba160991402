"""The clock and the id generator of the running process (the adapters of the Clock and
IdGenerator ports services declare)."""

from __future__ import annotations

from datetime import datetime, timezone

from mesh import ids


class SystemClock:
    def now(self) -> datetime:
        # milliseconds: what a CQL timestamp keeps, so a time read back equals the one written
        now = datetime.now(timezone.utc)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)


class SnowflakeIds:
    def new_id(self) -> int:
        return ids.new_id()
