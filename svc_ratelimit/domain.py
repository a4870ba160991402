"""Token buckets, the budgets they are filled from, and how Envoy's descriptors name a bucket.

A bucket holds at most `burst` tokens and gains `per_s` tokens a second; a request takes one
(or `hits_addend`) and is over limit when the bucket holds fewer. So a caller may burst up to
`burst` requests at once and then sustain `per_s` a second. No generated code, no I/O.

Envoy sends one descriptor per applicable rate limit of the route (envoy/envoy.yaml). It asks for
writes only; reads it counts itself with the same read budgets (deploy/envoy_render.py), which this
service still answers for when asked:
  [("kind", "read"|"write"), ("user", <verified user id>)]                     after log-in
  [("kind", "read"|"write"), ("caller", "anonymous"), ("remote_address", <ip>)]  before it
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from mesh.config import env_float, env_int
from mesh.errors import InvalidArgument


class Kind(Enum):
    READ = "read"
    WRITE = "write"


class Caller(Enum):
    USER = "user"  # keyed by the verified user id
    ADDRESS = "remote_address"  # anonymous: keyed by the client address


@dataclass(frozen=True)
class Budget:
    """A token bucket's shape: sustained rate and burst."""

    per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.per_s > 0 and math.isfinite(self.per_s)):
            raise ValueError(f"a budget needs a positive rate, got {self.per_s!r}")
        if self.burst < 1:
            raise ValueError(f"a budget needs a burst of at least 1, got {self.burst!r}")

    @property
    def full_after_s(self) -> float:
        """Time an empty bucket takes to fill: an untouched bucket older than this is a full one."""
        return self.burst / self.per_s


# Defaults: a person in an app never comes near these; a script looping on one account does.
# Anonymous budgets are per client address, which a whole office or carrier NAT may share.
DEFAULT_BUDGETS = {
    (Kind.READ, Caller.USER): Budget(50, 300),
    (Kind.WRITE, Caller.USER): Budget(10, 60),
    (Kind.READ, Caller.ADDRESS): Budget(50, 300),
    (Kind.WRITE, Caller.ADDRESS): Budget(20, 200),
}
_ENV_PREFIX = {Caller.USER: "TM_RATELIMIT_", Caller.ADDRESS: "TM_RATELIMIT_ANON_"}


@dataclass(frozen=True)
class Budgets:
    """The four budgets: reads and writes, of signed-in users and of anonymous addresses."""

    by_class: Mapping[tuple[Kind, Caller], Budget]

    @classmethod
    def from_env(cls) -> "Budgets":
        """TM_RATELIMIT_{READ,WRITE}_{PER_S,BURST} (per user) and TM_RATELIMIT_ANON_... (per address)."""
        budgets = {}
        for (kind, caller), default in DEFAULT_BUDGETS.items():
            name = f"{_ENV_PREFIX[caller]}{kind.name}"
            budgets[(kind, caller)] = Budget(env_float(f"{name}_PER_S", default.per_s), env_int(f"{name}_BURST", default.burst))
        return cls(budgets)

    def of(self, bucket: "BucketId") -> Budget:
        return self.by_class[(bucket.kind, bucket.caller)]


@dataclass(frozen=True)
class BucketId:
    """Whose bucket, for which kind of call."""

    kind: Kind
    caller: Caller
    subject: str  # user id or client address

    @property
    def name(self) -> str:
        """`write:user:42`: also the limit's name in X-RateLimit-Limit."""
        return f"{self.kind.value}:{self.caller.value}:{self.subject}"

    @property
    def budget_name(self) -> str:
        return f"{self.kind.value}:{'user' if self.caller is Caller.USER else 'anonymous'}"


def bucket_of(entries: Iterable[tuple[str, str]]) -> BucketId:
    """The bucket a descriptor names; InvalidArgument when it names none (a gateway misconfiguration)."""
    found = dict(entries)
    try:
        kind = Kind(found.get("kind", ""))
    except ValueError:
        raise InvalidArgument(f"descriptor has no valid kind: {sorted(found.items())}", reason="UNKNOWN_DESCRIPTOR") from None
    for caller in Caller:  # a user id wins: a signed-in caller is never limited by address
        subject = found.get(caller.value, "")
        if subject:
            return BucketId(kind, caller, subject)
    raise InvalidArgument(f"descriptor names neither a user nor an address: {sorted(found.items())}",
                          reason="UNKNOWN_DESCRIPTOR")


@dataclass(frozen=True)
class Take:
    """What one atomic take on a bucket did: whether it granted, and the tokens left after it."""

    granted: bool
    tokens: float


@dataclass(frozen=True)
class Verdict:
    """A take as the client sees it (the X-RateLimit-* and Retry-After headers)."""

    bucket: BucketId
    budget: Budget
    granted: bool
    remaining: int  # whole tokens left
    reset_s: int  # seconds until the bucket is full again
    retry_after_s: int  # 0 when granted; else seconds until `cost` tokens are there


def verdict(bucket: BucketId, budget: Budget, take: Take, cost: int) -> Verdict:
    tokens = max(0.0, min(float(budget.burst), take.tokens))
    reset_s = math.ceil((budget.burst - tokens) / budget.per_s - 1e-9) if tokens < budget.burst else 0
    retry_after_s = 0 if take.granted else max(1, math.ceil((cost - tokens) / budget.per_s - 1e-9))
    return Verdict(bucket, budget, take.granted, math.floor(tokens + 1e-9), max(0, reset_s), retry_after_s)


def refill(tokens: float, last_s: float, now_s: float, budget: Budget) -> float:
    """Tokens of a bucket last seen at `last_s` with `tokens`, at `now_s` (never more than burst;
    a clock that went back adds nothing). The Lua script in adapters/redis_buckets.py does the same."""
    return min(float(budget.burst), tokens + max(0.0, now_s - last_s) * budget.per_s)
