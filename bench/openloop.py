"""Open-loop HTTP load at a constant rate with vegeta, every request kept.

    result = openloop.run(targets, 1000, 30, name="mixed", warmup_s=5)
    result.summary()   # stats.Summary of the measured window, "per_kind", and the run's own facts

Open loop: vegeta sends on the clock (request i at start + i/rate), whatever the answers' latency.
A worker that is still waiting does not delay the next send: vegeta starts another worker, without
limit here (`max_workers=None`), each with its own connection when needed. A closed-loop client
would instead wait for answers and quietly lower the rate it offers (coordinated omission). The
run checks that vegeta itself kept up: `sent_rate_per_s` is what it sent, `send_lag_ms` how late
each send was behind its slot, and `generator_lagged` is set when either is off (then the figures
describe a lower rate than asked, and a sweep does not count the step as a pass).

Targets are used round-robin, in the order given. To mix requests (say 60% home timeline, 30%
compose, 10% search), repeat the targets in those proportions and shuffle the list with a seeded
random.Random, so the mix is even over time and the same on every run.

Each target has a `kind`; the results are split by it. vegeta does not keep request headers in its
results, so the kind is found again by method + URL: two targets with the same method and URL must
have the same kind (make URLs differ, e.g. by a query parameter, if they must not).
"""

from __future__ import annotations

import base64
import csv
import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deploy.runtime import run_quiet
from mesh.config import Stack

from bench import stats
from bench.tools import ensure_vegeta

# the generator counts as lagging when it sent less than this share of the asked rate, or when its
# sends were late by more than this at p99
MIN_SENT_SHARE = 0.97
MAX_SEND_LAG_P99_MS = 10.0


@dataclass(frozen=True)
class Target:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    kind: str | None = None  # None: "<METHOD> <path>"

    @property
    def kind_name(self) -> str:
        return self.kind or f"{self.method} {urlsplit(self.url).path}"

    def vegeta_json(self) -> str:
        line: dict[str, Any] = {
            "method": self.method,
            "url": self.url,
            "header": {name: [value] for name, value in self.headers.items()},
        }
        if self.body is not None:
            line["body"] = base64.b64encode(self.body).decode()
        return json.dumps(line, separators=(",", ":"))


@dataclass(frozen=True)
class RunResult:
    name: str
    asked_rate_per_s: int
    duration_s: float  # the measured window (after the warmup)
    warmup_s: float
    samples: list[stats.Sample]  # the measured requests, in send order (warmup excluded)
    warmup_count: int
    sent_rate_per_s: float  # requests sent per second of the measured window
    send_lag_ms: dict[str, float | None]  # how late sends were behind their slot (p50 p99 max ...)
    generator_lagged: bool
    command: list[str]
    wall_s: float  # how long the whole run took, vegeta's encode included

    def summary(self) -> dict[str, Any]:
        """stats.Summary of the measured window plus "per_kind" and the run's facts (JSON-ready)."""
        return {
            "name": self.name,
            "asked_rate_per_s": self.asked_rate_per_s,
            "sent_rate_per_s": self.sent_rate_per_s,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "warmup_count": self.warmup_count,
            "generator_lagged": self.generator_lagged,
            "send_lag_ms": self.send_lag_ms,
            **stats.summarize(self.samples, self.duration_s),
            "per_kind": stats.summarize_by_kind(self.samples, self.duration_s),
        }


