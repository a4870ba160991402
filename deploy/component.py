"""What the stack manager needs to know about one process of the stack, and readiness probes.

A component is data: deploy/stack.py installs, starts, waits for, stops and reports any of them the
same way. To add one, append a `Component(...)` to the table in deploy/infra.py (or build one with
`python_service` for a `python -m svc_x.main` service).
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class NotReady(Exception):
    """Raised by a probe: the component is not (yet) ready, with the reason why."""


Probe = Callable[[], None]  # returns when ready, raises NotReady (or OSError) otherwise


@dataclass(frozen=True)
class Installer:
    """Puts a component's binaries in place. `installed()` must be cheap: it runs on every `up`."""

    describe: str  # e.g. "Cassandra 5.0.9 (Maven Central)"
    installed: Callable[[], bool]
    install: Callable[[], None]


@dataclass(frozen=True)
class Component:
    name: str
    # the command line; a callable when it depends on what is installed (resolved at start time)
    argv: Sequence[str] | Callable[[], Sequence[str]]
    ready: Probe
    endpoints: Sequence[str] = ()  # printed by `up` and `status`
    ports: Sequence[int] = ()  # must be free before start; a taken port is a clear error
    env: Mapping[str, str] = field(default_factory=dict)  # added to this CLI's environment
    cwd: Path | None = None
    user: str | None = None  # run as this system user (Elasticsearch refuses root)
    install: Installer | None = None
    # runs before every start: renders config, makes folders (cheap, idempotent)
    prepare: Callable[[], None] | None = None
    # runs after readiness on every `up` (bucket, schema, ...): must be idempotent
    post_start: Callable[[], None] | None = None
    depends_on: Sequence[str] = ()  # started (and ready) before this one
    start_timeout: float = 60.0  # seconds from start to ready
    stop_timeout: float = 30.0  # seconds from SIGTERM to SIGKILL

    def command(self) -> list[str]:
        return list(self.argv() if callable(self.argv) else self.argv)


# --- probes ---------------------------------------------------------------------------------------


def tcp_probe(host: str, port: int, timeout: float = 1.0) -> Probe:
    def probe() -> None:
        with socket.create_connection((host, port), timeout=timeout):
            pass

    return probe


def http_probe(
    url: str, *, timeout: float = 2.0, check: Callable[[bytes], None] | None = None
) -> Probe:
    """Ready when GET `url` answers 2xx (and `check(body)` does not raise NotReady)."""

    path = urllib.parse.urlsplit(url).path  # short enough for progress lines

    def probe() -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (local URL)
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise NotReady(f"GET {path}: HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            raise NotReady(f"GET {path}: {exc.reason}") from None
        if check is not None:
            check(body)

    return probe


def json_field_equals(key: str, expected: object) -> Callable[[bytes], None]:
    def check(body: bytes) -> None:
        value = json.loads(body).get(key)
        if value != expected:
            raise NotReady(f"{key} is {value!r}, want {expected!r}")

    return check


def python_service(
    name: str, module: str, *, port: int, host: str, depends_on: Sequence[str], cwd: Path,
    env: Mapping[str, str] | None = None,
) -> Component:
    """A mesh service run as `python -m <module>`, ready when its gRPC port accepts connections.

    For a stricter check pass your own `ready` (e.g. the gRPC health service) via dataclasses.replace.
    """
    return Component(
        name=name,
        argv=[sys.executable, "-m", module],
        ready=tcp_probe(host, port),
        endpoints=[f"grpc {host}:{port}"],
        ports=[port],
        env=dict(env or {}),
        cwd=cwd,
        depends_on=depends_on,
        start_timeout=30.0,
        stop_timeout=15.0,
    )
