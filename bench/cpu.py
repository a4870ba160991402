"""CPU time of every process of the stack, to turn a run into CPU milliseconds per request.

On a 2-core machine that holds everything, the highest sustainable rate is about
2000 ms / (CPU ms per request summed over the processes on the request's path): this table says
where a request's cost goes, independent of how noisy the machine was while it was measured.
"""

from __future__ import annotations

import os

from bench.rss import INFRA, process_tree
from deploy.runtime import Layout, running_pid
from mesh.config import SERVICES, Stack

_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    total = 0.0
    for member in process_tree(pid):
        try:
            stat = open(f"/proc/{member}/stat").read()
        except FileNotFoundError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) * _TICK_S  # utime + stime
    return total


def snapshot(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each running process of the stack."""
    layout = Layout(stack.var_dir)
    found = {}
    for name in [*(spec.package for spec in SERVICES), *INFRA]:
        pid = running_pid(layout.pid(name))
        if pid is not None:
            found[name] = _cpu_s(pid)
    return found


def per_request_ms(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    """CPU ms per request of each process between two snapshots, busiest first, with a total."""
    if requests <= 0:
        return {}
    used = {name: (after[name] - before[name]) * 1000 / requests for name in after if name in before}
    ranked = dict(sorted(((n, round(ms, 3)) for n, ms in used.items() if ms > 0.0005), key=lambda kv: -kv[1]))
    ranked["total"] = round(sum(used.values()), 3)
    return ranked
