"""grpc.aio server bootstrap shared by every service.

A service's main.py names the infrastructure it needs and how to build its servicer from it, and
hands that to `run()`, which:
- opens the connections (each waits until its server answers, within TM_STARTUP_WAIT_S),
- builds the servicer over them and serves it with the call pipeline (mesh/interceptors.py),
- serves grpc.health.v1 (overall "" and the service's own name, SERVING once listening) and
  server reflection, so SREs can use grpcurl on any service,
- exposes Prometheus metrics on its own port,
- on SIGTERM/SIGINT: NOT_SERVING first (Envoy's health checks stop routing to it), then
  `server.stop(grace)` lets calls in flight finish, then the adapters close.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mesh import logs, metrics
from mesh.admission import AdmissionGate
from mesh.config import ServiceSpec, Stack, env_float, env_int, env_str
from mesh.deps import Dependencies
from mesh.errors import Unavailable
from mesh.interceptors import CallPipeline

log = logging.getLogger("mesh.server")

# Keepalive: ping idle connections every 30 s so dead peers (a killed Envoy, a vanished client) are
# noticed within a minute; accept client pings every 10 s at most, even without calls in flight
# (Envoy's HTTP/2 pings and long-lived notification streams need that).
SERVER_OPTIONS = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.so_reuseport", 0),  # a second copy on the same port must fail loudly, not share it
)


@dataclass(frozen=True)
class ServerSettings:
    default_deadline_s: float = field(default_factory=lambda: env_float("TM_DEFAULT_DEADLINE_S", 10.0))
    grace_s: float = field(default_factory=lambda: env_float("TM_SHUTDOWN_GRACE_S", 5.0))
    log_level: str = field(default_factory=lambda: env_str("TM_LOG_LEVEL", "INFO"))
    # mesh.admission: unary calls worked on at once, and how long a call beyond that may wait for a
    # place before it is refused (UNAVAILABLE, SERVER_OVERLOADED)
    max_in_flight: int = field(default_factory=lambda: env_int("TM_MAX_IN_FLIGHT", 32))
    admission_wait_s: float = field(default_factory=lambda: env_float("TM_ADMISSION_WAIT_MS", 100.0) / 1000)


# A long-running job of a service (outbox relay, event consumer): runs until `stopping` is set,
# then finishes its current unit of work and returns.
BackgroundJob = Callable[[asyncio.Event], Awaitable[None]]


@dataclass(frozen=True)
class ServiceApp:
    """What a service brings to the bootstrap; everything else is the same for all services."""

    spec: ServiceSpec
    # the infrastructure it uses: any of "cql", "redis", "nats", "es", "s3" (see mesh.deps)
    needs: frozenset[str]
    # builds the adapters and use cases over the open connections, adds the servicer, and returns
    # the background jobs to run beside it (none for a request/response-only service)
    register: Callable[[grpc.aio.Server, Dependencies], Sequence[BackgroundJob]]
    # the other services it calls ("graph", "tweet", ...), through deps.peers
    peers: frozenset[str] = frozenset()


async def run(app: ServiceApp, stack: Stack | None = None, settings: ServerSettings | None = None) -> None:
    stack = stack or Stack()
    settings = settings or ServerSettings()
    logs.setup(app.spec.name, settings.log_level)

    deps = await Dependencies.open(stack, name=app.spec.name, peers=sorted(app.peers), **{need: True for need in app.needs})
    gate = AdmissionGate(settings.max_in_flight, settings.admission_wait_s)
    server = grpc.aio.server(interceptors=[CallPipeline(settings.default_deadline_s, gate)], options=SERVER_OPTIONS)
    jobs = app.register(server, deps)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (app.spec.grpc_service, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    address = f"{stack.host}:{stack.grpc_port(app.spec)}"
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"cannot listen on {address}")
    metrics.serve_metrics(stack.host, stack.metrics_port(app.spec))
    # What start-up made (imported modules, botocore's endpoint tables, the drivers' state) lives as
    # long as the process: out of the collector's sight, so that a full collection only walks what
    # serving made since. A full collection of everything stood svc_tweet still for ~70 ms
    # (python_gc_pause_seconds), and every call in flight with it.
    gc.collect()
    gc.freeze()
    metrics.observe_gc_pauses()
    await server.start()
    log.info("listening", extra={"grpc": address, "metrics_port": stack.metrics_port(app.spec)})

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    running_jobs = [asyncio.create_task(job(stopping), name=getattr(job, "__name__", "job")) for job in jobs]
    try:
        for name in ("", app.spec.grpc_service):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"service": app.spec.grpc_service, "jobs": len(running_jobs)})
        await _until_stopped_or_job_failed(stopping, running_jobs)
    finally:
        stopping.set()
        log.info("stopping", extra={"grace_s": settings.grace_s})
        await health_servicer.enter_graceful_shutdown()
        await server.stop(settings.grace_s)
        await _finish_jobs(running_jobs, settings.grace_s)
        await deps.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("stopped")


async def _until_stopped_or_job_failed(stopping: asyncio.Event, jobs: list[asyncio.Task]) -> None:
    """Serve until a stop signal; a background job that dies takes the service down with it (its
    supervisor restarts it) rather than leaving a process that looks healthy but no longer works."""
    stop_wait = asyncio.create_task(stopping.wait())
    done, _ = await asyncio.wait([stop_wait, *jobs], return_when=asyncio.FIRST_COMPLETED)
    stop_wait.cancel()
    for task in done:
        if task is not stop_wait and not stopping.is_set():
            error = task.exception()
            log.error("background job %s ended; stopping the service", task.get_name(), exc_info=error)
            raise RuntimeError(f"background job {task.get_name()} ended: {error!r}")


async def _finish_jobs(jobs: list[asyncio.Task], grace_s: float) -> None:
    if not jobs:
        return
    _, late = await asyncio.wait(jobs, timeout=grace_s)
    for task in late:
        task.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)


EVENT_LOOPS = ("uvloop", "asyncio")


def new_event_loop(kind: str | None = None) -> asyncio.AbstractEventLoop:
    """The loop a service runs on: uvloop (libuv, in C) unless TM_EVENT_LOOP=asyncio. grpc.aio,
    redis-py, nats-py and the CQL driver's callbacks all run on it; the stdlib loop's Python
    scheduling is part of every call's CPU (bench: warm home reads 2.19-2.43 instead of 2.44-2.52 ms)."""
    kind = kind or env_str("TM_EVENT_LOOP", "uvloop")
    if kind == "asyncio":
        return asyncio.new_event_loop()
    if kind == "uvloop":
        import uvloop  # imported here: a service started with TM_EVENT_LOOP=asyncio never loads it

        return uvloop.new_event_loop()
    raise ValueError(f"TM_EVENT_LOOP must be one of {', '.join(EVENT_LOOPS)}, got {kind!r}")


def main(app: ServiceApp) -> None:
    """Entry point of `python -m svc_x.main`; exits 1 when a dependency never answered."""
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(run(app))
    except Unavailable as exc:
        log.error("cannot start: %s", exc.message)
        raise SystemExit(1) from None
