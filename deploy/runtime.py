"""Processes and files of the local stack: the var/ layout, pid files, detached start, stop, ports.

Nothing here knows a particular server; deploy/infra.py describes those.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class StackError(Exception):
    """A failure the CLI reports in one clear message (and a non-zero exit)."""


_PRINT_LOCK = threading.Lock()  # installs run in threads; keep their lines whole


def say(message: str) -> None:
    # flush at once: `make up` output is read live
    with _PRINT_LOCK:
        print(message, flush=True)


@dataclass(frozen=True)
class Layout:
    """Where a component's files live under the stack's var/ folder."""

    root: Path

    def opt(self, name: str) -> Path:  # installed binaries/jars
        return self.root / "opt" / name

    def etc(self, name: str) -> Path:  # config rendered at each start
        return self.root / "etc" / name

    def data(self, name: str) -> Path:
        return self.root / "data" / name

    def tmp(self, name: str) -> Path:
        return self.root / "tmp" / name

    def log(self, name: str) -> Path:  # the process' stdout+stderr
        return self.root / "log" / f"{name}.log"

    def log_dir(self, name: str) -> Path:  # for servers that write log files of their own
        return self.root / "log" / name

    def install_log(self, name: str) -> Path:
        return self.root / "log" / f"install-{name}.log"

    def pid(self, name: str) -> Path:
        return self.root / "run" / f"{name}.pid"


START_MARK = "===== "  # spawn_detached heads each run's output in a log with this


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` of a log, from the latest run only (older runs would only mislead)."""
    try:
        with path.open("r", errors="replace") as handle:
            last = list(deque(handle, maxlen=lines))
    except FileNotFoundError:
        return f"(no log at {path})\n"
    starts = [i for i, line in enumerate(last) if line.startswith(START_MARK)]
    return "".join(last[starts[-1] :] if starts else last)


# --- running commands to completion (installs) -------------------------------------------------


def run_logged(
    argv: Sequence[str],
    *,
    log: Path,
    what: str,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    heartbeat: float = 15.0,
) -> None:
    """Run a slow command with its output in `log`, printing a progress line every `heartbeat` s."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say(f"  {what} ... (log: {log})")
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=None if env is None else {**os.environ, **env}, cwd=cwd,
        )
        try:
            while True:
                try:
                    proc.wait(timeout=heartbeat)
                    break
                except subprocess.TimeoutExpired:
                    elapsed = time.monotonic() - started
                    if elapsed > timeout:
                        proc.kill()
                        proc.wait()
                        raise StackError(f"{what}: timed out after {timeout:.0f}s\n{tail(log)}")
                    say(f"  {what} ... {elapsed:.0f}s")
        except BaseException:
            if proc.poll() is None:  # Ctrl-C: do not leave a build running behind us
                proc.kill()
                proc.wait()
            raise
    if proc.returncode != 0:
        raise StackError(f"{what} failed (exit {proc.returncode}); last lines of {log}:\n{tail(log)}")
    say(f"  {what}: done in {time.monotonic() - started:.0f}s")


def run_quiet(argv: Sequence[str], *, timeout: float = 60.0) -> str:
    """Run a quick command, return its stdout, raise StackError with its stderr on failure."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise StackError(f"{argv[0]}: timed out after {timeout:.0f}s") from None
    if done.returncode != 0:
        raise StackError(f"{' '.join(argv)} failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout


# --- processes ---------------------------------------------------------------------------------


def _start_ticks(pid: int) -> int | None:
    """The process' start time in clock ticks since boot, or None if it is gone or a zombie.

    Stored in the pid file next to the pid so a recycled pid is never taken for our process.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


@dataclass(frozen=True)
class PidRecord:
    pid: int
    start_ticks: int

    def alive(self) -> bool:
        return _start_ticks(self.pid) == self.start_ticks


def read_pid(path: Path) -> PidRecord | None:
    try:
        raw = json.loads(path.read_text())
        return PidRecord(int(raw["pid"]), int(raw["start_ticks"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def running_pid(path: Path) -> int | None:
    """The pid recorded in `path` if that very process still runs; a stale file is removed."""
    record = read_pid(path)
    if record is not None and record.alive():
        return record.pid
    path.unlink(missing_ok=True)
    return None


def spawn_detached(
    argv: Sequence[str],
    *,
    pid_file: Path,
    log: Path,
    env: Mapping[str, str],
    cwd: Path | None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session, output appended to `log`, so it outlives this CLI."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n{START_MARK}{time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(env), cwd=cwd, start_new_session=True, close_fds=True,
            user=user, group=user, extra_groups=[] if user else None,
        )
    ticks = _start_ticks(proc.pid)
    if ticks is None:  # died at once (bad binary, bad flag): the readiness wait reports the log
        ticks = -1
    pid_file.write_text(json.dumps({"pid": proc.pid, "start_ticks": ticks, "argv": list(argv)}))
    return proc


def _group_alive(pgid: int) -> bool:
    """Whether any non-zombie process of this process group is left."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            return True
    return False


def stop_group(pid: int, *, grace: float) -> bool:
    """SIGTERM the process group led by `pid` (spawn_detached made it a session leader), wait up
    to `grace` seconds, then SIGKILL what is left. Returns False if SIGKILL was needed."""

    def signal_group(sig: signal.Signals) -> None:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass

    signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return True
        time.sleep(0.2)
    signal_group(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return False


# --- ports ---------------------------------------------------------------------------------------


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR: a port in TIME_WAIT after our own `down` is free for the server too
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def port_owner(port: int) -> str:
    """Best effort 'pid N (command)' of the process listening on `port`, for error messages."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(f"socket:[{cols[9]}]")
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            for fd in (proc_dir / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    cmd = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    return f"pid {proc_dir.name} ({cmd.strip()[:120]})"
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return "an unknown process"
