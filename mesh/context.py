"""Per-call context carried through async code: request id and the deadline of the call.

Adapters read `deadline` to give every outbound call the caller's remaining time (never more than
their own cap), so a slow dependency fails the call on time instead of piling up work.
"""

from __future__ import annotations

import contextvars
import time

from mesh.errors import Unavailable

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
caller_user_id: contextvars.ContextVar[str] = contextvars.ContextVar("caller_user_id", default="")
# absolute time.monotonic() by which the current call must be answered; None outside a call
deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


def remaining(cap: float) -> float:
    """Seconds an outbound call may take: the call's remaining time, at most `cap`.

    Raises Unavailable when the call's time is already spent: starting I/O then only wastes the
    dependency's capacity on an answer nobody will read.
    """
    end = deadline.get()
    if end is None:
        return cap
    left = end - time.monotonic()
    if left <= 0:
        raise Unavailable("the request ran out of time before a dependency could be called",
                          reason="DEADLINE_SPENT")
    return min(cap, left)
