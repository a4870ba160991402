"""The public REST API as the loader uses it: many calls in flight, each with a timeout, paced
per user to stay inside the gateway's rate limits, retried when the mesh says "later".

The client is aiohttp (already the Elasticsearch client's transport), not httpx: with some fifty
connections in flight httpx's pool spends ~9 ms of CPU per request (measured: 17 s of CPU for
2,000 GETs, aiohttp 0.9 s), CPU the mesh being loaded needs on a small machine.

- Pacing: writes of one user at most `write_rate` a second after a burst (the gateway allows 10/s,
  burst 60, per user: svc_ratelimit), reads likewise. Anonymous calls (sign-ups) are not paced:
  they spend the client address's budget, which the benchmark stack raises
  (TM_RATELIMIT_ANON_WRITE_PER_S); a 429 is waited out either way.
- A 429 waits its Retry-After and is sent again; a 502/503/504 or a connection error is sent again
  after a back-off. Every mutation the loader sends carries a request id or is idempotent by
  nature (a follow), so a retry never doubles anything.
- Any other answer that the caller did not declare acceptable is an error: counted, kept (the
  first few, with their bodies) and, past `max_errors`, the load stops with all of them.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.auth import bearer
from mesh.config import Stack

RETRYABLE = (502, 503, 504)
OVERLOADED = "SERVER_OVERLOADED"  # the reason of a call refused at capacity (mesh.admission)
MAX_SHEDS_PER_CALL = 100


class RestErrors(RuntimeError):
    pass


class _Pace:
    """A token bucket: `take` returns once the caller may send."""

    def __init__(self, rate: float, burst: float):
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._at = time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            await asyncio.sleep((1 - self._tokens) / self._rate)

    def empty(self) -> None:
        self._tokens = 0.0


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class CallStats:
    calls: int = 0
    throttled: int = 0  # 429 answers, waited out and sent again
    resent: int = 0  # 5xx or connection errors, sent again
    shed: int = 0  # refused by a service at capacity (503 SERVER_OVERLOADED), sent again
    errors: list[str] = field(default_factory=list)


class Gateway:
    def __init__(self, stack: Stack, *, in_flight: int = 48, timeout_s: float = 10.0, max_errors: int = 5,
                 write_rate: float = 9.0, write_burst: float = 50.0, read_rate: float = 45.0,
                 read_burst: float = 250.0, attempts: int = 8):
        self._stack = stack
        self._base_url = stack.envoy_url
        self._in_flight = in_flight
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None  # made in the running loop, on first use
        self._slots = asyncio.Semaphore(in_flight)
        self._max_errors = max_errors
        self._attempts = attempts
        self._pacing = {True: (write_rate, write_burst), False: (read_rate, read_burst)}
        self._paces: dict[tuple[str, bool], _Pace] = {}
        self.stats = CallStats()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, method: str, path: str, *, user: int | str | None = None, body: Any = None,
                   params: dict[str, Any] | None = None, accept: Iterable[int] = (200,)) -> Answer | None:
        """The answer, if its status is in `accept`; None (and an error counted) otherwise."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                base_url=self._base_url, timeout=self._timeout, connector=aiohttp.TCPConnector(limit=self._in_flight))
        write = method != "GET"
        pace = None
        if user is not None:
            key = (str(user), write)
            pace = self._paces.get(key) or self._paces.setdefault(key, _Pace(*self._pacing[write]))
        accepted = set(accept)
        attempt, sheds = 0, 0
        while attempt < self._attempts:
            attempt += 1
            if pace is not None:
                await pace.take()
            headers = bearer(self._stack, user) if user is not None else {}
            async with self._slots:
                self.stats.calls += 1
                try:
                    async with self._session.request(method, path, json=body, params=params, headers=headers) as raw:
                        answer = Answer(raw.status, raw.headers, await raw.text())
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    answer, failure = None, f"{method} {path}: {type(exc).__name__} {exc}"
            if answer is not None:
                if answer.status_code in accepted:
                    return answer
                failure = f"{method} {path}: {answer.status_code} {answer.text[:300]}"
                if answer.status_code == 503 and OVERLOADED in answer.text and sheds < MAX_SHEDS_PER_CALL:
                    # the service refused it at capacity (mesh.admission): not a failure of this
                    # request, so it costs no attempt; a short wait, and it is sent again
                    sheds += 1
                    self.stats.shed += 1
                    attempt -= 1
                    await asyncio.sleep(0.1 + random.random() * 0.4)
                    continue
                if answer.status_code == 429:
                    self.stats.throttled += 1
                    if pace is not None:
                        pace.empty()
                    await asyncio.sleep(_retry_after(answer) + random.random() * 0.2)
                    continue
                if answer.status_code not in RETRYABLE:
                    break
            if attempt < self._attempts:
                self.stats.resent += 1
                await asyncio.sleep(min(8.0, 0.25 * 2 ** attempt) * (0.5 + random.random()))
        self._error(failure)
        return None

    def _error(self, failure: str) -> None:
        self.stats.errors.append(failure)
        if len(self.stats.errors) > self._max_errors:
            raise RestErrors(f"{len(self.stats.errors)} REST calls failed: " + "; ".join(self.stats.errors[:5]))


def _retry_after(answer: Answer) -> float:
    try:
        return max(0.05, float(answer.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


async def run_all(jobs: Iterable[Callable[[], Awaitable[Any]]], *, workers: int) -> None:
    """Run the jobs with `workers` of them at a time, in the order given; the first exception
    (RestErrors) stops the rest."""
    iterator = iter(jobs)

    async def worker() -> None:
        for job in iterator:
            await job()

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def pages(gateway: Gateway, path: str, *, user: int | str, key: str, page_size: int = 100,
                extra: dict[str, Any] | None = None) -> AsyncIterator[list[dict[str, Any]]]:
    """The items under `key` of every page of a paged GET (AIP-158 pageSize/pageToken)."""
    token = ""
    while True:
        params = {"pageSize": page_size, **(extra or {})}
        if token:
            params["pageToken"] = token
        response = await gateway.call("GET", path, user=user, params=params)
        if response is None:
            return
        body = response.json()
        yield body.get(key, [])
        token = body.get("nextPageToken", "")
        if not token:
            return
