"""bench/report.py: from a small fake results dict, valid JSON, readable markdown with each target
judged, and PNG plots. Files only under tmp_path; no subprocess (machine facts are given)."""

from __future__ import annotations

import json

from bench import report, stats
from bench.stats import Goal, Sample

MACHINE = {"date": "2026-01-01T00:00:00+00:00", "git_commit": "abc123", "nproc": 2, "cpu": "test", "memory_mb": 1024,
           "versions": {"envoy": "1.40.0", "vegeta": "v12.13.0"}}


def run_summary(p99_by_kind: dict[str, float], *, rate: int = 3000, errors: int = 0) -> dict:
    samples = []
    for kind, p99 in p99_by_kind.items():
        samples += [Sample(kind, 0.0, 1.0, 200)] * 95 + [Sample(kind, 0.0, p99, 200)] * 5
        samples += [Sample(kind, 0.0, 1.0, 503, "503 Service Unavailable")] * errors
    window = len(samples) / rate
    return {"name": "run", "asked_rate_per_s": rate, "sent_rate_per_s": rate, "duration_s": window, "warmup_s": 0,
            "generator_lagged": False, "send_lag_ms": stats.latency_summary([0.1]),
            **stats.summarize(samples, window), "per_kind": stats.summarize_by_kind(samples, window)}


def fake_sweep(knee: int) -> dict:
    def run_at(rate: int) -> dict:
        return run_summary({"all": 5.0 if rate <= knee else 80.0}, rate=rate)

    return stats.sweep(run_at, Goal(p99_ms=25), start_rate=500, max_rate=8000, max_steps=8)


def fake_results() -> dict:
    return {
        "meta": {"users": 10_000, "tweets": 1_000_000},
        "mixed": run_summary({"home_timeline": 12.0, "compose": 20.0, "search": 18.0}, errors=1),
        "sweep": {"mixed": fake_sweep(3500), "ping": fake_sweep(6000), "home_timeline": fake_sweep(2000)},
        "fanout": {"by_followers": [{"followers": n, "samples": 20, "visible_ms": stats.latency_summary([n / 20, n / 10])}
                                    for n in (10, 1000, 10_000)],
                   "celebrity": {"followers": 50_000, "fanout_writes": 0}},
        "search": {**run_summary({"search": 28.0}, rate=200), "corpus_tweets": 1_000_000},
        "ceilings": {
            "redis": {"what": "redis GET", "serial": {"concurrency": 1, "ops_per_s": 9000.0, "latency_ms": stats.latency_summary([0.1, 0.2])},
                      "parallel": {"concurrency": 32, "ops_per_s": 19000.0, "latency_ms": stats.latency_summary([1.5, 3.0])}},
            "cql_compose_write": {
                "what": "CQL compose writes alone",
                "serial": {"concurrency": 1, "ops_per_s": 300.0, "latency_ms": stats.latency_summary([3.0, 8.0])},
                "parallel": {"concurrency": 32, "ops_per_s": 1000.0, "latency_ms": stats.latency_summary([20.0, 40.0])}},
            "envoy": {"what": "Envoy alone", "runs": [run_summary({"healthz": 2.0}, rate=8000)]},
        },
        "rss_mb": {"svc_graph": 95.0, "svc_tweet": 160.0},
    }


def test_targets_are_judged_with_their_figures():
    by_text = {t["target"]: t for t in report.evaluate_targets(fake_results())}
    met = {text.split(" ")[0] + " " + text.split(" ")[1]: t["met"] for text, t in by_text.items()}
    assert met == {"mixed workload": True, "home timeline": False, "compose p99": False, "fan-out to": True,
                   "celebrity tweet:": True, "search p99": True, "each service": False}
    home = next(t for text, t in by_text.items() if text.startswith("home timeline"))
    assert home["figure"].endswith("= 33%")
    compose = next(t for text, t in by_text.items() if text.startswith("compose"))
    assert compose["figure"] == "p99 20.0 ms"


def test_a_section_not_measured_is_reported_as_such():
    targets = report.evaluate_targets({"rss_mb": {"svc_graph": 90.0}})
    assert [t["met"] for t in targets] == [None] * 6 + [True]
    assert targets[0]["figure"] == "not measured"


def test_write_makes_json_markdown_and_pngs(tmp_path):
    paths = report.write(fake_results(), tmp_path / "out", machine=MACHINE)
    document = json.loads(paths["json"].read_text())
    assert document["machine"]["nproc"] == 2
    assert document["mixed"]["per_kind"]["compose"]["latency_ms"]["p99"] == 20.0
    assert len(document["targets"]) == 7

    md = paths["markdown"].read_text()
    for heading in ("## Targets", "## Mixed workload", "## Rate sweep", "## Fan-out", "## Search",
                    "## Ceilings and ratios", "## RSS per service"):
        assert heading in md
    assert "| compose p99 <= 15 ms | p99 20.0 ms | **not met** |" in md
    assert "| svc_tweet | 160 | **no** |" in md
    assert "HTTP 503: 3" in md
    assert "| CQL compose writes alone | 3.00 | 8.00 |" in md
    assert "- compose p99 / its CQL writes alone p99: 20.0 / 8.0 ms = 2.5x" in md

    names = sorted(p.name for p in paths["plots"])
    assert names == ["fanout.png", "mixed_latency.png", "rss.png", "sweep_home_timeline.png", "sweep_mixed.png", "sweep_ping.png"]
    for png in paths["plots"]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_with_nothing_measured_still_writes(tmp_path):
    paths = report.write({}, tmp_path, machine={})
    assert json.loads(paths["json"].read_text())["targets"][0]["met"] is None
    assert "## Targets" in paths["markdown"].read_text() and paths["plots"] == []


def test_a_sweep_where_nothing_passed_reports_its_lowest_rate_that_had_a_p99():
    def run_at(rate: int) -> dict:  # p99 80 ms at every rate; 100 requests per run at 100 req/s
        return run_summary({"all": 80.0}, rate=rate) if rate >= 100 else {
            **run_summary({"all": 80.0}, rate=rate), "count": 50}

    sweep = stats.sweep(run_at, Goal(p99_ms=25), start_rate=400, max_rate=8000)
    assert [step["rate_per_s"] for step in sweep["steps"]] == [400, 200, 100, 50]
    assert sweep["stopped"] == "too_few_requests"
    results = {**fake_results(), "sweep": {**fake_results()["sweep"], "mixed": sweep}}
    (mixed,) = [t for t in report.evaluate_targets(results) if t["target"].startswith("mixed")]
    assert mixed["figure"] == "no rate met it; lowest tried 100 req/s: p99 80.0 ms (p99 80.0 ms > 25 ms)"
