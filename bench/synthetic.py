"""The synthetic follow graph: seeded, heavy-tailed, with special users at known ids. No I/O.

Users are numbered 0..users-1. Their ids are Snowflake ids (mesh/ids.py layout) of their creation
times, one every `user_step_ms` from `users_from` on, made by worker `WORKER_ID`: so user i has
the id `first_user_id + i * user_id_stride` and ids are the same on every run.

Who follows whom:
- the fan-out authors (users 0, 1, 2 by default) have exactly 10, 1,000 and 10,000 followers, and
  the celebrities (the next users) exactly their `celebrity_followers` (20k to 60k), drawn
  uniformly from everybody else;
- every other user gets a follower count from a Pareto law (heavy tail: most have a handful, a few
  thousands), capped at `max_followers`, below the celebrity threshold, so the celebrities listed
  are the only ones; the followers are drawn with probability proportional to a log-normal
  "activity" of each user, so how many users one follows is skewed too (mean ~10).
No self-follows, no follow twice. Each follow has a time after both users were created.
"""

from __future__ import annotations

import math
import random
from array import array
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from itertools import accumulate
from typing import Any

from mesh.ids import EPOCH_MS, TIMESTAMP_SHIFT, WORKER_SHIFT

from bench.dataset import SEED

WORKER_ID = 1023  # the Snowflake worker of everything the loader makes (services use pid % 1024)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def snowflake(ms: int, sequence: int = 0) -> int:
    """The id mesh.ids.IdGenerator would make at `ms` as worker WORKER_ID."""
    return ((ms - EPOCH_MS) << TIMESTAMP_SHIFT) | (WORKER_ID << WORKER_SHIFT) | sequence


@dataclass(frozen=True)
class GraphSpec:
    users: int = 100_000
    seed: int = SEED
    fanout_sizes: tuple[int, ...] = (10, 1_000, 10_000)
    celebrity_followers: tuple[int, ...] = (20_000, 30_000, 45_000, 60_000)
    celebrity_threshold: int = 10_000  # TM_CELEBRITY_THRESHOLD: more followers than this = celebrity
    pareto_alpha: float = 1.3  # tail of the follower counts of ordinary users
    pareto_scale: float = 3.0  # their follower count is floor(scale * pareto) - 2, so 1 at least
    max_followers: int = 5_000  # of an ordinary user
    activity_sigma: float = 1.0  # log-normal spread of how much users follow
    handle_format: str = "syn%06d"
    users_from: str = "2025-01-01T00:00:00+00:00"
    user_step_ms: int = 300_000  # one user every 5 minutes: 100k users over ~347 days
    follows_until: str = "2026-04-30T00:00:00+00:00"

    def __post_init__(self) -> None:
        specials = len(self.fanout_sizes) + len(self.celebrity_followers)
        if max((*self.fanout_sizes, *self.celebrity_followers), default=0) >= self.users - specials:
            raise ValueError("a special user cannot have more followers than there are other users")
        if any(size > self.celebrity_threshold for size in self.fanout_sizes):
            raise ValueError("fan-out authors must not be celebrities")
        if any(size <= self.celebrity_threshold for size in self.celebrity_followers):
            raise ValueError(f"celebrities need more than {self.celebrity_threshold} followers")
        if self.max_followers > self.celebrity_threshold:
            raise ValueError("ordinary users must stay below the celebrity threshold")
        if self.last_created_ms >= _ms(datetime.fromisoformat(self.follows_until)):
            raise ValueError("follows_until must come after the last user was created")

    @property
    def first_created_ms(self) -> int:
        return _ms(datetime.fromisoformat(self.users_from))

    @property
    def last_created_ms(self) -> int:
        return self.first_created_ms + (self.users - 1) * self.user_step_ms

    def created_ms(self, index: int) -> int:
        return self.first_created_ms + index * self.user_step_ms

    @property
    def first_user_id(self) -> int:
        return snowflake(self.first_created_ms)

    @property
    def user_id_stride(self) -> int:
        return self.user_step_ms << TIMESTAMP_SHIFT

    def user_id(self, index: int) -> int:
        return self.first_user_id + index * self.user_id_stride

    def handle(self, index: int) -> str:
        return self.handle_format % index

    def display_name(self, index: int) -> str:
        return f"Synthetic {index}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SyntheticGraph:
    """The follows as three parallel arrays (follower, followee: user numbers; time in ms since
    the Unix epoch), grouped by followee: every followee's follows are contiguous."""

    spec: GraphSpec
    follower: array = field(default_factory=lambda: array("q"))
    followee: array = field(default_factory=lambda: array("q"))
    follow_ms: array = field(default_factory=lambda: array("q"))
    fanout_authors: dict[int, int] = field(default_factory=dict)  # follower count -> user number
    celebrities: list[tuple[int, int]] = field(default_factory=list)  # (user number, follower count)

    def __len__(self) -> int:
        return len(self.follower)

    @property
    def special_users(self) -> list[int]:
        return [*self.fanout_authors.values(), *(user for user, _ in self.celebrities)]

    def by_follower(self) -> list[int]:
        """Positions of the follows sorted by follower (for the follower's partitions)."""
        follower = self.follower
        return sorted(range(len(follower)), key=follower.__getitem__)


def generate(spec: GraphSpec = GraphSpec()) -> SyntheticGraph:
    rng = random.Random(f"{spec.seed}:graph:{spec.users}")
    graph = SyntheticGraph(spec)
    n = spec.users
    special = 0
    for size in spec.fanout_sizes:
        graph.fanout_authors[size] = special
        special += 1
    for size in spec.celebrity_followers:
        graph.celebrities.append((special, size))
        special += 1

    # the special users: exactly `size` followers each, uniformly from everybody else
    for user, size in [(user, size) for size, user in graph.fanout_authors.items()] + graph.celebrities:
        followers = rng.sample(range(n - 1), size)  # numbers 0..n-2, shifted past `user`: no self-follow
        _add(graph, rng, user, [f + (f >= user) for f in followers])

    # everybody else: a heavy-tailed follower count, followers weighted by activity
    activity = [rng.lognormvariate(0.0, spec.activity_sigma) for _ in range(n)]
    cumulative = list(accumulate(activity))
    population = range(n)
    for user in range(special, n):
        wanted = min(spec.max_followers, int(spec.pareto_scale * rng.paretovariate(spec.pareto_alpha)) - 2)
        chosen: dict[int, None] = {}  # insertion-ordered: the draw order is part of the seed's outcome
        while len(chosen) < wanted:
            for follower in rng.choices(population, cum_weights=cumulative, k=wanted - len(chosen)):
                if follower != user:
                    chosen[follower] = None
        _add(graph, rng, user, list(chosen)[:wanted])
    return graph


def _add(graph: SyntheticGraph, rng: random.Random, followee: int, followers: list[int]) -> None:
    spec = graph.spec
    until = _ms(datetime.fromisoformat(spec.follows_until))
    followee_created = spec.created_ms(followee)
    for follower in followers:
        since = max(followee_created, spec.created_ms(follower))
        graph.follower.append(follower)
        graph.followee.append(followee)
        graph.follow_ms.append(since + math.floor(rng.random() * (until - since)))


def follower_counts(graph: SyntheticGraph) -> list[int]:
    counts = [0] * graph.spec.users
    for followee in graph.followee:
        counts[followee] += 1
    return counts


def as_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
