"""What the HTTP push adapters (APNs, FCM) share: TLS trust, Retry-After, and the deadline of a send."""

from __future__ import annotations

import email.utils
import ssl
import time
from pathlib import Path

import httpx

from mesh import context
from mesh.errors import Unavailable

# what a send answers as SendOutcome.RETRY when it comes from the network rather than the provider
NETWORK_ERRORS = (httpx.HTTPError, TimeoutError, OSError, Unavailable)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verify the provider's certificate against `ca_file` (a local test CA), else the system store."""
    if ca_file is None:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=str(ca_file))


def retry_after_s(headers: httpx.Headers) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def deadline_s(cap: float) -> float:
    """The time one send may take: the caller's remaining deadline, at most `cap` (raises
    Unavailable when the call's time is already spent: the caller maps that to RETRY)."""
    return context.remaining(cap)
