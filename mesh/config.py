"""Configuration from environment variables, with safe local defaults.

Every port and path of the local stack is named here once; the stack manager (deploy/), the
services (svc_*/main.py), the Envoy renderer and the tests all read it from this module, so an
override such as `TM_ENVOY_PORT=18080 make up` moves every user of that port together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the mesh: its folder, its gRPC service name and its default ports."""

    name: str  # short name: graph, tweet, ...
    package: str  # python package that holds main.py
    grpc_service: str  # fully qualified proto service name, also the health-check service name
    grpc_port: int
    metrics_port: int
    # True: a client API, routed and transcoded by the gateway. False: a service Envoy itself calls
    # (the rate limiter); the gateway only health-checks it and lets SREs reach its health and
    # reflection.
    public: bool = True


# The mesh. Order is start order: graph first (others look up users and follows).
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("graph", "svc_graph", "tweetmesh.graph.v1.GraphService", 50051, 9461),
    ServiceSpec("tweet", "svc_tweet", "tweetmesh.tweet.v1.TweetService", 50052, 9462),
    ServiceSpec("timeline", "svc_timeline", "tweetmesh.timeline.v1.TimelineService", 50053, 9463),
    ServiceSpec("notify", "svc_notify", "tweetmesh.notify.v1.NotificationService", 50054, 9464),
    ServiceSpec("search", "svc_search", "tweetmesh.search.v1.SearchService", 50055, 9465),
    # Envoy's per-user rate limits (token buckets in Redis); speaks Envoy's own RLS API
    ServiceSpec("ratelimit", "svc_ratelimit", "envoy.service.ratelimit.v3.RateLimitService", 50056, 9466, public=False),
)


def service_spec(name: str) -> ServiceSpec:
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown service {name!r}; known: {', '.join(s.name for s in SERVICES)}")


@dataclass(frozen=True)
class Stack:
    """Where the infrastructure of the local stack listens, and where its files live."""

    host: str = field(default_factory=lambda: env_str("TM_HOST", "127.0.0.1"))
    # all installed servers, data, logs, pid files and generated secrets live under this folder
    var_dir: Path = field(default_factory=lambda: Path(env_str("TM_VAR_DIR", str(REPO_ROOT / "var"))))
    cql_port: int = field(default_factory=lambda: env_int("TM_CQL_PORT", 9042))
    cql_keyspace: str = field(default_factory=lambda: env_str("TM_CQL_KEYSPACE", "tweetmesh"))
    cql_datacenter: str = field(default_factory=lambda: env_str("TM_CQL_DATACENTER", "datacenter1"))
    redis_port: int = field(default_factory=lambda: env_int("TM_REDIS_PORT", 6379))
    nats_port: int = field(default_factory=lambda: env_int("TM_NATS_PORT", 4222))
    nats_monitor_port: int = field(default_factory=lambda: env_int("TM_NATS_MONITOR_PORT", 8222))
    es_port: int = field(default_factory=lambda: env_int("TM_ES_PORT", 9200))
    s3_port: int = field(default_factory=lambda: env_int("TM_S3_PORT", 9000))
    s3_bucket: str = field(default_factory=lambda: env_str("TM_S3_BUCKET", "tweetmesh-media"))
    s3_access_key: str = field(default_factory=lambda: env_str("TM_S3_ACCESS_KEY", "tweetmesh"))
    s3_secret_key: str = field(default_factory=lambda: env_str("TM_S3_SECRET_KEY", "tweetmesh-local-secret"))
    envoy_port: int = field(default_factory=lambda: env_int("TM_ENVOY_PORT", 8080))
    envoy_admin_port: int = field(default_factory=lambda: env_int("TM_ENVOY_ADMIN_PORT", 9901))
    # local simulators of the notification providers (deploy/provider_sim): APNs (HTTP/2 + TLS),
    # FCM (HTTPS: OAuth2 token endpoint + HTTP v1 send), SMTP, and their test control API
    apns_sim_port: int = field(default_factory=lambda: env_int("TM_APNS_SIM_PORT", 9471))
    fcm_sim_port: int = field(default_factory=lambda: env_int("TM_FCM_SIM_PORT", 9472))
    smtp_sim_port: int = field(default_factory=lambda: env_int("TM_SMTP_SIM_PORT", 2525))
    provider_sim_control_port: int = field(default_factory=lambda: env_int("TM_PROVIDER_SIM_CONTROL_PORT", 9474))

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.redis_port}/0"

    @property
    def nats_url(self) -> str:
        return f"nats://{self.host}:{self.nats_port}"

    @property
    def es_url(self) -> str:
        return f"http://{self.host}:{self.es_port}"

    @property
    def s3_url(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def envoy_url(self) -> str:
        return f"http://{self.host}:{self.envoy_port}"

    @property
    def apns_sim_url(self) -> str:
        return f"https://{self.host}:{self.apns_sim_port}"

    @property
    def fcm_sim_url(self) -> str:
        return f"https://{self.host}:{self.fcm_sim_port}"

    @property
    def provider_sim_control_url(self) -> str:
        return f"http://{self.host}:{self.provider_sim_control_port}"

    def grpc_port(self, spec: ServiceSpec) -> int:
        return env_int(f"TM_{spec.name.upper()}_GRPC_PORT", spec.grpc_port)

    def metrics_port(self, spec: ServiceSpec) -> int:
        return env_int(f"TM_{spec.name.upper()}_METRICS_PORT", spec.metrics_port)

    def grpc_target(self, spec: ServiceSpec) -> str:
        return f"{self.host}:{self.grpc_port(spec)}"
