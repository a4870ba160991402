"""Snowflake ids: 64-bit, time-ordered, unique across processes without coordination.

Layout (most significant first), as Twitter's Snowflake:

    0 | 41 bits ms since EPOCH (2024-01-01T00:00:00Z) | 10 bits worker id | 12 bits sequence

so ids sort by creation time, a process makes up to 4096 ids a millisecond, and ids stay positive
63-bit integers until 2093. On the API they are decimal strings (`to_str`, `parse`), because
JavaScript numbers lose precision above 2**53.

Uniqueness rests on the worker id: every process that makes ids at the same time needs its own.
Production sets TM_WORKER_ID (0-1023) uniquely per replica, e.g. from the StatefulSet ordinal. The
local default, pid % 1024, is only good on one machine: in containers every service is pid 1.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from mesh.config import env_int

EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
EPOCH_MS = int(EPOCH.timestamp() * 1000)

TIMESTAMP_BITS = 41
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER_ID = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
MAX_ELAPSED_MS = (1 << TIMESTAMP_BITS) - 1
MAX_ID = (1 << (TIMESTAMP_BITS + WORKER_BITS + SEQUENCE_BITS)) - 1
WORKER_SHIFT = SEQUENCE_BITS
TIMESTAMP_SHIFT = WORKER_BITS + SEQUENCE_BITS

# what the API accepts (protos/README.md): no sign, no leading zero, no spaces, ASCII digits only
_ID_TEXT = re.compile(r"[1-9][0-9]{0,18}")


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class IdGenerator:
    """Makes increasing ids for one worker; safe to share between threads and tasks.

    `new_id` never sleeps, so it never blocks the event loop: when the clock steps back (NTP) it
    keeps counting on the last millisecond it used, and when 4096 ids exhaust a millisecond it
    moves on to the next one ahead of the clock. Either way ids stay unique and increasing; their
    timestamps run slightly ahead until the wall clock catches up.
    """

    def __init__(self, worker_id: int, *, clock_ms: Callable[[], int] = _wall_clock_ms):
        if not 0 <= worker_id <= MAX_WORKER_ID:
            raise ValueError(f"worker id must be between 0 and {MAX_WORKER_ID}, got {worker_id}")
        self.worker_id = worker_id
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._last_ms = -1  # elapsed ms since EPOCH of the last id made
        self._sequence = 0

    def new_id(self) -> int:
        with self._lock:
            now_ms = self._clock_ms() - EPOCH_MS
            if now_ms > self._last_ms:
                self._last_ms, self._sequence = now_ms, 0
            elif self._sequence < MAX_SEQUENCE:
                self._sequence += 1  # same millisecond, or the clock went back: stay on the last one
            else:
                self._last_ms, self._sequence = self._last_ms + 1, 0  # borrow the next millisecond
            if not 0 <= self._last_ms <= MAX_ELAPSED_MS:
                raise RuntimeError(f"clock outside the id range: {self._last_ms} ms after {EPOCH.isoformat()}")
            return (self._last_ms << TIMESTAMP_SHIFT) | (self.worker_id << WORKER_SHIFT) | self._sequence


def worker_id_from_env() -> int:
    """TM_WORKER_ID when set (production: unique per replica), else pid % 1024 (one machine only)."""
    worker_id = env_int("TM_WORKER_ID", os.getpid() % (MAX_WORKER_ID + 1))
    if not 0 <= worker_id <= MAX_WORKER_ID:
        raise ValueError(f"TM_WORKER_ID must be between 0 and {MAX_WORKER_ID}, got {worker_id}")
    return worker_id


_default: IdGenerator | None = None
_default_lock = threading.Lock()


def _forget_default_generator() -> None:
    # a forked child has a new pid: without TM_WORKER_ID it must not reuse the parent's worker id
    global _default
    _default = None


os.register_at_fork(after_in_child=_forget_default_generator)


def new_id() -> int:
    """A new id from this process's generator (worker id read from the environment on first use)."""
    global _default
    generator = _default
    if generator is None:
        with _default_lock:
            if _default is None:
                _default = IdGenerator(worker_id_from_env())
            generator = _default
    return generator.new_id()


def _check_range(id_: int) -> None:
    if isinstance(id_, bool) or not isinstance(id_, int):
        raise TypeError(f"an id is an int, got {type(id_).__name__}")
    if not 0 < id_ <= MAX_ID:
        raise ValueError(f"{id_} is not an id: ids are between 1 and {MAX_ID}")


def to_str(id_: int) -> str:
    """The API form of an id: its decimal string."""
    _check_range(id_)
    return str(id_)


def parse(text: str) -> int:
    """The id a decimal string names; ValueError says what is wrong with anything else."""
    if not isinstance(text, str):
        raise TypeError(f"an id is parsed from a str, got {type(text).__name__}")
    if not _ID_TEXT.fullmatch(text):
        raise ValueError(
            f"{text!r} is not an id: ids are decimal strings of 1 to 19 digits without sign, spaces or leading zero"
        )
    value = int(text)
    if value > MAX_ID:
        raise ValueError(f"{text!r} is not an id: it is larger than {MAX_ID}")
    return value


def timestamp_of(id_: int) -> datetime:
    """When the id was made (UTC, millisecond precision)."""
    _check_range(id_)
    return EPOCH + timedelta(milliseconds=id_ >> TIMESTAMP_SHIFT)
