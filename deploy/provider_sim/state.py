"""What the simulators remember: requests they answered, scripted answers, permanent target states."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

RECORD_LIMIT = 10_000  # a long-running local stack keeps the latest requests only


def _log() -> deque[dict[str, Any]]:
    return deque(maxlen=RECORD_LIMIT)


class Scripts:
    """Per-target queues of scripted answers, consumed one per request."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[dict[str, Any]]] = defaultdict(deque)

    def add(self, target: str, responses: list[dict[str, Any]]) -> None:
        self._queues[target].extend(responses)

    def next(self, target: str) -> dict[str, Any] | None:
        queue = self._queues.get(target)
        if not queue:
            return None
        answer = queue.popleft()
        if not queue:
            del self._queues[target]
        return answer

    def clear(self) -> None:
        self._queues.clear()


@dataclass
class SimState:
    apns_requests: deque[dict[str, Any]] = field(default_factory=_log)
    apns_scripts: Scripts = field(default_factory=Scripts)
    apns_unregistered: dict[str, int] = field(default_factory=dict)  # token -> since (ms)
    fcm_requests: deque[dict[str, Any]] = field(default_factory=_log)
    fcm_token_requests: deque[dict[str, Any]] = field(default_factory=_log)
    fcm_scripts: Scripts = field(default_factory=Scripts)
    fcm_unregistered: set[str] = field(default_factory=set)
    fcm_access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expires (epoch s)
    fcm_revoked: set[str] = field(default_factory=set)
    smtp_messages: deque[dict[str, Any]] = field(default_factory=_log)
    smtp_scripts: Scripts = field(default_factory=Scripts)
    smtp_rejected: set[str] = field(default_factory=set)

    def reset(self) -> None:
        fresh = SimState()
        for name in vars(self):
            setattr(self, name, getattr(fresh, name))
