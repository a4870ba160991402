"""Snowflake ids: time-ordered, unique, in the documented layout, parsed strictly."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from mesh import ids

JAN_2_2024_MS = ids.EPOCH_MS + 86_400_000


class FakeClock:
    def __init__(self, ms: int):
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_ids_increase_and_are_unique_in_a_tight_loop():
    made = [ids.new_id() for _ in range(50_000)]  # far more than 4096 per millisecond
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_made_by_many_threads_at_once_are_unique():
    generator = ids.IdGenerator(7)
    made: list[list[int]] = [[] for _ in range(8)]

    def make(into: list[int]) -> None:
        into.extend(generator.new_id() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [id_ for into in made for id_ in into]
    assert len(set(everything)) == 40_000
    assert all(into == sorted(into) for into in made)


def test_layout_is_time_then_worker_then_sequence():
    generator = ids.IdGenerator(513, clock_ms=FakeClock(JAN_2_2024_MS))
    first, second = generator.new_id(), generator.new_id()
    assert first >> 22 == 86_400_000
    assert (first >> 12) & 0x3FF == 513
    assert first & 0xFFF == 0 and second & 0xFFF == 1
    assert ids.timestamp_of(first) == datetime(2024, 1, 2, tzinfo=timezone.utc)


def test_a_clock_going_backwards_never_makes_a_smaller_or_repeated_id():
    clock = FakeClock(JAN_2_2024_MS)
    generator = ids.IdGenerator(1, clock_ms=clock)
    before = generator.new_id()
    clock.ms -= 5_000  # NTP stepped the clock back five seconds
    after = [generator.new_id() for _ in range(10)]
    assert all(id_ > before for id_ in after) and after == sorted(set(after))
    assert ids.timestamp_of(after[-1]) == ids.timestamp_of(before)  # stays on the last millisecond
    clock.ms += 5_001  # the clock caught up: ids follow it again
    assert ids.timestamp_of(generator.new_id()) == datetime(2024, 1, 2, 0, 0, 0, 1000, tzinfo=timezone.utc)


def test_an_exhausted_millisecond_moves_on_to_the_next_without_waiting():
    generator = ids.IdGenerator(1, clock_ms=FakeClock(JAN_2_2024_MS))
    made = [generator.new_id() for _ in range(ids.MAX_SEQUENCE + 2)]
    assert len(set(made)) == len(made) and made == sorted(made)
    assert (made[-1] >> 22) - (made[0] >> 22) == 1


def test_a_clock_before_the_epoch_is_refused():
    generator = ids.IdGenerator(1, clock_ms=FakeClock(ids.EPOCH_MS - 1))
    with pytest.raises(RuntimeError, match="clock outside the id range"):
        generator.new_id()


@pytest.mark.parametrize("worker_id", [-1, 1024])
def test_worker_ids_outside_ten_bits_are_refused(worker_id):
    with pytest.raises(ValueError, match="worker id"):
        ids.IdGenerator(worker_id)


def test_worker_id_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TM_WORKER_ID", "42")
    assert ids.worker_id_from_env() == 42
    monkeypatch.setenv("TM_WORKER_ID", "4096")
    with pytest.raises(ValueError, match="TM_WORKER_ID"):
        ids.worker_id_from_env()


def test_ids_round_trip_through_their_decimal_string():
    id_ = ids.new_id()
    assert ids.parse(ids.to_str(id_)) == id_
    assert ids.to_str(id_) == str(id_)
    assert ids.parse(str(ids.MAX_ID)) == ids.MAX_ID


@pytest.mark.parametrize(
    "text", ["", "0", "007", "-5", "+5", " 5", "5 ", "1_000", "12a", "١٢٣", "1e5", "12345678901234567890"]
)
def test_parse_refuses_anything_but_a_plain_decimal_id(text):
    with pytest.raises(ValueError, match="is not an id"):
        ids.parse(text)


def test_parse_refuses_a_number_beyond_63_bits():
    with pytest.raises(ValueError, match="larger than"):
        ids.parse(str(ids.MAX_ID + 1))


def test_to_str_refuses_what_cannot_be_an_id():
    with pytest.raises(ValueError):
        ids.to_str(0)
    with pytest.raises(TypeError):
        ids.to_str("123")  # type: ignore[arg-type]
