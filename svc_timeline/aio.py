"""Small helpers of svc_timeline's use cases and adapters (gather_bounded lives in mesh.aio)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from mesh.aio import gather_bounded
from typing import TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
