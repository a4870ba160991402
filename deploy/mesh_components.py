"""The whole mesh as stack components: the infrastructure with its schema, the services, Envoy.

Order of `make up`: the stores and the bus start together; each one's schema is applied as soon as
it is ready (CQL migrations, Elasticsearch templates and aliases, JetStream streams and consumers);
then the services (each waits for exactly the infrastructure it uses; svc_notify also for the
local simulators of its delivery providers, deploy/provider_sim; svc_ratelimit, the rate limiter
Envoy calls, only for Redis); then Envoy, ready when its own
/healthz says every service passes its gRPC health check.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import sys
from importlib import import_module
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy import envoy_render
from deploy.component import Component, NotReady, http_probe, json_field_equals
from deploy.infra import components as infra_components
from deploy.infra import grpcurl_binary, grpcurl_installer
from deploy.runtime import Layout, StackError, run_quiet
from deploy.secrets import ensure_jwt_keys, ensure_provider_secrets, jwt_key_files
from mesh import schema
from mesh.config import REPO_ROOT, SERVICES, ServiceSpec, Stack

# what each kind of need (mesh.deps) is served by
COMPONENT_OF_NEED = {"cql": "cassandra", "es": "elasticsearch", "redis": "redis", "nats": "nats", "s3": "minio"}
# which schema step runs once which store is ready
SCHEMA_OF_COMPONENT = {
    "cassandra": schema.migrate_cql,
    "elasticsearch": schema.ensure_search_indices,
    "nats": schema.declare_jetstream,
}


# The services' interpreter: the runtime-only environment `make venv` builds beside .venv (see the
# Makefile), so what runs and is measured is what a deployment installs. Without it (a venv made by
# hand), the interpreter running this module.
RUNTIME_PYTHON = REPO_ROOT / ".venv-runtime" / "bin" / "python"


def service_python() -> str:
    return str(RUNTIME_PYTHON) if RUNTIME_PYTHON.exists() else sys.executable


def _venv_bin(name: str) -> str:
    found = Path(sys.executable).parent / name
    if found.exists():
        return str(found)
    on_path = shutil.which(name)
    if on_path is None:
        raise StackError(f"{name} not found next to {sys.executable} nor on PATH; run `make venv`")
    return on_path


def _then(first: Callable[[], None] | None, step: Callable[[Stack], Coroutine[Any, Any, Any]], stack: Stack):
    def post_start() -> None:
        if first is not None:
            first()
        asyncio.run(step(stack))

    return post_start


def grpc_health_probe(target: str, service: str) -> Callable[[], None]:
    def probe() -> None:
        with grpc.insecure_channel(target) as channel:
            try:
                answer = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=1.0
                )
            except grpc.RpcError as exc:
                raise NotReady(f"health check: {exc.code().name}") from None
        if answer.status != health_pb2.HealthCheckResponse.SERVING:
            raise NotReady(f"health: {health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)}")

    return probe


def service(stack: Stack, spec: ServiceSpec) -> Component:
    app = import_module(f"{spec.package}.main").APP
    target = stack.grpc_target(spec)
    env = {"PYTHONUNBUFFERED": "1"}
    prepare = None
    depends_on = {COMPONENT_OF_NEED[need] for need in app.needs}
    if spec.name == "graph":
        # svc_graph signs access tokens; the key is made at first set-up (deploy/secrets.py)
        keys = jwt_key_files(stack.var_dir)
        env["TM_JWT_PRIVATE_KEY_FILE"] = str(keys.private_key)
        prepare = lambda: ensure_jwt_keys(stack.var_dir)  # noqa: E731
    if spec.name == "notify":
        # push and email go to the provider simulators locally (svc_notify/adapters/provider_settings.py)
        depends_on.add(PROVIDER_SIM)
    return Component(
        name=spec.package,
        argv=[service_python(), "-m", f"{spec.package}.main"],
        ready=grpc_health_probe(target, spec.grpc_service),
        endpoints=[f"grpc {target} ({spec.grpc_service})", f"metrics http://{stack.host}:{stack.metrics_port(spec)}/metrics"],
        ports=[stack.grpc_port(spec), stack.metrics_port(spec)],
        env=env,
        prepare=prepare,
        cwd=REPO_ROOT,
        depends_on=tuple(sorted(depends_on)),
        start_timeout=90,
        stop_timeout=15,
    )


PROVIDER_SIM = "provider_sim"


def provider_sim(stack: Stack) -> Component:
    """Local APNs, FCM and SMTP simulators (deploy/provider_sim), with their test control API; the
    credentials both they and svc_notify use are made first (deploy/secrets.py)."""
    return Component(
        name=PROVIDER_SIM,
        argv=[sys.executable, "-m", "deploy.provider_sim"],
        ready=http_probe(f"{stack.provider_sim_control_url}/health", check=json_field_equals("status", "ok")),
        endpoints=[
            f"apns {stack.apns_sim_url} (HTTP/2, TLS: var/secrets/provider_ca.pem)",
            f"fcm {stack.fcm_sim_url} (OAuth2 /token, /v1/projects/*/messages:send)",
            f"smtp {stack.host}:{stack.smtp_sim_port}",
            f"control {stack.provider_sim_control_url}",
        ],
        ports=[stack.apns_sim_port, stack.fcm_sim_port, stack.smtp_sim_port, stack.provider_sim_control_port],
        env={"PYTHONUNBUFFERED": "1"},
        prepare=lambda: ensure_provider_secrets(stack),
        cwd=REPO_ROOT,
        start_timeout=30,
        stop_timeout=10,
    )


def envoy(stack: Stack, layout: Layout) -> Component:
    config_path = layout.etc("envoy") / "envoy.yaml"
    binary = _venv_bin("envoy")

    def prepare() -> None:
        ensure_jwt_keys(stack.var_dir)
        envoy_render.write(stack, config_path)
        # a broken config must fail here, with Envoy's own words, not as a crash loop later
        run_quiet([binary, "--mode", "validate", "-c", str(config_path)], timeout=60)

    envoy_argv = [binary, "-c", str(config_path), "--log-level", "warn", "--use-dynamic-base-id"]
    return Component(
        name="envoy",
        # Envoy asks the kernel for SIGTERM when its parent exits (PR_SET_PDEATHSIG), and the parent
        # of a detached process is this short-lived CLI; a shell that waits for Envoy is a parent that
        # lives exactly as long. `down` signals the whole process group, Envoy included.
        argv=["/bin/sh", "-c", '"$@"; exit $?', "envoy", *envoy_argv],
        # ready only when Envoy itself sees every service healthy through its gRPC health checks
        ready=http_probe(f"{stack.envoy_url}/healthz"),
        endpoints=[
            f"REST + gRPC {stack.envoy_url}",
            f"admin http://{stack.host}:{stack.envoy_admin_port}",
            f"grpcurl {grpcurl_binary(layout)}",
        ],
        ports=[stack.envoy_port, stack.envoy_admin_port],
        # grpcurl comes with the gateway: how SREs (and the e2e tests) call any service by reflection
        install=grpcurl_installer(layout),
        prepare=prepare,
        cwd=REPO_ROOT,
        depends_on=tuple(spec.package for spec in SERVICES),
        start_timeout=60,
    )


def components(stack: Stack, layout: Layout) -> list[Component]:
    infra = [
        dataclasses.replace(c, post_start=_then(c.post_start, SCHEMA_OF_COMPONENT[c.name], stack))
        if c.name in SCHEMA_OF_COMPONENT else c
        for c in infra_components(stack, layout)
    ]
    return [*infra, provider_sim(stack), *(service(stack, spec) for spec in SERVICES), envoy(stack, layout)]
