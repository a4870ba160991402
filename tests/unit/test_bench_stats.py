"""bench/stats.py and the result parsing of bench/openloop.py: exact percentiles, error accounting,
the rate sweep's search. No I/O."""

from __future__ import annotations

import random

import pytest

from bench import openloop, stats
from bench.stats import Goal, Sample


def ok(latency_ms: float, kind: str = "k") -> Sample:
    return Sample(kind, 0.0, latency_ms, 200)


def test_nearest_rank_percentiles_of_1_to_1000():
    values = [float(v) for v in range(1, 1001)]
    random.Random(1).shuffle(values)
    figures = stats.latency_summary(values)
    assert figures == {"p50": 500.0, "p90": 900.0, "p99": 990.0, "p99.9": 999.0, "max": 1000.0, "mean": 500.5}


def test_p999_of_10000_samples_is_the_9990th_smallest():
    values = [float(v) for v in range(10_000)]  # 0 .. 9999: the k-th smallest is k - 1
    random.Random(2).shuffle(values)
    figures = stats.latency_summary(values)
    assert figures["p99.9"] == 9989.0
    assert figures["p99"] == 9899.0


def test_p999_of_1000_samples_sees_a_single_outlier_only_at_the_max():
    values = [1.0] * 999 + [500.0]
    figures = stats.latency_summary(values)
    assert figures["p99.9"] == 1.0 and figures["max"] == 500.0
    two = stats.latency_summary([1.0] * 998 + [500.0, 600.0])
    assert two["p99.9"] == 500.0  # the 999th of 1000


def test_percentiles_of_few_samples_are_observed_values():
    assert stats.percentile([3.0], 99.9) == 3.0
    assert stats.percentile([1.0, 2.0], 50) == 1.0
    assert stats.percentile([1.0, 2.0], 50.1) == 2.0
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    assert stats.latency_summary([])["p99"] is None


def test_errors_are_counted_by_status_and_transport_error_and_kept_out_of_latency():
    samples = [
        *(ok(10.0, "read") for _ in range(94)),
        Sample("read", 0.0, 1.0, 429, "429 Too Many Requests"),
        Sample("write", 0.0, 2.0, 503, "503 Service Unavailable"),
        Sample("write", 0.0, 5000.0, 0, 'Post "http://127.0.0.1:8080/v1/tweets": context deadline exceeded '
                                         "(Client.Timeout exceeded while awaiting headers)"),
        Sample("write", 0.0, 0.5, 0, 'Post "http://127.0.0.1:8080/v1/tweets": dial tcp 0.0.0.0:0->127.0.0.1:8080: connect: connection refused'),
        Sample("read", 0.0, 0.5, 0, 'Get "http://127.0.0.1:8080/v1/x": read tcp 127.0.0.1:45551->127.0.0.1:8080: read: connection reset by peer'),
        Sample("read", 0.0, 0.5, 0, 'Get "http://127.0.0.1:8080/v1/y": read tcp 127.0.0.1:34741->127.0.0.1:8080: read: connection reset by peer'),
    ]
    summary = stats.summarize(samples, window_s=2.0)
    assert summary["count"] == 100 and summary["ok"] == 94
    assert summary["error_rate"] == pytest.approx(0.06)
    assert summary["throughput_per_s"] == 47.0
    assert summary["errors"] == {"read tcp 127.0.0.1:8080: read: connection reset by peer": 2, "HTTP 429": 1,
                                 "HTTP 503": 1, "timeout": 1, "dial tcp 127.0.0.1:8080: connect: connection refused": 1}
    assert summary["latency_ms"]["max"] == 10.0  # neither the fast 429 nor the 5 s timeout
    by_kind = stats.summarize_by_kind(samples, window_s=2.0)
    assert by_kind["read"]["error_rate"] == pytest.approx(3 / 97)
    assert by_kind["write"]["ok"] == 0 and by_kind["write"]["latency_ms"]["p99"] is None


def test_openloop_keeps_every_request_drops_the_warmup_and_finds_kinds_by_url():
    targets = [openloop.Target("GET", "http://gw/v1/ping", kind="ping"),
               openloop.Target("POST", "http://gw/v1/tweets", body=b"{}", kind="compose")]
    kinds = openloop._kinds_by_request(targets)
    start = 1_700_000_000_000_000_000
    lines = []
    for seq in range(200):  # 100/s for 2 s, sent on time, every fourth a 503
        method, url = ("GET", "http://gw/v1/ping") if seq % 2 == 0 else ("POST", "http://gw/v1/tweets")
        code, error = (503, "503 Service Unavailable") if seq % 4 == 3 else (200, "")
        lines.append(f'{start + seq * 10_000_000},{code},{(seq + 1) * 100_000},0,0,{error},,run,{seq},{method},{url},')
    rows = openloop._parse_csv("\n".join(reversed(lines)), kinds)
    result = openloop._result("run", 100, 1.5, 0.5, rows, ["vegeta"], 2.0)
    assert result.warmup_count == 50 and len(result.samples) == 150
    assert result.sent_rate_per_s == 100.0 and not result.generator_lagged
    assert result.samples[0].start_s == pytest.approx(0.5)
    summary = result.summary()
    assert summary["per_kind"]["ping"]["error_rate"] == 0
    assert summary["per_kind"]["compose"]["errors"] == {"HTTP 503": 38}
    assert summary["latency_ms"]["max"] == pytest.approx(19.9)  # seq 199 is a 503


