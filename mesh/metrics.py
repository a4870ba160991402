"""Prometheus metrics: request count and latency by method and status code, and the interpreter's
garbage-collection pauses, one endpoint a service."""

from __future__ import annotations

import gc
import time

from prometheus_client import Counter, Gauge, Histogram, start_http_server

REQUESTS = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "Time from receiving an RPC to its status, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
    # tuned to the latency targets (p99 of 15-25 ms): fine below 50 ms, coarse above
    buckets=(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def observe(full_method: str, code_name: str, seconds: float) -> None:
    service, _, method = full_method.lstrip("/").partition("/")
    REQUESTS.labels(service, method, code_name).inc()
    LATENCY.labels(service, method, code_name).observe(seconds)


# mesh.admission: calls refused because the service was at its bound, and the calls inside it
SHED_CALLS = Counter("grpc_server_shed_total", "RPCs refused (UNAVAILABLE, SERVER_OVERLOADED): the service was at capacity.")
CALLS_IN_FLIGHT = Gauge("grpc_server_calls_in_flight", "Unary RPCs admitted and not finished yet.")
ADMISSION_WAIT = Histogram(
    "grpc_server_admission_wait_seconds",
    "Time an admitted RPC waited for a place because the service was at capacity.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)

GC_PAUSES = Histogram(
    "python_gc_pause_seconds",
    "Time the interpreter stood still for one garbage collection, by generation: every call in "
    "flight in the process waits that long.",
    ["generation"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)


def observe_gc_pauses() -> None:
    """Time every collection (gc.callbacks brackets each one with a start and a stop)."""
    started_at = [0.0]

    def on_collection(phase: str, info: dict) -> None:
        if phase == "start":
            started_at[0] = time.perf_counter()
        else:
            GC_PAUSES.labels(str(info["generation"])).observe(time.perf_counter() - started_at[0])

    gc.callbacks.append(on_collection)


def serve_metrics(host: str, port: int) -> None:
    """Expose /metrics over HTTP on a daemon thread (the prometheus_client server)."""
    start_http_server(port, addr=host)
