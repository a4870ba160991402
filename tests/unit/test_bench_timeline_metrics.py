"""bench/timeline_metrics.py and its lines in the report: svc_timeline's counters parsed from
Prometheus text, the rendered-page share of a run, and its column in a sweep's table."""

from __future__ import annotations

from bench import report, timeline_metrics
from bench.timeline_metrics import FANOUT_HOME_WRITES, PAGE_HITS, PAGE_MISSES, PAGE_SERIES
from tests.unit.test_bench_report import fake_sweep, run_summary

EXPOSED = """# HELP timeline_rendered_pages_total First home pages served from their rendered copy (hit) or ...
# TYPE timeline_rendered_pages_total counter
timeline_rendered_pages_total{result="miss"} 2906.0
timeline_rendered_pages_total{result="hit"} 2300.0
timeline_rendered_pages_created{result="hit"} 1.7966867315337918e+09
timeline_fanout_home_writes_total 1.2e+06
"""


def test_series_are_read_by_name_and_labels_and_absent_ones_are_zero():
    values = timeline_metrics.series_values(EXPOSED, [*PAGE_SERIES, FANOUT_HOME_WRITES, "timeline_not_exposed_total"])
    assert values == {PAGE_HITS: 2300.0, PAGE_MISSES: 2906.0, FANOUT_HOME_WRITES: 1_200_000.0,
                      "timeline_not_exposed_total": 0.0}


def test_rendered_pages_of_a_run_are_the_differences_with_their_share():
    before = {PAGE_HITS: 2300.0, PAGE_MISSES: 2906.0}
    after = {PAGE_HITS: 4235.0, PAGE_MISSES: 3838.0}
    assert timeline_metrics.rendered_pages(before, after) == {"hits": 1935, "misses": 932, "hit_ratio": 0.675}


def test_rendered_pages_are_unknown_without_both_reads_and_have_no_share_without_pages():
    counters = {PAGE_HITS: 5.0, PAGE_MISSES: 5.0}
    assert timeline_metrics.rendered_pages(None, counters) is None
    assert timeline_metrics.rendered_pages(counters, None) is None
    assert timeline_metrics.rendered_pages(counters, counters) == {"hits": 0, "misses": 0, "hit_ratio": None}


def test_a_sweep_that_read_home_pages_shows_their_share_per_rate_and_others_do_not():
    home = fake_sweep(2000)
    for step in home["steps"]:
        step["summary"]["rendered_home_pages"] = {"hits": 30, "misses": 10, "hit_ratio": 0.75}
    home_table = "\n".join(report._sweep_lines("home_timeline", home))
    assert "| home pages rendered |" in home_table
    assert "| 75% (30 of 40) |" in home_table
    assert "home pages rendered" not in "\n".join(report._sweep_lines("ping", fake_sweep(6000)))


def test_a_run_line_says_how_many_home_pages_were_served_rendered():
    summary = run_summary({"home_timeline": 12.0})
    summary["rendered_home_pages"] = {"hits": 1, "misses": 3, "hit_ratio": 0.25}
    assert "First home pages served rendered: 25% (1 of 4)." in report._run_lines(summary)[0]
    assert "served rendered" not in report._run_lines(run_summary({"home_timeline": 12.0}))[0]
