"""The bench's REST client (bench/rest.py) against a small local HTTP server: what it resends."""

from __future__ import annotations

import dataclasses
import socket

from aiohttp import web

from bench.rest import Answer, CallStats, Gateway
from mesh.config import Stack

OVERLOADED_BODY = '{"error":{"code":503,"status":"UNAVAILABLE","reason":"SERVER_OVERLOADED"}}'
DOWN_BODY = '{"error":{"code":503,"status":"UNAVAILABLE","reason":"DEPENDENCY_UNAVAILABLE"}}'


async def _serving(answers: list[tuple[int, str]]) -> tuple[web.AppRunner, int, list[int]]:
    seen: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        status, body = answers[min(len(seen), len(answers) - 1)]
        seen.append(status)
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/things", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    listening = socket.create_server(("127.0.0.1", 0))
    await web.SockSite(runner, listening).start()
    return runner, listening.getsockname()[1], seen


async def _call_through(answers: list[tuple[int, str]]) -> tuple[Answer | None, list[int], CallStats]:
    """One POST by a Gateway with two attempts, against a server giving `answers` in turn (the
    last one over and over): its answer, the statuses the server gave, the gateway's counts."""
    runner, port, seen = await _serving(answers)
    gateway = Gateway(dataclasses.replace(Stack(), envoy_port=port), attempts=2)
    try:
        return await gateway.call("POST", "/v1/things", body={}), seen, gateway.stats
    finally:
        await gateway.close()
        await runner.cleanup()


async def test_a_call_refused_at_capacity_is_sent_again_without_spending_its_attempts():
    answer, seen, stats = await _call_through([(503, OVERLOADED_BODY)] * 4 + [(200, "{}")])
    assert answer is not None and answer.status_code == 200
    assert len(seen) == 5 and stats.shed == 4 and stats.errors == []


async def test_other_503s_spend_attempts_and_then_count_as_errors():
    answer, seen, stats = await _call_through([(503, DOWN_BODY)])
    assert answer is None
    assert len(seen) == 2 and stats.shed == 0 and stats.resent == 1
    assert len(stats.errors) == 1 and "503" in stats.errors[0]
