"""The callback list over HTTP. Routes, with their least role:

    GET  /callbacks                   the list page (calltaker)
    GET  /api/callbacks               {"callbacks": [...], "today": figures} (calltaker)
    POST /api/callbacks/{id}/call     {"endpoint": E} (calltaker, CSRF): ring the
                                      call-taker's phone E, then the caller. A call-taker
                                      rings their own phone (their web user's
                                      sip_endpoint); a supervisor may name any call-taker's.

A form post gets 303 back to /callbacks; JSON gets 202 and the callback. Refusals: 400
bad-request, 404 not-found, 409 not-open | in-progress | no-endpoint | no-callback-line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from ntpd_ivr.callbacks.model import NoEndpoint, NotFound
from ntpd_ivr.callbacks.service import CallbackService
from ntpd_ivr.jsontext import dumps
from ntpd_ivr.web import csrf
from ntpd_ivr.web.app import MAX_ID, protect, refuse, request_fields
from ntpd_ivr.web.auth import Session, role_allows
from ntpd_ivr.web.templates import SESSION_KEY, add_template_package, render

log = logging.getLogger(__name__)

CALLBACKS: web.AppKey[CallbackService] = web.AppKey("callbacks", CallbackService)
ENDPOINTS: web.AppKey[Callable[[], Iterable[str]]] = web.AppKey("callback_endpoints")
OWN_ENDPOINT: web.AppKey[Callable[[str], str | None]] = web.AppKey("callback_own_endpoint")
_ENDPOINT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


async def page(request: web.Request) -> web.Response:
    service = request.app[CALLBACKS]
    return render(request, "callbacks.html", callbacks=await service.listing(),
                  today=service.today, endpoints=sorted(request.app[ENDPOINTS]()),
                  own=request.app[OWN_ENDPOINT](request[SESSION_KEY].user))


async def listing(request: web.Request) -> web.Response:
    service = request.app[CALLBACKS]
    return web.json_response({"callbacks": await service.listing(), "today": service.today},
                             dumps=dumps)


def _endpoint(request: web.Request, body: dict[str, Any]) -> str:
    session: Session = request[SESSION_KEY]
    own = request.app[OWN_ENDPOINT](session.user)
    asked = body.get("endpoint") or None
    if asked is not None and not isinstance(asked, str):
        raise ValueError("endpoint must be a string")
    if not role_allows(session.role, "supervisor"):
        if own is None:
            raise NoEndpoint(f"web user {session.user} has no sip_endpoint")
        if asked not in (None, own):
            raise ValueError(f"a call-taker calls back from their own phone ({own})")
        return own
    endpoint = asked or own
    if endpoint is None:
        raise NoEndpoint("name the call-taker's phone to ring first (endpoint)")
    if not _ENDPOINT.match(endpoint) or endpoint not in set(request.app[ENDPOINTS]()):
        raise ValueError(f"endpoint must be a known call-taker's phone, got {endpoint!r}")
    return endpoint


async def call(request: web.Request) -> web.StreamResponse:
    service = request.app[CALLBACKS]
    session: Session = request[SESSION_KEY]
    try:
        callback_id = int(request.match_info["id"])
        if not 1 <= callback_id <= MAX_ID:
            raise NotFound(f"no callback {callback_id}")
        body = await request_fields(request)
        endpoint = _endpoint(request, body)
        callback = await service.call_back(callback_id, session.user, endpoint)
    except ValueError as exc:
        return refuse(request, 400, "bad-request", str(exc))
    if request.content_type in csrf.FORM_TYPES:
        raise web.HTTPSeeOther("/callbacks")
    return web.json_response({"callback": callback}, status=202, dumps=dumps)


def routes(service: CallbackService, endpoints: Callable[[], Iterable[str]],
           own_endpoint: Callable[[str], str | None]) -> Callable[[web.Application], None]:
    """The callbacks' add_routes for ntpd_ivr.web.app.init(domains=...)."""

    async def stop(_: web.Application) -> None:
        await service.stop()

    def add_routes(app: web.Application) -> None:
        app[CALLBACKS] = service
        app[ENDPOINTS] = endpoints
        app[OWN_ENDPOINT] = own_endpoint
        add_template_package(app, "ntpd_ivr.callbacks")
        protect(app, "callbacks", "calltaker", page=True)
        protect(app, "callbacks-list", "calltaker")
        protect(app, "callbacks-call", "calltaker")
        app.on_cleanup.append(stop)
        app.router.add_get("/callbacks", page, name="callbacks")
        app.router.add_get("/api/callbacks", listing, name="callbacks-list")
        app.router.add_post(r"/api/callbacks/{id:\d{1,19}}/call", call, name="callbacks-call")

    return add_routes
