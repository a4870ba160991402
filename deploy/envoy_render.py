"""Render envoy/envoy.yaml for this machine: the ports of mesh/config.py, absolute file paths.

The source file stays readable (anchors, default ports); the rendered copy under var/etc/envoy/
is what Envoy runs.
Routing is by name: the cluster named after a service gets that service's port, so adding a
service means adding its cluster and routes in envoy.yaml and its ServiceSpec in mesh/config.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deploy.secrets import jwt_key_files
from mesh.config import REPO_ROOT, SERVICES, Stack

SOURCE = REPO_ROOT / "envoy" / "envoy.yaml"


def render(stack: Stack, source: Path = SOURCE) -> dict[str, Any]:
    config = yaml.safe_load(source.read_text())
    config["admin"]["address"]["socket_address"].update(address=stack.host, port_value=stack.envoy_admin_port)
    (listener,) = config["static_resources"]["listeners"]
    listener["address"]["socket_address"].update(address=stack.host, port_value=stack.envoy_port)
    for http_filter in _http_filters(listener):
        typed = http_filter["typed_config"]
        if "proto_descriptor" in typed:
            typed["proto_descriptor"] = str((REPO_ROOT / typed["proto_descriptor"]).resolve())
        for provider in typed.get("providers", {}).values():
            # the public keys made at set-up (deploy/secrets.py), wherever var/ is
            provider["local_jwks"]["filename"] = str(jwt_key_files(stack.var_dir).jwks)
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


def _http_filters(listener: dict[str, Any]) -> list[dict[str, Any]]:
    (chain,) = listener["filter_chains"]
    (manager,) = chain["filters"]
    return manager["typed_config"]["http_filters"]


class _PlainDumper(yaml.SafeDumper):
    """Writes shared nodes out in full: no anchors or aliases in the rendered file."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write(stack: Stack, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # merge keys are expanded on load and aliases on dump: Envoy's YAML reader gets plain YAML
    target.write_text(yaml.dump(render(stack), Dumper=_PlainDumper, sort_keys=False))
