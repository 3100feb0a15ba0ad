"""The EIDO routes of /api/v1 (docs/eido.md, docs/api.md), with the API's tokens, roles and
agency scope (ntpd_ivr/api/http.py `api_route`):

- ``GET /api/v1/incidents/{id}/eido``: the incident as an EIDO document;
- ``GET /api/v1/eido/subscriptions`` (WebSocket): subscribe, then the EIDO of each new or
  changed incident in the caller's scope (ntpd_ivr/eido/service.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiohttp import WSMsgType, web

from ntpd_ivr.api.http import PRINCIPAL, ApiError, api_route
from ntpd_ivr.api.params import INCIDENT_ID, BadParam
from ntpd_ivr.eido.model import MEDIA_TYPE, to_json
from ntpd_ivr.eido.service import MAX_SOCKETS, Subscriber, Subscriptions
from ntpd_ivr.web.auth import AGENCY_ROLE

log = logging.getLogger(__name__)

EIDO: web.AppKey[Subscriptions] = web.AppKey("eido", Subscriptions)
EIDO_PATH = "/api/v1/incidents/{id}/eido"
SUBSCRIBE_PATH = "/api/v1/eido/subscriptions"
MAX_REQUEST_BYTES = 4096   # a subscribe or unsubscribe request is a few hundred bytes


def _scope(request: web.Request) -> str | None:
    principal = request[PRINCIPAL]
    return principal.agency if principal.role == AGENCY_ROLE else None


@api_route("calltaker", AGENCY_ROLE)
async def get_eido(request: web.Request) -> web.StreamResponse:
    try:
        incident_id: int = INCIDENT_ID.get(request.match_info)
    except BadParam as exc:
        raise ApiError(400, "bad-request", str(exc)) from None
    document = await request.app[EIDO].document(incident_id, _scope(request))
    if document is None:
        raise ApiError(404, "not-found", f"no incident {incident_id}")
    return web.Response(text=to_json(document), content_type="application/json",
                        headers={"X-EIDO-Media-Type": MEDIA_TYPE})


@api_route("calltaker", AGENCY_ROLE)
async def subscribe(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise ApiError(400, "websocket-required", "open a WebSocket here (NENA-STA-024 "
                       "pattern), then send {\"subscribe\": {\"requestId\": ...}}")
    subscriptions = request.app[EIDO]
    if len(subscriptions.subscribers) >= MAX_SOCKETS:
        raise ApiError(503, "busy", f"at most {MAX_SOCKETS} EIDO subscribers at once")
    principal = request[PRINCIPAL]
    socket = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_REQUEST_BYTES)
    await socket.prepare(request)
    subscriber = Subscriber(socket, f"{principal.kind}:{principal.name}", _scope(request))
    subscriptions.subscribers.add(subscriber)
    # The socket's own writer: owned by this handler, cancelled and awaited when it ends.
    writer = asyncio.create_task(subscriptions.writer(subscriber),
                                 name=f"eido writer {subscriber.name}")
    try:
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                break
            try:
                body = json.loads(message.data)
            except ValueError:
                reply = {"error": {"statusCode": 400, "statusText": "not JSON"}}
            else:
                reply = subscriptions.handle(subscriber, body)
            await socket.send_str(json.dumps(reply))
    finally:
        subscriptions.subscribers.discard(subscriber)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    return socket


def add_routes(app: web.Application, subscriptions: Subscriptions) -> None:
    app[EIDO] = subscriptions
    app.router.add_get(EIDO_PATH.replace("{id}", r"{id:\d+}"), get_eido, name="api-v1-eido")
    app.router.add_get(SUBSCRIBE_PATH, subscribe, name="api-v1-eido-subscriptions")
