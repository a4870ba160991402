"""Memory of every process `make up` started: resident set now and at its peak, from /proc.

A process' children are counted with it (a server that forks workers is one service to its
operator); the pid files are the stack manager's own (deploy/runtime.py).
"""

from __future__ import annotations

from pathlib import Path

from deploy.runtime import Layout, running_pid
from mesh.config import SERVICES, Stack

INFRA = ("envoy", "cassandra", "elasticsearch", "redis", "nats", "minio", "provider_sim")


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(child) for child in children)
    return found


def process_tree(pid: int) -> list[int]:
    """The pid and every descendant of it that runs now."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        try:
            todo.extend(_children(current))
        except FileNotFoundError:
            continue
    return tree


def process_memory(pid: int) -> dict[str, float]:
    """RSS and peak RSS (VmHWM) in MiB of a process with its descendants."""
    rss = peak = 0
    for member in process_tree(pid):
        try:
            rss += _status_kib(member, "VmRSS")
            peak += _status_kib(member, "VmHWM")
        except FileNotFoundError:
            continue  # ended while we looked
    return {"rss_mib": round(rss / 1024, 1), "peak_rss_mib": round(peak / 1024, 1)}


def memory_by_process(stack: Stack) -> dict[str, dict[str, float]]:
    """{name: {rss_mib, peak_rss_mib, kind}} for every service and server of the stack that runs."""
    layout = Layout(stack.var_dir)
    found: dict[str, dict[str, float]] = {}
    processes = [*((spec.package, "service") for spec in SERVICES), *((name, "infra") for name in INFRA)]
    for name, kind in processes:
        pid = running_pid(layout.pid(name))
        if pid is not None:
            found[name] = {**process_memory(pid), "kind": kind}
    return found

