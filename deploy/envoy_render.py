"""Render envoy/envoy.yaml for this machine: the ports of mesh/config.py, absolute file paths.

The source file stays readable (anchors, default ports); the rendered copy under var/etc/envoy/
is what Envoy runs.
Routing is by name: the cluster named after a service gets that service's port, so adding a
service means adding its cluster and routes in envoy.yaml and its ServiceSpec in mesh/config.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from deploy.secrets import jwt_key_files
from mesh.config import REPO_ROOT, SERVICES, Stack

SOURCE = REPO_ROOT / "envoy" / "envoy.yaml"

# Browser origins allowed to call the REST API (CORS): a comma-separated list of exact origins, or
# `*` for any origin (development only).
CORS_ORIGINS_ENV = "TM_CORS_ALLOWED_ORIGINS"
DEFAULT_CORS_ORIGINS = "http://localhost:3000"
CORS_FILTER = "envoy.filters.http.cors"

# TLS on the public listener: both set = HTTPS only (HTTP/2 and HTTP/1.1 by ALPN), TLS 1.2 at least.
# Unset (the local default) = plaintext, for a listener behind a TLS-terminating load balancer or a
# developer's machine. The files are read by Envoy; keep the key readable by Envoy's user only.
TLS_CERT_ENV = "TM_ENVOY_TLS_CERT_FILE"
TLS_KEY_ENV = "TM_ENVOY_TLS_KEY_FILE"

# The local shield (one token bucket for this whole Envoy, before any other work): requests per
# second and burst. The defaults sit far above what per-user budgets let one user do, and below
# what would drown the services; a bigger machine, or a benchmark's rate sweep, raises them.
SHIELD_PER_S_ENV = "TM_ENVOY_SHIELD_PER_S"
SHIELD_BURST_ENV = "TM_ENVOY_SHIELD_BURST"
SHIELD_FILTER = "envoy.filters.http.local_ratelimit"


def downstream_tls(cert_file: str, key_file: str) -> dict[str, Any]:
    """The listener's transport socket for TLS with this certificate chain and key."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
                "tls_certificates": [{
                    "certificate_chain": {"filename": str(Path(cert_file).resolve())},
                    "private_key": {"filename": str(Path(key_file).resolve())},
                }],
            },
        },
    }


def cors_origin_matchers(setting: str) -> list[dict[str, Any]]:
    """Envoy string matchers for TM_CORS_ALLOWED_ORIGINS: exact origins, or any origin for `*`."""
    origins = [origin.strip().rstrip("/") for origin in setting.split(",") if origin.strip()]
    if not origins:
        raise ValueError(f"{CORS_ORIGINS_ENV} is empty: name at least one origin, or * for any")
    if "*" in origins:
        return [{"safe_regex": {"regex": ".*"}}]
    return [{"exact": origin} for origin in origins]


def render(stack: Stack, source: Path = SOURCE) -> dict[str, Any]:
    config = yaml.safe_load(source.read_text())
    config["admin"]["address"]["socket_address"].update(address=stack.host, port_value=stack.envoy_admin_port)
    (listener,) = config["static_resources"]["listeners"]
    listener["address"]["socket_address"].update(address=stack.host, port_value=stack.envoy_port)
    cert_file, key_file = os.environ.get(TLS_CERT_ENV, ""), os.environ.get(TLS_KEY_ENV, "")
    if bool(cert_file) != bool(key_file):
        raise ValueError(f"set both {TLS_CERT_ENV} and {TLS_KEY_ENV} for TLS on the public listener, or neither")
    if cert_file:
        (chain,) = listener["filter_chains"]
        chain["transport_socket"] = downstream_tls(cert_file, key_file)
    for http_filter in _http_filters(listener):
        typed = http_filter["typed_config"]
        if http_filter["name"] == SHIELD_FILTER:
            bucket = typed["token_bucket"]
            bucket["tokens_per_fill"] = _positive_int(SHIELD_PER_S_ENV, bucket["tokens_per_fill"])
            bucket["max_tokens"] = _positive_int(SHIELD_BURST_ENV, max(bucket["max_tokens"], bucket["tokens_per_fill"]))
        if "proto_descriptor" in typed:
            typed["proto_descriptor"] = str((REPO_ROOT / typed["proto_descriptor"]).resolve())
        for provider in typed.get("providers", {}).values():
            # the public keys made at set-up (deploy/secrets.py), wherever var/ is
            provider["local_jwks"]["filename"] = str(jwt_key_files(stack.var_dir).jwks)
    route_config = _manager(listener)["route_config"]
    cors = os.environ.get(CORS_ORIGINS_ENV, DEFAULT_CORS_ORIGINS)
    for virtual_host in route_config["virtual_hosts"]:
        policy = virtual_host.get("typed_per_filter_config", {}).get(CORS_FILTER)
        if policy is not None:
            policy["allow_origin_string_match"] = cors_origin_matchers(cors)
        for route in virtual_host["routes"]:
            body = route.get("direct_response", {}).get("body", {})
            if "filename" in body:  # the OpenAPI document under gen/, wherever the repo is
                body["filename"] = str((REPO_ROOT / body["filename"]).resolve())
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    for spec in SERVICES:
        cluster = clusters.get(spec.name)
        if cluster is None:
            raise ValueError(f"envoy.yaml has no cluster for service {spec.name!r}")
        (locality,) = cluster["load_assignment"]["endpoints"]
        for endpoint in locality["lb_endpoints"]:
            endpoint["endpoint"]["address"]["socket_address"].update(
                address=stack.host, port_value=stack.grpc_port(spec)
            )
    return config


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of requests, at least 1 (got {raw!r})")
    return int(raw)


def _manager(listener: dict[str, Any]) -> dict[str, Any]:
    (chain,) = listener["filter_chains"]
    (manager,) = chain["filters"]
    return manager["typed_config"]


def _http_filters(listener: dict[str, Any]) -> list[dict[str, Any]]:
    return _manager(listener)["http_filters"]


class _PlainDumper(yaml.SafeDumper):
    """Writes shared nodes out in full: no anchors or aliases in the rendered file."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write(stack: Stack, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # merge keys are expanded on load and aliases on dump: Envoy's YAML reader gets plain YAML
    target.write_text(yaml.dump(render(stack), Dumper=_PlainDumper, sort_keys=False))
