"""The garbage-collection pause histogram: each collection is timed, under its generation."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY

from mesh import metrics


def _observed(generation: str) -> tuple[float, float]:
    """(collections, seconds) recorded for the generation so far."""
    labels = {"generation": generation}
    return (REGISTRY.get_sample_value("python_gc_pause_seconds_count", labels) or 0.0,
            REGISTRY.get_sample_value("python_gc_pause_seconds_sum", labels) or 0.0)


def test_every_collection_is_timed_under_its_generation():
    callbacks = list(gc.callbacks)
    try:
        metrics.observe_gc_pauses()
        count_before, seconds_before = _observed("2")
        gc.collect(2)
        gc.collect(2)
        count_after, seconds_after = _observed("2")
    finally:
        gc.callbacks[:] = callbacks
    assert count_after - count_before == 2
    assert seconds_after > seconds_before
