"""Render envoy/envoy.yaml for this machine: the ports of mesh/config.py, absolute file paths.

The source file stays readable (anchors, default ports); the rendered copy under var/etc/envoy/
is what Envoy runs.
Routing is by name: the cluster named after a service gets that service's port, so adding a
service means adding its cluster and routes in envoy.yaml and its ServiceSpec in mesh/config.py.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import yaml

from deploy.secrets import jwt_key_files
from mesh.config import REPO_ROOT, SERVICES, Stack
from svc_ratelimit.domain import Budget, Budgets, Caller, Kind

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

# Per-user read budgets, counted by Envoy (filter read_budgets): its buckets take their shape from the
# TM_RATELIMIT_READ_* / TM_RATELIMIT_ANON_READ_* settings that svc_ratelimit also reads, so one setting
# names a budget wherever it is counted. Envoy refills a bucket in steps of at least 50 ms.
READ_BUDGETS_FILTER = "read_budgets"
_MIN_FILL_INTERVAL_S = 0.05
_FILL_STEP_S = 0.1

# Wrong method on a known REST path: the transcoder leaves such a request as it came, like an unknown
# path. One route per path template of the google.api.http bindings, made here from the descriptor the
# transcoder reads (so it cannot drift from the protos), turns on the refuse filter with
# {status: 405, allow: the template's methods}. RPCs the gateway refuses (internal ones) get none.
REFUSE_FILTER = "tweetmesh.refuse"
TRANSCODER_FILTER = "envoy.filters.http.grpc_json_transcoder"


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
        if http_filter["name"] == READ_BUDGETS_FILTER:
            fill_read_budgets(typed, Budgets.from_env())
        if "proto_descriptor" in typed:
            typed["proto_descriptor"] = str((REPO_ROOT / typed["proto_descriptor"]).resolve())
        for provider in typed.get("providers", {}).values():
            # the public keys made at set-up (deploy/secrets.py), wherever var/ is
            provider["local_jwks"]["filename"] = str(jwt_key_files(stack.var_dir).jwks)
    route_config = _manager(listener)["route_config"]
    cors = os.environ.get(CORS_ORIGINS_ENV, DEFAULT_CORS_ORIGINS)
    transcoder = next(f["typed_config"] for f in _http_filters(listener) if f["name"] == TRANSCODER_FILTER)
    for virtual_host in route_config["virtual_hosts"]:
        policy = virtual_host.get("typed_per_filter_config", {}).get(CORS_FILTER)
        if policy is not None:
            policy["allow_origin_string_match"] = cors_origin_matchers(cors)
        routes = virtual_host["routes"]
        for route in routes:
            body = route.get("direct_response", {}).get("body", {})
            if "filename" in body:  # the OpenAPI document under gen/, wherever the repo is
                body["filename"] = str((REPO_ROOT / body["filename"]).resolve())
        refused = [r["match"]["safe_regex"]["regex"] for r in routes
                   if "direct_response" in r and "safe_regex" in r["match"]]
        catch_all = next(i for i, r in enumerate(routes)
                         if r["match"] == {"prefix": "/"} and REFUSE_FILTER in r.get("typed_per_filter_config", {}))
        descriptor = Path(transcoder["proto_descriptor"]).read_bytes()
        routes[catch_all:catch_all] = method_not_allowed_routes(
            descriptor, transcoder["services"], refused, routes[catch_all])
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


def _refill_step(budget: Budget) -> tuple[int, float]:
    """(tokens, seconds) of each refill: ~100 ms steps; a rate under 10/s refills one token at a
    time, every 1/rate s."""
    tokens_per_fill = max(1, round(budget.per_s * _FILL_STEP_S))
    return tokens_per_fill, max(_MIN_FILL_INTERVAL_S, tokens_per_fill / budget.per_s)


def token_bucket(budget: Budget) -> dict[str, Any]:
    """Envoy's token bucket for a budget: the same burst and rate."""
    tokens_per_fill, interval_s = _refill_step(budget)
    return {"max_tokens": budget.burst, "tokens_per_fill": tokens_per_fill, "fill_interval": f"{interval_s:.3f}s"}