def run(
    targets: Sequence[Target],
    rate_per_s: float,
    duration_s: float,
    *,
    name: str,
    timeout_s: float = 5.0,
    warmup_s: float = 0.0,
    workers: int = 64,
    max_workers: int | None = None,
    max_connections: int | None = None,
    keepalive: bool = True,
    h2c: bool = False,
    stack: Stack | None = None,
    work_dir: Path | None = None,
) -> RunResult:
    """Send `targets` round-robin at `rate_per_s` for `warmup_s + duration_s` seconds; keep every
    request sent after the warmup.

    workers: started up front (vegeta adds more whenever all are busy); max_workers / max_connections:
    None is unlimited, which keeps the loop open; a cap turns an overloaded run into a closed loop.
    keepalive: reuse connections (HTTP/1.1 unless h2c). timeout_s: a request without an answer by
    then counts as a "timeout" error. work_dir: keep vegeta's files there (else a temporary folder).
    """
    if not targets:
        raise ValueError("no targets")
    rate = round(rate_per_s)
    if rate < 1 or duration_s <= 0 or warmup_s < 0:
        raise ValueError(f"need rate >= 1/s and duration > 0, got {rate_per_s}/s for {duration_s}s")
    kinds = _kinds_by_request(targets)
    vegeta = ensure_vegeta(stack or Stack())
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vegeta-") as scratch:
        folder = work_dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        targets_file, results_file = folder / f"{name}.targets.jsonl", folder / f"{name}.results.bin"
        targets_file.write_text("".join(t.vegeta_json() + "\n" for t in targets))
        total_s = warmup_s + duration_s
        command = [
            str(vegeta), "attack", f"-name={name}", "-format=json", f"-targets={targets_file}",
            f"-rate={rate}/1s", f"-duration={total_s:.3f}s", f"-timeout={timeout_s:.3f}s",
            f"-workers={workers}", f"-keepalive={str(keepalive).lower()}",
            "-max-body=0",  # the bodies are not looked at: do not keep them
            "-redirects=-1",  # an API answer is never a redirect to follow
            f"-output={results_file}",
        ]
        if max_workers is not None:
            command.append(f"-max-workers={max_workers}")
        if max_connections is not None:
            command.append(f"-max-connections={max_connections}")
        if h2c:
            command.append("-h2c")
        run_quiet(command, timeout=total_s + timeout_s + 60)
        csv_text = run_quiet([str(vegeta), "encode", "-to=csv", str(results_file)], timeout=120)
    rows = _parse_csv(csv_text, kinds)
    return _result(name, rate, duration_s, warmup_s, rows, command, time.monotonic() - began)


def _kinds_by_request(targets: Sequence[Target]) -> dict[tuple[str, str], str]:
    kinds: dict[tuple[str, str], str] = {}
    for t in targets:
        key = (t.method, t.url)
        if kinds.setdefault(key, t.kind_name) != t.kind_name:
            raise ValueError(f"{t.method} {t.url} is both {kinds[key]!r} and {t.kind_name!r}: make the URLs differ")
    return kinds


class _Row:
    __slots__ = ("seq", "sent_ns", "sample")

    def __init__(self, seq: int, sent_ns: int, sample: stats.Sample) -> None:
        self.seq, self.sent_ns, self.sample = seq, sent_ns, sample


def _parse_csv(text: str, kinds: Mapping[tuple[str, str], str]) -> list[_Row]:
    """vegeta's CSV columns: timestamp ns, code, latency ns, bytes out, bytes in, error, body (b64),
    attack, seq, method, url, response headers (b64)."""
    rows = []
    for record in csv.reader(text.splitlines()):
        ts, code, latency, _out, _in, error, _body, _attack, seq, method, url = record[:11]
        kind = kinds.get((method, url), "?")
        # start_s is filled in by _result, once the run's start is known
        rows.append(_Row(int(seq), int(ts), stats.Sample(kind, 0.0, int(latency) / 1e6, int(code), error)))
    rows.sort(key=lambda r: r.seq)
    return rows


def _result(name: str, rate: int, duration_s: float, warmup_s: float, rows: list[_Row],
            command: list[str], wall_s: float) -> RunResult:
    if not rows:
        raise RuntimeError(f"vegeta sent nothing in run {name!r}")
    # request i was due at start + i/rate; vegeta never sends early, so the start is the earliest
    # (send time - due offset), and each send's lag is how far it fell behind its slot
    interval_ns = 1e9 / rate
    start_ns = min(r.sent_ns - r.seq * interval_ns for r in rows)
    measured: list[stats.Sample] = []
    lags_ms: list[float] = []
    warmup_count = 0
    for r in rows:
        if r.seq * interval_ns < warmup_s * 1e9:
            warmup_count += 1
            continue
        measured.append(r.sample._replace(start_s=(r.sent_ns - start_ns) / 1e9))
        lags_ms.append((r.sent_ns - start_ns - r.seq * interval_ns) / 1e6)
    sent_rate = len(measured) / duration_s
    lag = stats.latency_summary(lags_ms)
    lagged = sent_rate < MIN_SENT_SHARE * rate or (lag["p99"] is not None and lag["p99"] > MAX_SEND_LAG_P99_MS)
    return RunResult(
        name=name, asked_rate_per_s=rate, duration_s=duration_s, warmup_s=warmup_s, samples=measured,
        warmup_count=warmup_count, sent_rate_per_s=sent_rate, send_lag_ms=lag, generator_lagged=lagged,
        command=command, wall_s=wall_s,
    )
