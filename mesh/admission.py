"""Admission: a bound on the calls a service works on at once, so overload is shed, not queued.

Without a bound, a service past its capacity starts every call it is sent; each one then gets a
thinner share of the CPU, and all of them outlive their deadlines together. Measured (bench/, home
timeline at 100/s on caches just emptied, a read then costing ~40 ms of the mesh's CPU): 99% of
reads failed for the first 25 s, as nearly every call waited its 2 s on a peer, then failed.

With a bound, the calls beyond it wait their turn in arrival order, for at most `max_wait_s` (or
what is left of their deadline), and the rest are refused at once with UNAVAILABLE
(SERVER_OVERLOADED): the calls admitted finish in time, a refusal costs a fraction of a
millisecond, and the caches the admitted calls fill bring the service back sooner. Callers see a
503 over REST; peers retry UNAVAILABLE a few times, throttled (mesh.clients).

The bound counts calls of this process (unary RPCs; streams and health checks are not counted).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib

from mesh import metrics
from mesh.errors import Unavailable

OVERLOADED_REASON = "SERVER_OVERLOADED"


class Overloaded(Unavailable):
    default_reason = OVERLOADED_REASON


class AdmissionGate:
    """At most `max_in_flight` calls inside at once; later ones queue, in order, for a limited time."""

    def __init__(self, max_in_flight: int, max_wait_s: float):
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be 0 or more, got {max_wait_s}")
        self.max_in_flight = max_in_flight
        self.max_wait_s = max_wait_s
        self._in_flight = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def enter(self, time_left_s: float | None = None) -> None:
        """Take a place, to give back with `leave()`; raises Overloaded when none frees up within
        `max_wait_s` (or `time_left_s`, the call's remaining deadline, when shorter)."""
        wait_s = self.max_wait_s if time_left_s is None else min(self.max_wait_s, time_left_s)
        if self._in_flight < self.max_in_flight and not self._waiting:
            self._in_flight += 1
            metrics.CALLS_IN_FLIGHT.set(self._in_flight)
            return
        if wait_s <= 0:
            raise self._refusal()
        loop = asyncio.get_running_loop()
        began = loop.time()
        turn = loop.create_future()
        self._waiting.append(turn)
        try:
            async with asyncio.timeout(wait_s):
                await turn  # leave() passes its place on: _in_flight already counts us
            metrics.ADMISSION_WAIT.observe(loop.time() - began)
        except TimeoutError:
            if turn.done() and not turn.cancelled():
                return  # handed a place just as the wait ran out: take it
            raise self._refusal() from None
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.leave()  # a place handed to a call that was cancelled meanwhile
            raise
        finally:
            if not turn.done():
                turn.cancel()
            with contextlib.suppress(ValueError):
                self._waiting.remove(turn)

    def leave(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the place goes to the oldest waiter, still counted
                return
        self._in_flight -= 1
        metrics.CALLS_IN_FLIGHT.set(self._in_flight)

    def _refusal(self) -> Overloaded:
        metrics.SHED_CALLS.inc()
        return Overloaded(
            f"the service is at capacity ({self.max_in_flight} calls in progress); try again shortly",
            reason=OVERLOADED_REASON,
        )
