"""Shared fixtures. Integration and e2e tests talk to the real local stack (`make up`); when it is
not running they fail with that instruction rather than being skipped."""

from __future__ import annotations

import socket

import pytest

from mesh.config import Stack


@pytest.fixture(scope="session")
def stack() -> Stack:
    return Stack()


def require_listening(host: str, port: int, what: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        pytest.fail(f"{what} is not listening on {host}:{port} ({exc}); start the stack with `make up`")
