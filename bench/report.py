"""What `make bench` leaves behind: results.json (everything), results.md (tables, the targets met
or not with the figure next to each) and PNG plots, in bench/results/.

    paths = report.write(results)      # results: the Results dict below, assembled by the bench run

Every section of Results is optional: a section not measured is left out of the tables and plots,
and its targets are reported as "not measured".
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypedDict

from mesh.config import REPO_ROOT

OUT_DIR = REPO_ROOT / "bench" / "results"

# the request kinds the targets are about: workloads must tag their targets with these names
KIND_COMPOSE = "compose"
KIND_HOME_TIMELINE = "home_timeline"
KIND_SEARCH = "search"

MIXED_RATE_PER_S = 3000
MIXED_P99_MS = 25.0
HOME_SHARE_OF_CEILING = 0.5
COMPOSE_P99_MS = 15.0
FANOUT_FOLLOWERS = 10_000
FANOUT_VISIBLE_P99_MS = 1000.0
SEARCH_P99_MS = 30.0
SEARCH_CORPUS = 1_000_000
RSS_MB = 150.0
MAX_ERROR_RATE = 0.001


class FanoutStep(TypedDict):
    followers: int  # of the author
    samples: int  # tweets timed
    visible_ms: dict[str, float | None]  # stats.latency_summary of post -> seen in the home timelines


class Celebrity(TypedDict):
    followers: int
    fanout_writes: int  # home timeline rows written for the celebrity's tweet (target: 0)


class Fanout(TypedDict, total=False):
    by_followers: list[FanoutStep]
    celebrity: Celebrity


class Results(TypedDict, total=False):
    """What the bench run hands to write(). Summaries are openloop.RunResult.summary() dicts."""

    meta: dict[str, Any]  # free facts of the run: dataset sizes, settings, notes (printed as a list)
    mixed: dict[str, Any]  # the mixed workload at the target rate; "per_kind" has compose, home_timeline, search
    sweep: dict[str, dict[str, Any]]  # stats.sweep() results by workload: "mixed", "ping", "home_timeline", ...
    runs: dict[str, dict[str, Any]]  # other single runs by name, e.g. "compose", "ping"
    fanout: Fanout
    search: dict[str, Any]  # a RunSummary of search alone plus "corpus_tweets": int
    ceilings: dict[str, Any]  # ceilings.measure()
    rss_mb: dict[str, float]  # peak RSS by service name, MB


# --- machine facts -----------------------------------------------------------------------------------


def _first_line(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[-1].strip() if done.returncode == 0 and text else None


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name  # the venv's envoy and nats-server
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def machine_facts() -> dict[str, Any]:
    """Where and on what the figures were taken (cheap: a few --version calls)."""
    from deploy.infra import CASSANDRA_VERSION, ELASTICSEARCH_VERSION

    from bench.tools import VEGETA_VERSION

    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    commit = _first_line(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"])
    dirty = _first_line(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": commit and (commit + (" (with local changes)" if dirty else "")),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_mb": int(meminfo["MemTotal"].split()[0]) // 1024,
        "kernel": platform.release(),
        "versions": {
            "python": platform.python_version(),
            "envoy": _first_line([_tool("envoy"), "--version"]),
            "cassandra": CASSANDRA_VERSION,
            "elasticsearch": ELASTICSEARCH_VERSION,
            "redis": _first_line([_tool("redis-server"), "--version"]),
            "nats": _first_line([_tool("nats-server"), "--version"]),
            "vegeta": VEGETA_VERSION,
        },
    }


# --- targets -------------------------------------------------------------------------------------------


def _get(tree: Mapping[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _p99(summary: Mapping[str, Any] | None) -> float | None:
    return _get(summary, "latency_ms", "p99")


def _target(text: str, figure: str | None, met: bool | None) -> dict[str, Any]:
    return {"target": text, "figure": figure or "not measured", "met": met if figure else None}


def _none_passed(sweep: Mapping[str, Any]) -> str:
    """The figure of a sweep where no rate met the goal: the lowest rate tried with enough requests
    to have a p99 (else the lowest tried), and its p99."""
    judged = [step for step in sweep["steps"] if step.get("judged", True)] or sweep["steps"]
    lowest = min(judged, key=lambda step: step["rate_per_s"])
    p99 = _p99(lowest["summary"])
    return (f"no rate met it; lowest tried {lowest['rate_per_s']} req/s: "
            f"p99 {'-' if p99 is None else f'{p99:.1f}'} ms ({lowest['why']})")


def evaluate_targets(results: Results) -> list[dict[str, Any]]:
    """Each target of issue 8 with the figure measured for it and whether it is met (None: not measured)."""
    found = []

    best = _get(results, "sweep", "mixed", "best_rate_per_s")
    mixed = results.get("mixed")
    text = f"mixed workload >= {MIXED_RATE_PER_S} req/s at p99 <= {MIXED_P99_MS:g} ms"
    if best is not None:
        found.append(_target(text, f"{best} req/s sustained (rate sweep)", best >= MIXED_RATE_PER_S))
    elif _get(results, "sweep", "mixed", "steps"):
        found.append(_target(text, _none_passed(results["sweep"]["mixed"]), False))
    elif mixed and _p99(mixed) is not None:
        ok = (mixed["throughput_per_s"] >= MIXED_RATE_PER_S and _p99(mixed) <= MIXED_P99_MS
              and mixed["error_rate"] <= MAX_ERROR_RATE and not mixed.get("generator_lagged"))
        found.append(_target(text, f"{mixed['throughput_per_s']:.0f} ok/s, p99 {_p99(mixed):.1f} ms, "
                                   f"errors {mixed['error_rate']:.2%}", ok))
    else:
        found.append(_target(text, None, None))

    home, ping = _get(results, "sweep", "home_timeline", "best_rate_per_s"), _get(results, "sweep", "ping", "best_rate_per_s")
    text = f"home timeline throughput >= {HOME_SHARE_OF_CEILING:.0%} of the no-work ceiling (GET /v1/ping)"
    if home is not None and ping:
        share = home / ping
        found.append(_target(text, f"{home} / {ping} req/s = {share:.0%}", share >= HOME_SHARE_OF_CEILING))
    elif ping and _get(results, "sweep", "home_timeline", "steps"):
        found.append(_target(text, f"home: {_none_passed(results['sweep']['home_timeline'])}; ping: {ping} req/s",
                             False))
    else:
        found.append(_target(text, None, None))

    compose = _get(results, "runs", KIND_COMPOSE) or _get(mixed, "per_kind", KIND_COMPOSE)
    text = f"compose p99 <= {COMPOSE_P99_MS:g} ms"
    p99 = _p99(compose)
    found.append(_target(text, p99 is not None and f"p99 {p99:.1f} ms", p99 is not None and p99 <= COMPOSE_P99_MS))

    steps = _get(results, "fanout", "by_followers") or []
    step = next((s for s in steps if s["followers"] == FANOUT_FOLLOWERS), None)
    text = f"fan-out to {FANOUT_FOLLOWERS:,} followers visible <= {FANOUT_VISIBLE_P99_MS / 1000:g} s p99"
    p99 = _get(step, "visible_ms", "p99")
    found.append(_target(text, p99 is not None and f"p99 {p99:.0f} ms over {step['samples']} tweets",
                         p99 is not None and p99 <= FANOUT_VISIBLE_P99_MS))

    celebrity = _get(results, "fanout", "celebrity")
    text = "celebrity tweet: zero fan-out writes"
    found.append(_target(text, celebrity and f"{celebrity['fanout_writes']} writes ({celebrity['followers']:,} followers)",
                         celebrity is not None and celebrity["fanout_writes"] == 0))

    search = results.get("search")
    text = f"search p99 <= {SEARCH_P99_MS:g} ms on {SEARCH_CORPUS:,} tweets"
    p99, corpus = _p99(search), _get(search, "corpus_tweets")
    found.append(_target(text, p99 is not None and f"p99 {p99:.1f} ms on {corpus or 0:,} tweets",
                         p99 is not None and p99 <= SEARCH_P99_MS and (corpus or 0) >= SEARCH_CORPUS))

    rss = results.get("rss_mb") or {}
    text = f"each service <= {RSS_MB:g} MB RSS"
    if rss:
        name, worst = max(rss.items(), key=lambda item: item[1])
        found.append(_target(text, f"largest {name} {worst:.0f} MB", worst <= RSS_MB))
    else:
        found.append(_target(text, None, None))
    return found


# --- markdown --------------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


_LATENCY_HEAD = ["p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"]


def _latency_cells(latency: Mapping[str, float | None]) -> list[str]:
    return [_ms(latency.get(name)) for name in ("p50", "p90", "p99", "p99.9", "max")]


def _errors(summary: Mapping[str, Any]) -> str:
    errors = summary.get("errors") or {}
    return ", ".join(f"{label}: {n}" for label, n in errors.items()) or "none"


def _run_lines(summary: Mapping[str, Any]) -> list[str]:
    """A run: its facts in one line, then one row per kind and one for all."""
    lines = [
        f"Asked {summary.get('asked_rate_per_s', '-')} req/s for {summary.get('duration_s', '-')} s "
        f"(after {summary.get('warmup_s', 0)} s warmup); sent {summary.get('sent_rate_per_s', 0):.0f} req/s"
        + (" — **the load generator lagged: the offered rate was lower than asked**" if summary.get("generator_lagged") else "")
        + f". Errors: {_errors(summary)}."
        + (f" First home pages served rendered: {_pages_served_rendered(summary)}." if summary.get("rendered_home_pages") else ""),
        "",
    ]
    rows = [[kind, s["count"], f"{s['throughput_per_s']:.0f}", f"{s['error_rate']:.2%}", *_latency_cells(s["latency_ms"])]
            for kind, s in (summary.get("per_kind") or {}).items()]
    rows.append(["**all**", summary["count"], f"{summary['throughput_per_s']:.0f}", f"{summary['error_rate']:.2%}",
                 *_latency_cells(summary["latency_ms"])])
    return lines + _table(["kind", "requests", "ok/s", "errors", *_LATENCY_HEAD], rows)


def _sweep_lines(name: str, sweep: Mapping[str, Any]) -> list[str]:
    goal = sweep["goal"]
    lines = [f"### {name}", "",
             f"Goal: p99 <= {goal['p99_ms']:g} ms, errors <= {goal['max_error_rate']:.1%}"
             + (f" (judged on `{goal['kind']}`)" if goal.get("kind") else "")
             + f". Highest rate sustained: **{sweep['best_rate_per_s'] or 'none'}** req/s (stopped: {sweep['stopped']}).", ""]
    steps = sorted(sweep["steps"], key=lambda s: s["rate_per_s"])
    # only sweeps that read home timelines have the column
    with_pages = any(step["summary"].get("rendered_home_pages") for step in steps)
    rows = []
    for step in steps:
        s = step["summary"]
        rows.append([step["rate_per_s"], f"{s.get('sent_rate_per_s', 0):.0f}", f"{s['throughput_per_s']:.0f}",
                     f"{s['error_rate']:.2%}", *_latency_cells(s["latency_ms"]),
                     *([_pages_served_rendered(s)] if with_pages else []),
                     "yes" if step["passed"] else f"no: {step['why']}"])
    head = ["asked req/s", "sent/s", "ok/s", "errors", *_LATENCY_HEAD, *(["home pages rendered"] if with_pages else []), "passed"]
    return lines + _table(head, rows)


def _pages_served_rendered(summary: Mapping[str, Any]) -> str:
    """The share of first home pages served from their rendered copy, with the counts."""
    pages = summary.get("rendered_home_pages")
    if not pages or pages.get("hit_ratio") is None:
        return "-"
    return f"{pages['hit_ratio']:.0%} ({pages['hits']} of {pages['hits'] + pages['misses']})"


def _ceiling_lines(ceilings: Mapping[str, Any], results: Results) -> list[str]:
    lines: list[str] = []
    rows = []
    for name in ("redis", "cql", "cql_compose_write"):
        c = ceilings.get(name)
        if c:
            serial, parallel = c["serial"], c["parallel"]
            rows.append([c["what"], _ms(serial["latency_ms"]["p50"]), _ms(serial["latency_ms"]["p99"]),
                         f"{parallel['ops_per_s']:.0f} (x{parallel['concurrency']})", _ms(parallel["latency_ms"]["p99"])])
    if rows:
        lines += _table(["round trip", "p50 ms (serial)", "p99 ms (serial)", "ops/s closed loop", "p99 ms (loaded)"], rows)
    envoy = ceilings.get("envoy")
    if envoy:
        lines += [envoy["what"], ""]
        lines += _table(["asked req/s", "sent/s", "ok/s", "errors", *_LATENCY_HEAD],
                        [[r["asked_rate_per_s"], f"{r['sent_rate_per_s']:.0f}", f"{r['throughput_per_s']:.0f}",
                          f"{r['error_rate']:.2%}", *_latency_cells(r["latency_ms"])] for r in envoy["runs"]])
    ratios = []
    home, ping = _get(results, "sweep", "home_timeline", "best_rate_per_s"), _get(results, "sweep", "ping", "best_rate_per_s")
    if home and ping:
        ratios.append(f"- home timeline / no-work ping, highest sustained rate: {home} / {ping} = {home / ping:.0%}")
    compose = _p99(_get(results, "runs", KIND_COMPOSE) or _get(results, "mixed", "per_kind", KIND_COMPOSE))
    floor = _get(ceilings, "cql_compose_write", "serial", "latency_ms", "p99")
    if compose and floor:
        ratios.append(f"- compose p99 / its CQL writes alone p99: {compose:.1f} / {floor:.1f} ms = {compose / floor:.1f}x")
    clean = [r["throughput_per_s"] for r in (envoy or {}).get("runs", [])
             if r["error_rate"] <= MAX_ERROR_RATE and not r["generator_lagged"]]
    if ping and clean:
        ratios.append(f"- no-work ping / Envoy alone (highest clean rate tried): {ping} / {max(clean):.0f} = {ping / max(clean):.0%}")
    return lines + (ratios + [""] if ratios else [])


def markdown(results: Results, machine: Mapping[str, Any], targets: list[dict[str, Any]]) -> str:
    lines = ["# tweetmesh benchmark", ""]
    versions = machine.get("versions") or {}
    lines += [f"- date: {machine.get('date', '-')}, commit: {machine.get('git_commit', '-')}",
              f"- machine: {machine.get('nproc', '?')} CPUs ({machine.get('cpu', '?')}), {machine.get('memory_mb', '?')} MB",
              "- versions: " + (", ".join(f"{k} {v}" for k, v in versions.items() if v) or "-")]
    lines += [f"- {key}: {value}" for key, value in (results.get("meta") or {}).items()] + [""]

    lines += ["## Targets", ""]
    mark = {True: "met", False: "**not met**", None: "not measured"}
    lines += _table(["target", "figure", "met"], [[t["target"], t["figure"], mark[t["met"]]] for t in targets])

    if results.get("mixed"):
        lines += ["## Mixed workload", "", *_run_lines(results["mixed"])]
    if results.get("sweep"):
        lines += ["## Rate sweep", ""]
        for name, sweep in results["sweep"].items():
            lines += _sweep_lines(name, sweep)
    for name, summary in (results.get("runs") or {}).items():
        lines += [f"## Run: {name}", "", *_run_lines(summary)]
    fanout = results.get("fanout")
    if fanout:
        lines += ["## Fan-out", "", "Time from posting a tweet to seeing it in the followers' home timelines.", ""]
        lines += _table(["followers", "tweets", *("visible " + h for h in _LATENCY_HEAD)],
                        [[f"{s['followers']:,}", s["samples"], *_latency_cells(s["visible_ms"])]
                         for s in fanout.get("by_followers", [])])
        if fanout.get("celebrity"):
            c = fanout["celebrity"]
            lines += [f"Celebrity ({c['followers']:,} followers): {c['fanout_writes']} fan-out writes.", ""]
    if results.get("search"):
        corpus = results["search"].get("corpus_tweets")
        lines += ["## Search", "", f"Corpus: {corpus:,} tweets." if corpus else "Corpus: unknown.", "",
                  *_run_lines(results["search"])]
    if results.get("ceilings"):
        lines += ["## Ceilings and ratios", "", *_ceiling_lines(results["ceilings"], results)]
    if results.get("rss_mb"):
        lines += ["## RSS per service", ""]
        lines += _table(["service", "RSS MB", f"<= {RSS_MB:g} MB"],
                        [[name, f"{mb:.0f}", "yes" if mb <= RSS_MB else "**no**"] for name, mb in sorted(results["rss_mb"].items())])
    return "\n".join(lines).rstrip() + "\n"


# --- plots -------------------------------------------------------------------------------------------


def _plot_sweep(plt: Any, name: str, sweep: Mapping[str, Any], path: Path) -> None:
    steps = sorted(sweep["steps"], key=lambda s: s["rate_per_s"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rates = [s["rate_per_s"] for s in steps]
    for key in ("p50", "p90", "p99", "p99.9"):
        values = [s["summary"]["latency_ms"][key] for s in steps]
        ax.plot(rates, [v if v is not None else float("nan") for v in values], marker="o", label=key)
    failed = [(s["rate_per_s"], s["summary"]["latency_ms"]["p99"]) for s in steps
              if not s["passed"] and s["summary"]["latency_ms"]["p99"] is not None]
    if failed:
        ax.scatter(*zip(*failed), marker="x", s=80, color="red", zorder=3, label="step failed")
    ax.axhline(sweep["goal"]["p99_ms"], color="grey", linestyle="--", label=f"p99 goal {sweep['goal']['p99_ms']:g} ms")
    ax.set(xlabel="offered rate (req/s)", ylabel="latency (ms)", yscale="log", title=f"rate sweep: {name}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_percentiles(plt: Any, per_kind: Mapping[str, Any], title: str, path: Path) -> None:
    """Latency by percentile, HdrHistogram style: x is 1/(1-q), so the tail gets room."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for kind, summary in per_kind.items():
        points = [(1 / (1 - q), ms) for q, ms in summary.get("cdf_ms", []) if q < 1]
        if points:
            ax.plot(*zip(*points), label=kind)
    ax.set_xscale("log")
    ax.set_xticks([2, 10, 100, 1000, 10000], ["50%", "90%", "99%", "99.9%", "99.99%"])
    ax.set(xlabel="percentile", ylabel="latency (ms)", yscale="log", title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_fanout(plt: Any, steps: list[FanoutStep], path: Path) -> None:
    steps = sorted(steps, key=lambda s: s["followers"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    followers = [s["followers"] for s in steps]
    for key in ("p50", "p99", "max"):
        ax.plot(followers, [s["visible_ms"][key] or float("nan") for s in steps], marker="o", label=key)
    ax.axhline(FANOUT_VISIBLE_P99_MS, color="grey", linestyle="--", label="p99 goal")
    ax.set(xlabel="followers", ylabel="post -> visible (ms)", xscale="log", title="fan-out visibility")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_rss(plt: Any, rss: Mapping[str, float], path: Path) -> None:
    names = sorted(rss)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.bar(names, [rss[n] for n in names], color=["tab:red" if rss[n] > RSS_MB else "tab:blue" for n in names])
    ax.axhline(RSS_MB, color="grey", linestyle="--", label=f"{RSS_MB:g} MB")
    ax.set(ylabel="RSS (MB)", title="resident memory per service")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plots(results: Results, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    made: list[Path] = []

    def make(filename: str, draw: Callable[[Path], None]) -> None:
        path = out_dir / filename
        draw(path)
        made.append(path)

    for name, sweep in (results.get("sweep") or {}).items():
        if sweep.get("steps"):
            make(f"sweep_{name}.png", lambda p, n=name, s=sweep: _plot_sweep(plt, n, s, p))
    if _get(results, "mixed", "per_kind"):
        make("mixed_latency.png", lambda p: _plot_percentiles(plt, results["mixed"]["per_kind"], "mixed workload: latency by percentile", p))
    if _get(results, "fanout", "by_followers"):
        make("fanout.png", lambda p: _plot_fanout(plt, results["fanout"]["by_followers"], p))
    if results.get("rss_mb"):
        make("rss.png", lambda p: _plot_rss(plt, results["rss_mb"], p))
    return made


# --- write -------------------------------------------------------------------------------------------------


def write(results: Results, out_dir: Path = OUT_DIR, *, machine: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write results.json, results.md and the plots into `out_dir`; return their paths
    ({"json": Path, "markdown": Path, "plots": [Path, ...]}). `machine`: the machine facts, collected
    here (machine_facts()) when not given."""
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = dict(machine_facts() if machine is None else machine)
    targets = evaluate_targets(results)
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    document = {"machine": machine, "targets": targets, **results}
    json_path.write_text(json.dumps(document, indent=1, default=str) + "\n")
    md_path.write_text(markdown(results, machine, targets))
    return {"json": json_path, "markdown": md_path, "plots": plots(results, out_dir)}
