"""The bench's REST client (bench/rest.py) against a small local HTTP server: what it resends."""

from __future__ import annotations

import dataclasses
import socket

from aiohttp import web

from bench.rest import Gateway
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


async def test_a_call_refused_at_capacity_is_sent_again_without_spending_its_attempts():
    runner, port, seen = await _serving([(503, OVERLOADED_BODY)] * 4 + [(200, "{}")])
    gateway = Gateway(dataclasses.replace(Stack(), envoy_port=port), attempts=2)
    try:
        answer = await gateway.call("POST", "/v1/things", body={})
    finally:
        await gateway.close()
        await runner.cleanup()
    assert answer is not None and answer.status_code == 200
    assert len(seen) == 5 and gateway.stats.shed == 4 and gateway.stats.errors == []


async def test_other_503s_spend_attempts_and_then_count_as_errors():
    runner, port, seen = await _serving([(503, DOWN_BODY)])
    gateway = Gateway(dataclasses.replace(Stack(), envoy_port=port), attempts=2)
    try:
        answer = await gateway.call("POST", "/v1/things", body={})
    finally:
        await gateway.close()
        await runner.cleanup()
    assert answer is None
    assert len(seen) == 2 and gateway.stats.shed == 0 and gateway.stats.resent == 1
    assert len(gateway.stats.errors) == 1 and "503" in gateway.stats.errors[0]
