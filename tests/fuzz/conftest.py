"""What the fuzz tests share: how many examples, a deterministic Hypothesis profile, and a pool of
signed-up callers to spread the generated requests over.

`make test` runs a bounded version (TM_FUZZ_EXAMPLES, default 5 examples per operation and per RPC);
`make fuzz` runs the long one (TM_FUZZ_EXAMPLES=300: thousands of requests) against the running mesh.

Rate limits: every caller has a write budget of 10/s (burst 60) at the gateway. The pool spreads the
requests over several users (more users for longer runs) so that most of them reach the services,
and a 429 / RESOURCE_EXHAUSTED is accepted as an answer: it is a correct 4xx, not a failure. What
fails is a 5xx (INTERNAL, UNKNOWN, ...) or a call that does not answer within its timeout.
"""

from __future__ import annotations

import collections
import itertools
import threading

import pytest
from hypothesis import HealthCheck, settings

from mesh.config import Stack, env_int
from tests.e2e.conftest import account, bearer, gateway, mint_token  # noqa: F401  (gateway: a fixture re-exported here)

EXAMPLES = env_int("TM_FUZZ_EXAMPLES", 5)
# Seconds a REST request or a unary gRPC call may take before it counts as a hang.
TIMEOUT_S = 10.0

# Deterministic: the same examples every run (no example database, derandomized), so CI is not
# flaky. Applied per test (`@FUZZ_SETTINGS`), not as a global profile other tests would inherit.
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a slow call is judged by TIMEOUT_S, not by Hypothesis' per-example deadline
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
    print_blob=False,
)


# A long run outlives the access tokens svc_graph issues (TM_ACCESS_TOKEN_TTL_S, 15 min): past that,
# every request would be a 401 and test nothing else. The pool's users sign up and log in as anyone
# does; their tokens are then made like svc_graph's (the stack's key, same claims) to last the run.
TOKEN_TTL_S = 6 * 3600


class Callers:
    """A few fresh users; `next()` hands them out in turn, so no single write budget is drained."""

    def __init__(self, stack: Stack, size: int):
        self.accounts = [account(stack.envoy_url) for _ in range(size)]
        for caller in self.accounts:
            caller["auth"] = bearer(mint_token(stack, caller["id"], ttl_s=TOKEN_TTL_S))
        self._cycle = itertools.cycle(self.accounts)
        self._lock = threading.Lock()

    def next(self) -> dict:
        with self._lock:
            return next(self._cycle)


@pytest.fixture(scope="session")
def callers(stack, gateway) -> Callers:  # noqa: F811  (gateway: the mesh must be up)
    return Callers(stack, size=max(3, min(40, EXAMPLES // 10)))


class Tally:
    """Status codes seen, printed at the end: a run where everything was 429 or 404 proves little."""

    def __init__(self):
        self.counts: collections.Counter = collections.Counter()
        self._lock = threading.Lock()

    def add(self, key) -> None:
        with self._lock:
            self.counts[key] += 1

    def summary(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items(), key=lambda kv: str(kv[0])))


@pytest.fixture(scope="session")
def rest_tally():
    tally = Tally()
    yield tally
    print(f"\n[fuzz] REST answers by status ({sum(tally.counts.values())} requests): {tally.summary()}")


@pytest.fixture(scope="session")
def grpc_tally():
    tally = Tally()
    yield tally
    print(f"\n[fuzz] gRPC answers by status ({sum(tally.counts.values())} calls): {tally.summary()}")