def test_openloop_flags_a_generator_that_fell_behind():
    start = 0
    lines = [f"{start + seq * 20_000_000},200,1000000,0,0,,,run,{seq},GET,http://gw/x," for seq in range(100)]
    rows = openloop._parse_csv("\n".join(lines), {})
    result = openloop._result("run", 100, 1.0, 0.0, rows, ["vegeta"], 2.0)  # asked 100/s, sent 50/s
    assert result.generator_lagged
    assert result.samples[0].kind == "?"


def test_one_url_cannot_be_two_kinds():
    with pytest.raises(ValueError, match="make the URLs differ"):
        openloop._kinds_by_request([openloop.Target("GET", "http://gw/x", kind="a"),
                                    openloop.Target("GET", "http://gw/x", kind="b")])


def synthetic(knee: int, calls: list[int]):
    """A server whose p99 is 5 ms up to `knee` req/s and then climbs steeply."""

    def run_at(rate: int) -> dict:
        calls.append(rate)
        p99 = 5.0 if rate <= knee else 5.0 + (rate - knee) * 0.5
        samples = [ok(1.0)] * 989 + [ok(p99)] * 11
        return {**stats.summarize(samples, 10.0), "generator_lagged": False}

    return run_at


def test_sweep_finds_the_knee_within_the_resolution():
    calls: list[int] = []
    found = stats.sweep(synthetic(3300, calls), Goal(p99_ms=25), start_rate=500, max_rate=20_000, max_steps=12)
    assert found["stopped"] == "resolution"
    best = found["best_rate_per_s"]
    assert 3300 * 0.95 <= best <= 3340  # 25 ms is reached at 3340 req/s
    assert len(found["steps"]) == len(calls) <= 12
    assert calls[:4] == [500, 1000, 2000, 4000]  # doubling, then bisection
    assert all(s["passed"] == (s["rate_per_s"] <= 3340) for s in found["steps"])


def test_sweep_is_bounded_in_steps_and_halves_when_the_start_fails():
    calls: list[int] = []
    found = stats.sweep(synthetic(50, calls), Goal(p99_ms=25), start_rate=1000, max_rate=4000, max_steps=3)
    assert calls == [1000, 500, 250] and found["stopped"] == "max_steps" and found["best_rate_per_s"] is None


def test_sweep_stops_at_max_rate_and_on_time():
    found = stats.sweep(synthetic(10**6, []), Goal(p99_ms=25), start_rate=1000, max_rate=3000)
    assert [s["rate_per_s"] for s in found["steps"]] == [1000, 2000, 3000] and found["stopped"] == "max_rate"
    ticks = iter(range(0, 1000, 10))  # each step takes 10 "seconds"
    timed = stats.sweep(synthetic(10**6, []), Goal(p99_ms=25), start_rate=1, max_rate=10**6,
                        max_total_s=35, clock=lambda: next(ticks))
    assert timed["stopped"] == "time" and len(timed["steps"]) < 5


def test_sweep_counts_errors_and_generator_lag_as_failures():
    def erring(rate: int) -> dict:
        samples = [ok(1.0)] * 998 + [Sample("k", 0, 1.0, 503, "")] * (2 if rate > 100 else 0)
        return {**stats.summarize(samples, 1.0), "generator_lagged": rate > 150}

    found = stats.sweep(erring, Goal(p99_ms=25), start_rate=50, max_rate=1000)
    assert found["best_rate_per_s"] == 100
    goal = Goal(p99_ms=25)
    assert goal.judge({**erring(50), "generator_lagged": True})[1] == "the load generator could not send at the asked rate"


def test_a_run_too_small_to_have_a_p99_neither_passes_nor_takes_the_sweep_lower():
    """At 3 req/s a 20 s run has 60 requests: its p99 is its slowest one, no figure to judge on."""

    def slow_tail(rate: int) -> dict:  # one request in 20 takes 40 ms, at every rate
        count = rate * 20
        samples = [ok(40.0) if n % 20 == 0 else ok(4.0) for n in range(count)]
        return {**stats.summarize(samples, 20.0), "generator_lagged": False}

    found = stats.sweep(slow_tail, Goal(p99_ms=25), start_rate=50, max_rate=1000)
    assert [s["rate_per_s"] for s in found["steps"]] == [50, 25, 12, 6, 3]
    assert found["best_rate_per_s"] is None and found["stopped"] == "too_few_requests"
    assert [s["why"] for s in found["steps"]][-2:] == [
        "p99 40.0 ms > 25 ms", "60 requests: too few to judge a p99 (at least 100)"]
    fast_but_small = {**stats.summarize([ok(4.0)] * 60, 20.0), "generator_lagged": False}
    assert Goal(p99_ms=25).judge(fast_but_small) == (False, "60 requests: too few to judge a p99 (at least 100)")


def test_the_warm_pass_reads_every_users_home_and_user_timeline_once_as_that_user(monkeypatch):
    from bench.workloads import Requests
    from mesh.config import Stack

    monkeypatch.setattr(Requests, "_auth", lambda self, user_id: {"Authorization": f"Bearer of {user_id}"})
    targets = Requests(Stack(), [7, 8], seed=1).every_timeline()
    read = sorted((t.method, t.url.split("/v1/", 1)[1], t.headers["Authorization"], t.kind) for t in targets)
    assert read == [
        ("GET", "timelines/home", "Bearer of 7", "home_timeline"),
        ("GET", "timelines/home", "Bearer of 8", "home_timeline"),
        ("GET", "timelines/users/7", "Bearer of 7", "user_timeline"),
        ("GET", "timelines/users/8", "Bearer of 8", "user_timeline"),
    ]
