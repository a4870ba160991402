"""The local stack manager: installs, starts, checks and stops the servers tweetmesh runs on.

    python -m deploy.stack install [component...]   put missing servers under var/opt
    python -m deploy.stack up [--fresh] [component...]  install what is missing, start what is not
                                                     running, wait until ready, print endpoints
    python -m deploy.stack status [component...]    running? pid? healthy? (exit 1 if any is not)
    python -m deploy.stack down [component...]      SIGTERM, wait, SIGKILL; by pid files
    python -m deploy.stack clean                    down, then wipe data, logs and rendered config

Ports and paths come from mesh.config.Stack (TM_* environment variables), so they match what the
services and tests use. Each started server runs detached (own session, output appended to
var/log/<name>.log) and is found again through var/run/<name>.pid.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from subprocess import Popen

from mesh.config import Stack

from deploy.component import Component, NotReady
from deploy.mesh_components import components
from deploy.runtime import (
    Layout,
    StackError,
    port_free,
    port_owner,
    running_pid,
    say,
    spawn_detached,
    stop_group,
    tail,
)

POLL_INTERVAL = 0.5  # between readiness probes
PROGRESS_EVERY = 10.0  # seconds between "still waiting" lines


class StackManager:
    def __init__(self, stack: Stack, layout: Layout, table: Sequence[Component]) -> None:
        self.stack = stack
        self.layout = layout
        self.table = list(table)
        self.by_name = {c.name: c for c in self.table}
        for c in self.table:
            unknown = [d for d in c.depends_on if d not in self.by_name]
            if unknown:
                raise StackError(f"{c.name} depends on unknown component(s): {', '.join(unknown)}")

    # --- selection ---------------------------------------------------------------------------

    def select(self, names: Iterable[str], *, with_dependencies: bool) -> list[Component]:
        """The named components (all when none are named), in table order."""
        names = list(names)
        unknown = [n for n in names if n not in self.by_name]
        if unknown:
            raise StackError(f"unknown component(s): {', '.join(unknown)}; known: {', '.join(self.by_name)}")
        wanted = set(names or self.by_name)
        if with_dependencies:
            todo = list(wanted)
            while todo:
                for dep in self.by_name[todo.pop()].depends_on:
                    if dep not in wanted:
                        wanted.add(dep)
                        todo.append(dep)
        return [c for c in self.table if c.name in wanted]

    def levels(self, selected: Sequence[Component]) -> list[list[Component]]:
        """Start waves: a component's wave comes after the waves of everything it depends on.

        A whole wave starts at once and is then waited for, so slow starters overlap.
        """
        depth: dict[str, int] = {}

        def level_of(c: Component, seen: tuple[str, ...] = ()) -> int:
            if c.name in seen:
                raise StackError(f"dependency cycle: {' -> '.join((*seen, c.name))}")
            if c.name not in depth:
                depth[c.name] = 1 + max((level_of(self.by_name[d], (*seen, c.name)) for d in c.depends_on),
                                        default=-1)
            return depth[c.name]

        waves: dict[int, list[Component]] = {}
        for c in selected:
            waves.setdefault(level_of(c), []).append(c)
        return [waves[k] for k in sorted(waves)]

    # --- install -----------------------------------------------------------------------------

    def install(self, selected: Sequence[Component]) -> None:
        installers = {c.name: c.install for c in selected if c.install is not None}
        missing = {name: inst for name, inst in installers.items() if not inst.installed()}
        for name, inst in installers.items():
            if name not in missing:
                say(f"{name}: installed ({inst.describe})")
        if not missing:
            return
        for name in missing:  # never swap the files under a running server
            pid = running_pid(self.layout.pid(name))
            if pid is not None:
                raise StackError(f"{name} needs (re)installing but runs (pid {pid}): `down {name}` first")
        started = time.monotonic()
        say(f"installing: {', '.join(inst.describe for inst in missing.values())}")
        # downloads wait on the network, the MinIO build on the CPU: run them side by side
        with ThreadPoolExecutor(max_workers=len(missing)) as pool:
            futures = {name: pool.submit(inst.install) for name, inst in missing.items()}
        errors = [f"{name}: {f.exception()}" for name, f in futures.items() if f.exception() is not None]
        if errors:
            raise StackError("install failed:\n" + "\n".join(errors))
        say(f"installed in {time.monotonic() - started:.0f}s")

    # --- up ----------------------------------------------------------------------------------

    def up(self, selected: Sequence[Component]) -> None:
        started = time.monotonic()
        self.install(selected)
        for wave in self.levels(selected):
            procs = self._start(wave)
            self._wait_ready(wave, procs)
            for c in wave:
                self._post_start(c)
        say(f"\nstack up in {time.monotonic() - started:.1f}s")
        self.print_endpoints(selected)

    @staticmethod
    def _post_start(c: Component) -> None:
        if c.post_start is None:
            return
        try:
            c.post_start()
        except StackError:
            raise
        except Exception as exc:  # a hook's own error type; report it in the same clear way
            raise StackError(f"{c.name}: post-start step failed: {type(exc).__name__}: {exc}") from exc

    def _start(self, wave: Sequence[Component]) -> dict[str, Popen[bytes]]:
        to_start = []
        for c in wave:
            pid = running_pid(self.layout.pid(c.name))
            if pid is not None:
                say(f"{c.name}: already running (pid {pid})")
            else:
                to_start.append(c)
        # check every port before starting anything, so a clash leaves nothing half started
        for c in to_start:
            for port in c.ports:
                if not port_free(self.stack.host, port):
                    raise StackError(
                        f"{c.name}: port {self.stack.host}:{port} is already in use by {port_owner(port)}, "
                        "which this stack did not start; stop it, or move the port (TM_*_PORT, see mesh/config.py)"
                    )
        # prepare all and resolve every command line first: a missing JDK fails before any start
        commands = {}
        for c in to_start:
            if c.prepare is not None:
                c.prepare()
            commands[c.name] = c.command()
        procs = {}
        for c in to_start:
            try:
                proc = spawn_detached(
                    commands[c.name], pid_file=self.layout.pid(c.name), log=self.layout.log(c.name),
                    env=_child_env(c), cwd=c.cwd, user=c.user,
                )
            except OSError as exc:  # missing binary, bad cwd, no right to switch user
                raise StackError(f"{c.name}: cannot start {commands[c.name][0]}: {exc}") from None
            procs[c.name] = proc
            say(f"{c.name}: started (pid {proc.pid}, log {self.layout.log(c.name)})")
        return procs

    def _wait_ready(self, wave: Sequence[Component], procs: dict[str, Popen[bytes]]) -> None:
        begun = time.monotonic()
        pending = {c.name: c for c in wave}
        reasons: dict[str, str] = {}
        next_progress = begun + PROGRESS_EVERY
        while pending:
            for name, c in list(pending.items()):
                self._check_alive(c, procs.get(name))
                try:
                    c.ready()
                except (NotReady, OSError) as exc:
                    reasons[name] = str(exc) or type(exc).__name__
                else:
                    del pending[name]
                    how = "ready" if name in procs else "running and healthy"
                    say(f"{name}: {how} ({time.monotonic() - begun:.1f}s)")
                    continue
                if time.monotonic() - begun > c.start_timeout:
                    raise StackError(
                        f"{name}: not ready after {c.start_timeout:.0f}s ({reasons[name]}); it is left running "
                        f"(`python -m deploy.stack down` stops it). Last lines of {self.layout.log(name)}:\n"
                        + tail(self.layout.log(name))
                    )
            if not pending:
                break
            if time.monotonic() >= next_progress:
                waited = time.monotonic() - begun
                say(f"  waiting {waited:.0f}s for: " + ", ".join(f"{n} ({reasons.get(n, '...')})" for n in pending))
                next_progress += PROGRESS_EVERY
            time.sleep(POLL_INTERVAL)

    def _check_alive(self, c: Component, proc: Popen[bytes] | None) -> None:
        """Fail fast, with its log, when a component exits instead of becoming ready."""
        if proc is not None:
            code = proc.poll()
            alive = code is None
        else:
            alive = running_pid(self.layout.pid(c.name)) is not None
            code = None
        if not alive:
            self.layout.pid(c.name).unlink(missing_ok=True)
            exited = f"exited with code {code}" if code is not None else "is no longer running"
            raise StackError(f"{c.name} {exited}. Last lines of {self.layout.log(c.name)}:\n"
                             + tail(self.layout.log(c.name)))

    # --- down --------------------------------------------------------------------------------

    def down(self, selected: Sequence[Component]) -> None:
        # reverse start order: services go before the servers they use
        for wave in reversed(self.levels(selected)):
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                list(pool.map(self._stop_one, wave))

    def _stop_one(self, c: Component) -> None:
        pid_file = self.layout.pid(c.name)
        pid = running_pid(pid_file)
        if pid is None:
            say(f"{c.name}: not running")
            return
        started = time.monotonic()
        graceful = stop_group(pid, grace=c.stop_timeout)
        pid_file.unlink(missing_ok=True)
        how = "stopped" if graceful else f"killed (no exit {c.stop_timeout:.0f}s after SIGTERM)"
        say(f"{c.name}: {how} (pid {pid}, {time.monotonic() - started:.1f}s)")

    # --- status ------------------------------------------------------------------------------

    def status(self, selected: Sequence[Component]) -> bool:
        all_healthy = True
        say(f"{'COMPONENT':<14} {'STATE':<8} {'PID':>7}  {'HEALTH':<10} ENDPOINTS")
        for c in selected:
            pid = running_pid(self.layout.pid(c.name))
            if pid is None:
                state, health = "stopped", "-"
                all_healthy = False
            else:
                state = "running"
                try:
                    c.ready()
                    health = "healthy"
                except (NotReady, OSError) as exc:
                    health = f"unhealthy ({exc})"
                    all_healthy = False
            say(f"{c.name:<14} {state:<8} {pid or '-':>7}  {health:<10} {', '.join(c.endpoints)}")
        return all_healthy

    def print_endpoints(self, selected: Sequence[Component]) -> None:
        say("endpoints:")
        for c in selected:
            for endpoint in c.endpoints:
                say(f"  {c.name:<14} {endpoint}")

    # --- clean -------------------------------------------------------------------------------

    def clean(self) -> None:
        """Stop everything, then wipe what the servers wrote; installed binaries (var/opt) stay."""
        self.down(self.table)
        for folder in ("data", "log", "etc", "tmp", "run"):
            path = self.layout.root / folder
            if path.exists():
                shutil.rmtree(path)
                say(f"removed {path}")


def _child_env(c: Component) -> dict[str, str]:
    return {**os.environ, **c.env}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.stack", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("install", "install missing servers under var/opt"),
        ("up", "install, start, wait until ready, print endpoints"),
        ("down", "stop what this stack started"),
        ("status", "show running/pid/healthy per component"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("components", nargs="*", help="component names (default: all)")
        if name == "up":
            sub.add_argument("--fresh", action="store_true", help="`clean` first: start from empty data")
    commands.add_parser("clean", help="stop everything and wipe var/ data, logs and config (keeps var/opt)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stack = Stack()
    layout = Layout(stack.var_dir)
    try:
        manager = StackManager(stack, layout, components(stack, layout))
        if args.command == "clean":
            manager.clean()
            return 0
        if args.command == "status":
            return 0 if manager.status(manager.select(args.components, with_dependencies=False)) else 1
        if args.command == "down":
            manager.down(manager.select(args.components, with_dependencies=False))
            return 0
        selected = manager.select(args.components, with_dependencies=True)
        if args.command == "install":
            manager.install(selected)
        else:
            if args.fresh:
                manager.clean()
            manager.up(selected)
        return 0
    except (StackError, OSError) as exc:  # OSError: a file or folder under var/ we could not use
        print(f"\nerror: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; what was started keeps running (`python -m deploy.stack down` stops it)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
