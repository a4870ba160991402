"""The request lists the open-loop runs send, built from the loaded dataset.

vegeta sends its targets in order, round robin, so each list here is one request per slot of the
run (rate x duration, warmup included), already mixed in a seeded order: every compose in it is a
new tweet with its own idempotency key (a list that wrapped around would replay keys, and a replay
is answered from the idempotency record, a cheaper request than a compose).
"""

from __future__ import annotations

import json
import math
import random
import uuid
from urllib.parse import quote
from collections.abc import Callable, Sequence

from bench.auth import bearer
from bench.openloop import Target
from bench.report import KIND_COMPOSE, KIND_HOME_TIMELINE, KIND_SEARCH
from mesh.config import Stack

KIND_USER_TIMELINE = "user_timeline"
KIND_PING = "ping"
# DeathStarBench's socialNetwork mix
MIX = ((KIND_HOME_TIMELINE, 0.60), (KIND_USER_TIMELINE, 0.30), (KIND_COMPOSE, 0.10))
TOKEN_TTL_S = 4 * 3600  # longer than any run
_WORDS = ("reed", "campus", "library", "thesis", "coffee", "portland", "canyon", "rain", "lecture", "paper",
          "friends", "weekend", "music", "physics", "poetry", "garden", "bike", "exam", "dorm", "sunset")


def slots(rate_per_s: float, duration_s: float) -> int:
    return max(1, math.ceil(rate_per_s * duration_s))


class Requests:
    """Builds targets for a set of users, each request with its user's token."""

    def __init__(self, stack: Stack, user_ids: Sequence[int], *, seed: int):
        self._stack = stack
        self._users = list(user_ids)
        self._rng = random.Random(seed)
        self._base = stack.envoy_url

    def _auth(self, user_id: int) -> dict[str, str]:
        return bearer(self._stack, user_id, ttl_s=TOKEN_TTL_S)  # minted once per user (bench.auth caches)

    def _user(self) -> int:
        return self._rng.choice(self._users)

    def home(self) -> Target:
        return Target("GET", f"{self._base}/v1/timelines/home", self._auth(self._user()), kind=KIND_HOME_TIMELINE)

    def user_timeline(self) -> Target:
        # vegeta's results name the URL, not the target: the kind is read back from the path
        return Target("GET", f"{self._base}/v1/timelines/users/{self._user()}", self._auth(self._user()),
                      kind=KIND_USER_TIMELINE)

    def compose(self) -> Target:
        words = self._rng.choices(_WORDS, k=self._rng.randint(5, 16))
        # a fresh idempotency key, never a seeded one: the seed repeats across runs, and a repeated
        # key is answered from the first run's record (no tweet, no fan-out, a cheaper request)
        body = {"twitterContent": " ".join(words), "requestId": uuid.uuid4().hex}
        headers = {**self._auth(self._user()), "Content-Type": "application/json"}
        return Target("POST", f"{self._base}/v1/tweets", headers, json.dumps(body).encode(), kind=KIND_COMPOSE)

    def ping(self) -> Target:
        return Target("GET", f"{self._base}/v1/ping", self._auth(self._user()), kind=KIND_PING)

    def search(self, term: str) -> Target:
        return Target("GET", f"{self._base}/v1/search?tweetName={quote(term)}", self._auth(self._user()), kind=KIND_SEARCH)

    def mixed(self, count: int) -> list[Target]:
        """`count` requests of the DeathStarBench mix, interleaved at random (seeded)."""
        makers: dict[str, Callable[[], Target]] = {
            KIND_HOME_TIMELINE: self.home, KIND_USER_TIMELINE: self.user_timeline, KIND_COMPOSE: self.compose,
        }
        kinds = self._rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=count)
        return [makers[kind]() for kind in kinds]

    def every_timeline(self) -> list[Target]:
        """Each user's home timeline and user timeline, once each, as that user, in a seeded order."""
        targets = [
            *(Target("GET", f"{self._base}/v1/timelines/home", self._auth(u), kind=KIND_HOME_TIMELINE) for u in self._users),
            *(Target("GET", f"{self._base}/v1/timelines/users/{u}", self._auth(u), kind=KIND_USER_TIMELINE)
              for u in self._users),
        ]
        self._rng.shuffle(targets)
        return targets

    def only(self, kind: str, count: int) -> list[Target]:
        maker = {KIND_HOME_TIMELINE: self.home, KIND_USER_TIMELINE: self.user_timeline, KIND_COMPOSE: self.compose,
                 KIND_PING: self.ping}[kind]
        return [maker() for _ in range(count)]

    def searches(self, terms: Sequence[str], count: int) -> list[Target]:
        return [self.search(self._rng.choice(terms)) for _ in range(count)]
