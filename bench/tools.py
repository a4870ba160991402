"""The load generator `make bench` drives: vegeta, built from the Go module proxy into var/.

vegeta (github.com/tsenart/vegeta) is an open-loop, constant-rate HTTP load tool: it sends on a
clock whatever the server's latency, so a slow server shows up as latency, not as a lower offered
rate (a closed-loop client would quietly wait and hide it: coordinated omission).

It is installed the way deploy/infra.py installs grpcurl: `go install` of a pinned version into
var/opt/vegeta/bin, with a `.installed` marker holding the version (a changed pin rebuilds, an
unchanged one is a file read). The Go caches go under var/cache/go so nothing lands in ~.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from deploy.infra import _versioned_installer
from deploy.runtime import Layout, StackError, run_logged
from mesh.config import Stack

VEGETA_MODULE = "github.com/tsenart/vegeta/v12"
VEGETA_VERSION = "v12.13.0"
INSTALL_TIMEOUT_S = 900.0  # a cold module cache downloads a few MB and compiles for ~1 min

# where Go is put by the official tarball, for a shell whose PATH does not have it
_GO_FALLBACK = Path("/usr/local/go/bin/go")


def vegeta_binary(stack: Stack) -> Path:
    return Layout(stack.var_dir).opt("vegeta") / "bin" / "vegeta"


def _go() -> str:
    found = shutil.which("go") or (str(_GO_FALLBACK) if _GO_FALLBACK.exists() else None)
    if found is None:
        raise StackError("`go` is not on PATH: vegeta is built with `go install`; install Go (https://go.dev/dl)")
    return found


def ensure_vegeta(stack: Stack, *, timeout_s: float = INSTALL_TIMEOUT_S) -> Path:
    """The vegeta binary, built first if the pinned version is not installed yet (else instant)."""
    layout = Layout(stack.var_dir)
    cache = stack.var_dir / "cache" / "go"

    def fill(target: Path) -> None:
        run_logged(
            [_go(), "install", f"{VEGETA_MODULE}@{VEGETA_VERSION}"],
            env={
                "GOBIN": str(target / "bin"),
                "GOPATH": str(cache),
                "GOMODCACHE": str(cache / "mod"),
                "GOCACHE": str(cache / "build"),
                "GOFLAGS": "-modcacherw",  # so `rm -rf var` can delete the module cache
                "GOTOOLCHAIN": "local",  # never download another Go
                "CGO_ENABLED": "0",
            },
            log=layout.install_log("vegeta"),
            what=f"building vegeta {VEGETA_VERSION} (go install)",
            timeout=timeout_s,
        )

    installer = _versioned_installer(f"vegeta {VEGETA_VERSION}", layout.opt("vegeta"), VEGETA_VERSION, fill)
    if not installer.installed():
        installer.install()
    return vegeta_binary(stack)