def fill_read_budgets(typed: dict[str, Any], budgets: Budgets) -> None:
    """Shape the read_budgets filter's buckets (the user's, then the anonymous address's) and its
    Retry-After: the seconds until a refused caller has a token again, in the slower of the two."""
    user, anonymous = typed["descriptors"]
    shapes = [(user, budgets.by_class[(Kind.READ, Caller.USER)]), (anonymous, budgets.by_class[(Kind.READ, Caller.ADDRESS)])]
    for descriptor, budget in shapes:
        descriptor["token_bucket"] = token_bucket(budget)
    wait_s = max(math.ceil(_refill_step(budget)[1] - 1e-9) for _, budget in shapes)
    (retry_after,) = [h for h in typed["response_headers_to_add"] if h["header"]["key"] == "retry-after"]
    retry_after["header"]["value"] = str(max(1, wait_s))


def http_bindings(descriptor: bytes, services: list[str]) -> list[tuple[str, str, str]]:
    """(gRPC path, HTTP method, path template) of every google.api.http binding of these services."""
    from google.api import annotations_pb2
    from google.protobuf import descriptor_pb2

    bindings = []
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor).file:
        for service in file.service:
            name = f"{file.package}.{service.name}"
            if name not in services:
                continue
            for method in service.method:
                if not method.options.HasExtension(annotations_pb2.http):
                    continue
                rule = method.options.Extensions[annotations_pb2.http]
                for binding in (rule, *rule.additional_bindings):
                    kind = binding.WhichOneof("pattern")
                    verb, template = (binding.custom.kind, binding.custom.path) if kind == "custom" else (
                        kind.upper(), getattr(binding, kind))
                    bindings.append((f"/{name}/{method.name}", verb, template))
    return bindings


def template_regex(template: str) -> tuple[str, str]:
    """(regex of the request paths a google.api.http template matches, its custom verb or ""), as the
    transcoder reads them: `{x}` and `*` one segment, `**` any, trailing slashes ignored, `:verb` at
    the end of the last segment."""
    template = re.sub(r"\{[^}=]+\}", "*", template)
    template = re.sub(r"\{[^}=]+=([^}]+)\}", r"\1", template)
    path, colon, verb = template.rpartition(":")
    if not colon or "/" in verb:
        path, verb = template, ""
    segments = ["[^/]+" if s == "*" else ".*" if s == "**" else re.escape(s) for s in path.strip("/").split("/")]
    return "^/" + "/".join(segments) + (re.escape(f":{verb}") + "$" if verb else "/*$"), verb


def method_not_allowed_routes(descriptor: bytes, services: list[str], refused: list[str],
                              catch_all: dict[str, Any]) -> list[dict[str, Any]]:
    """Routes answering 405 + Allow on every REST path template, for the methods the template lacks
    (the transcoder has taken the others), placed before the catch-all 404 and shaped like it.
    Templates with a custom verb come first; then a path ending in one of those verbs that none of
    them took is a 404 (the transcoder reads `/v1/users/1:lookup` as verb `lookup`, not as the id
    `1:lookup`); then the templates without one."""
    denied = [re.compile(regex) for regex in refused]
    allowed: dict[tuple[str, str], set[str]] = {}
    for grpc_path, method, template in http_bindings(descriptor, services):
        if any(r.fullmatch(grpc_path) for r in denied):
            continue
        allowed.setdefault(template_regex(template), set()).add(method)
    verbs = sorted({verb for _, verb in allowed if verb})

    def route(regex: str, metadata: dict[str, Any]) -> dict[str, Any]:
        return {"match": {"safe_regex": {"regex": regex}}, "route": catch_all["route"],
                "metadata": {"filter_metadata": {REFUSE_FILTER: metadata}},
                "typed_per_filter_config": {REFUSE_FILTER: catch_all["typed_per_filter_config"][REFUSE_FILTER]}}

    def templates(with_verb: bool) -> list[dict[str, Any]]:
        return [route(regex, {"status": 405, "allow": ", ".join(sorted(methods))})
                for (regex, verb), methods in sorted(allowed.items()) if bool(verb) == with_verb]

    unknown_verb = [route(f"^.*:({'|'.join(map(re.escape, verbs))})$", {"status": 404})] if verbs else []
    return templates(with_verb=True) + unknown_verb + templates(with_verb=False)


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
