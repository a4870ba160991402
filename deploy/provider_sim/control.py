"""The simulators' control API for tests (aiohttp, plain HTTP/1.1 on localhost): see the package doc."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from deploy.provider_sim.state import SimState


def _listed(records, key: str, value: str | None) -> list[dict[str, Any]]:
    if value is None:
        return list(records)
    return [r for r in records if value in (r.get(key) if isinstance(r.get(key), list) else [r.get(key)])]


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def _required(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise web.HTTPBadRequest(text=f"{key!r} (a non-empty string) is required")
    return value


def _responses(body: dict[str, Any], status_key: str) -> list[dict[str, Any]]:
    responses = body.get("responses")
    if not isinstance(responses, list) or not responses:
        raise web.HTTPBadRequest(text="'responses' must be a non-empty list")
    for entry in responses:
        if not isinstance(entry, dict) or (status_key not in entry and "delay_s" not in entry):
            raise web.HTTPBadRequest(text=f"each response needs {status_key!r} and/or 'delay_s'")
    return responses


def control_app(state: SimState) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/health")
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    @routes.post("/reset")
    async def reset(request: web.Request) -> web.Response:
        state.reset()
        return web.json_response({})

    @routes.get("/apns/requests")
    async def apns_requests(request: web.Request) -> web.Response:
        return web.json_response(_listed(state.apns_requests, "token", request.query.get("token")))

    @routes.post("/apns/script")
    async def apns_script(request: web.Request) -> web.Response:
        body = await _json_object(request)
        state.apns_scripts.add(_required(body, "token"), _responses(body, "status"))
        return web.json_response({})

    @routes.post("/apns/unregister")
    async def apns_unregister(request: web.Request) -> web.Response:
        state.apns_unregistered[_required(await _json_object(request), "token")] = int(time.time() * 1000)
        return web.json_response({})

    @routes.get("/fcm/requests")
    async def fcm_requests(request: web.Request) -> web.Response:
        return web.json_response(_listed(state.fcm_requests, "token", request.query.get("token")))

    @routes.get("/fcm/token-requests")
    async def fcm_token_requests(request: web.Request) -> web.Response:
        return web.json_response(list(state.fcm_token_requests))

    @routes.post("/fcm/script")
    async def fcm_script(request: web.Request) -> web.Response:
        body = await _json_object(request)
        state.fcm_scripts.add(_required(body, "token"), _responses(body, "status"))
        return web.json_response({})

    @routes.post("/fcm/unregister")
    async def fcm_unregister(request: web.Request) -> web.Response:
        state.fcm_unregistered.add(_required(await _json_object(request), "token"))
        return web.json_response({})

    @routes.post("/fcm/revoke")
    async def fcm_revoke(request: web.Request) -> web.Response:
        state.fcm_revoked.add(_required(await _json_object(request), "access_token"))
        return web.json_response({})

    @routes.get("/smtp/messages")
    async def smtp_messages(request: web.Request) -> web.Response:
        return web.json_response(_listed(state.smtp_messages, "rcpt_tos", request.query.get("to")))

    @routes.post("/smtp/script")
    async def smtp_script(request: web.Request) -> web.Response:
        body = await _json_object(request)
        state.smtp_scripts.add(_required(body, "address").lower(), _responses(body, "code"))
        return web.json_response({})

    @routes.post("/smtp/reject")
    async def smtp_reject(request: web.Request) -> web.Response:
        state.smtp_rejected.add(_required(await _json_object(request), "address").lower())
        return web.json_response({})

    app = web.Application()
    app.add_routes(routes)
    return app
