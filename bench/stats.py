"""Figures from per-request results: counts, errors, throughput, exact latency percentiles, and the
rate sweep that finds the highest rate a workload sustains within its latency target.

Percentiles are exact order statistics by the nearest-rank rule: pQ is the smallest observed
latency such that at least Q% of the samples are <= it (rank ceil(Q/100 * n), 1-based, of the sorted
samples). Nothing is interpolated or bucketed, so p99.9 of 10,000 samples is the 9,990th smallest.

Latency figures are those of the ok (2xx) answers. A failure is counted in `errors` (by HTTP status,
or by the transport error's text: a timeout is an error), never in the latency: a fast 429 or 503
must not make a p99 look better. The error rate is judged next to the latency for that reason.

No I/O here: bench/openloop.py and bench/ceilings.py produce the samples, bench/report.py prints.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypedDict

PERCENTILES: dict[str, float] = {"p50": 50, "p90": 90, "p99": 99, "p99.9": 99.9}
# quantiles kept per kind for the latency CDF plot: the body in 1% steps, then the tail
CDF_QUANTILES: tuple[float, ...] = (
    *(i / 100 for i in range(0, 100)), 0.995, 0.999, 0.9995, 0.9999, 1.0,
)


class Sample(NamedTuple):
    """One request as the load generator saw it."""

    kind: str  # what the request was (compose, home_timeline, ...): figures are split by it
    start_s: float  # when it was sent, seconds from the start of the run
    latency_ms: float
    code: int  # HTTP status; 0 when no answer came (timeout, refused connection)
    error: str = ""  # the generator's error text, empty when ok

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300


class Summary(TypedDict):
    """The figures of a set of samples (a run, or one kind of request in it)."""

    count: int
    ok: int
    errors: dict[str, int]  # "HTTP 503": n, "timeout": n, ...
    error_rate: float  # (count - ok) / count
    window_s: float
    throughput_per_s: float  # ok answers per second of the measured window
    latency_ms: dict[str, float | None]  # p50 p90 p99 p99.9 max mean, of the ok answers
    cdf_ms: list[list[float]]  # [[quantile, ms], ...] at CDF_QUANTILES, for plots


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100) of already sorted values."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    # round first: 99.9 / 100 * 1000 is 999.0000000000001 in floats, whose ceil would be one rank off
    rank = math.ceil(round(q / 100 * len(sorted_values), 9))
    return sorted_values[max(rank, 1) - 1]


def latency_summary(latencies_ms: Iterable[float]) -> dict[str, float | None]:
    """p50 p90 p99 p99.9 max mean of latencies (None each when there are none)."""
    ordered = sorted(latencies_ms)
    if not ordered:
        return {**{name: None for name in PERCENTILES}, "max": None, "mean": None}
    figures: dict[str, float | None] = {name: percentile(ordered, q) for name, q in PERCENTILES.items()}
    figures["max"] = ordered[-1]
    figures["mean"] = math.fsum(ordered) / len(ordered)
    return figures


def cdf(sorted_values: Sequence[float]) -> list[list[float]]:
    if not sorted_values:
        return []
    return [[q, sorted_values[0] if q == 0 else percentile(sorted_values, q * 100)] for q in CDF_QUANTILES]


# "Get \"http://127.0.0.1:8080/v1/ping?x=1\": context deadline exceeded (...)" -> the part after the URL,
# so errors of different URLs add up
_REQUEST_PREFIX = re.compile(r'^[A-Za-z]+ "[^"]*": ')
# "read tcp 127.0.0.1:45551->127.0.0.1:8080: ..." -> "read tcp 127.0.0.1:8080: ...": one label, not one per port
_LOCAL_ADDRESS = re.compile(r"(tcp[46]?) \S+->")


def error_label(sample: Sample) -> str | None:
    """How a failed request is counted: "HTTP <status>" or the transport error; None when ok."""
    if sample.ok:
        return None
    if sample.code:
        return f"HTTP {sample.code}"
    text = _LOCAL_ADDRESS.sub(r"\1 ", _REQUEST_PREFIX.sub("", sample.error.strip())) or "no answer"
    if "Client.Timeout" in text or "deadline exceeded" in text:
        return "timeout"
    return text[:120]


def summarize(samples: Sequence[Sample], window_s: float) -> Summary:
    """Figures of `samples` measured over `window_s` seconds."""
    if window_s <= 0:
        raise ValueError(f"window must be positive, got {window_s}")
    ok_latencies = sorted(s.latency_ms for s in samples if s.ok)
    errors = Counter(label for s in samples if (label := error_label(s)) is not None)
    count = len(samples)
    return Summary(
        count=count,
        ok=len(ok_latencies),
        errors=dict(errors.most_common()),
        error_rate=(count - len(ok_latencies)) / count if count else 0.0,
        window_s=window_s,
        throughput_per_s=len(ok_latencies) / window_s,
        latency_ms=latency_summary(ok_latencies),
        cdf_ms=cdf(ok_latencies),
    )


def summarize_by_kind(samples: Sequence[Sample], window_s: float) -> dict[str, Summary]:
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_kind[s.kind].append(s)
    return {kind: summarize(group, window_s) for kind, group in sorted(by_kind.items())}


# --- rate sweep ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """What a rate must achieve to count as sustained."""

    p99_ms: float
    max_error_rate: float = 0.001  # 0.1%
    kind: str | None = None  # judge one kind's figures (from "per_kind") instead of the whole run
    # below this many requests a p99 is one of the few slowest (of 20 requests, the slowest): a run
    # that small can neither pass nor fail a p99 goal
    min_requests: int = 100

    def _figures(self, summary: Mapping[str, Any]) -> Mapping[str, Any]:
        return summary["per_kind"][self.kind] if self.kind else summary

    def enough_requests(self, summary: Mapping[str, Any]) -> bool:
        return self._figures(summary)["count"] >= self.min_requests

    def judge(self, summary: Mapping[str, Any]) -> tuple[bool, str]:
        """(passed, why not) for a run summary (stats.Summary plus openloop's run facts)."""
        if summary.get("generator_lagged"):
            return False, "the load generator could not send at the asked rate"
        figures = self._figures(summary)
        if not self.enough_requests(summary):
            return False, f"{figures['count']} requests: too few to judge a p99 (at least {self.min_requests})"
        p99 = figures["latency_ms"]["p99"]
        if p99 is None:
            return False, "no ok answer"
        if figures["error_rate"] > self.max_error_rate:
            return False, f"error rate {figures['error_rate']:.2%} > {self.max_error_rate:.2%}"
        if p99 > self.p99_ms:
            return False, f"p99 {p99:.1f} ms > {self.p99_ms:g} ms"
        return True, ""


def sweep(
    run_at: Callable[[int], Any],
    goal: Goal,
    *,
    start_rate: int,
    max_rate: int,
    max_steps: int = 10,
    max_total_s: float | None = None,
    resolution: float = 0.05,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """The highest rate (req/s) at which `run_at(rate)` meets `goal`, with every step taken.

    `run_at` returns an openloop.RunResult (anything with `.summary()`) or a summary dict. Rates
    double from `start_rate` until one fails (or `max_rate` passes), then bisect between the best
    pass and the lowest failure until they are within `resolution` (5%) of each other. If the start
    rate already fails, rates halve until one passes, or until a run is too small to judge a p99
    (Goal.min_requests): "nothing passed down to that rate". At most `max_steps` runs; with `max_total_s`,
    no step starts that would likely (judged by the last step's time) end past it.

    Returns {"goal": {...}, "best_rate_per_s": int | None, "stopped": why, "steps": [...]} where
    each step is {"rate_per_s", "passed", "why", "elapsed_s", "summary", "judged"} ("judged": enough
    requests for a p99).
    """
    if not 1 <= start_rate <= max_rate:
        raise ValueError(f"need 1 <= start_rate <= max_rate, got {start_rate}, {max_rate}")
    steps: list[dict[str, Any]] = []
    best: int | None = None  # highest passing rate
    fail: int | None = None  # lowest failing rate
    rate = start_rate
    began = clock()
    last_cost = 0.0
    stopped = "max_steps"
    for _ in range(max_steps):
        if max_total_s is not None and clock() - began + last_cost > max_total_s:
            stopped = "time"
            break
        step_began = clock()
        result = run_at(rate)
        summary = result.summary() if hasattr(result, "summary") else dict(result)
        last_cost = clock() - step_began
        passed, why = goal.judge(summary)
        steps.append({"rate_per_s": rate, "passed": passed, "why": why, "elapsed_s": last_cost, "summary": summary,
                      "judged": goal.enough_requests(summary)})
        if passed:
            best = rate if best is None else max(best, rate)
        else:
            fail = rate if fail is None else min(fail, rate)
        if fail is None:  # everything passed so far: go up
            if rate >= max_rate:
                stopped = "max_rate"
                break
            rate = min(rate * 2, max_rate)
        elif best is None:  # nothing passed yet: go down
            if rate <= 1:
                stopped = "nothing_passed"
                break
            if not goal.enough_requests(summary):  # lower rates send fewer still
                stopped = "too_few_requests"
                break
            rate = max(rate // 2, 1)
        else:
            if fail - best <= max(1, resolution * best):
                stopped = "resolution"
                break
            rate = (best + fail) // 2
    return {
        "goal": {"p99_ms": goal.p99_ms, "max_error_rate": goal.max_error_rate, "kind": goal.kind},
        "best_rate_per_s": best,
        "stopped": stopped,
        "steps": steps,
    }
