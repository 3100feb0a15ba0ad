"""The desk's text sessions over HTTP (docs/texts.md). Routes, with their least role
(a supervisor may read any session; only the call-taker who took one acts on it):

    GET  /api/texts                         {"sessions": [Session], "accepts": bool}
                                            offered to me now, and mine (calltaker)
    GET  /api/texts/quick-replies           {"quick_replies": [{"id", "text"}]}, in the
                                            user's language (calltaker)
    GET  /api/texts/{uniqueid}              Session with its messages (calltaker)
    POST /api/texts/{uniqueid}/take         Session; 409 taken (calltaker, CSRF)
    POST /api/texts/{uniqueid}/messages     {"body"} | {"quick"} -> 201 Message
    POST /api/texts/{uniqueid}/end          {"disposition", "incident_id"?} -> Session
    POST /api/texts/{uniqueid}/callback     -> 202 {"callback": ...}
    PUT  /api/workspace/accepts-text        {"accepts": bool} -> {"accepts": bool}

Refusals are errors.Refusal: {"error", "reason"} (400 bad-request, 403 not-yours |
not-offered, 404 not-found, 409 taken | ended | not-taken, 413 too-long).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ntpd_ivr.texts.model import accepts_value
from ntpd_ivr.texts.service import TextService
from ntpd_ivr.web.app import checked_fields, json_reply, protect
from ntpd_ivr.web.auth import Session, role_allows
from ntpd_ivr.web.i18n import language_of
from ntpd_ivr.web.templates import SESSION_KEY

TEXTS: web.AppKey[TextService] = web.AppKey("texts", TextService)
SESSION_PATH = r"/api/texts/{uniqueid:sms-[0-9]{1,19}}"


def _user(request: web.Request) -> Session:
    return request[SESSION_KEY]


async def listing(request: web.Request) -> web.Response:
    service, user = request.app[TEXTS], _user(request).user
    return json_reply({"sessions": await service.listing(user),
                       "accepts": service.accepts.get(user, False)})


async def quick_replies(request: web.Request) -> web.Response:
    return json_reply({"quick_replies": request.app[TEXTS].quick_replies(
        language_of(request))})


async def one(request: web.Request) -> web.Response:
    session = _user(request)
    return json_reply(await request.app[TEXTS].one(
        request.match_info["uniqueid"], session.user,
        supervisor=role_allows(session.role, "supervisor")))


async def take(request: web.Request) -> web.Response:
    return json_reply(await request.app[TEXTS].take(request.match_info["uniqueid"],
                                                    _user(request).user))


async def send(request: web.Request) -> web.Response:
    body = await checked_fields(request)
    message = await request.app[TEXTS].reply(request.match_info["uniqueid"],
                                             _user(request).user, body, language_of(request))
    return json_reply(message, status=201)


async def end(request: web.Request) -> web.Response:
    body = await checked_fields(request)
    return json_reply(await request.app[TEXTS].end(request.match_info["uniqueid"],
                                                   _user(request).user, body))


async def callback(request: web.Request) -> web.Response:
    found = await request.app[TEXTS].callback(request.match_info["uniqueid"],
                                              _user(request).user)
    return json_reply({"callback": found}, status=202)


async def accepts_text(request: web.Request) -> web.Response:
    accepts = accepts_value(await checked_fields(request))
    return json_reply({"accepts": await request.app[TEXTS].set_accepts(
        _user(request).user, accepts)})


ROUTES = (("GET", "/api/texts", listing, "texts-list"),
          ("GET", "/api/texts/quick-replies", quick_replies, "texts-quick-replies"),
          ("GET", SESSION_PATH, one, "texts-one"),
          ("POST", SESSION_PATH + "/take", take, "texts-take"),
          ("POST", SESSION_PATH + "/messages", send, "texts-messages"),
          ("POST", SESSION_PATH + "/end", end, "texts-end"),
          ("POST", SESSION_PATH + "/callback", callback, "texts-callback"),
          ("PUT", "/api/workspace/accepts-text", accepts_text, "texts-accepts"))


def routes(service: TextService) -> Callable[[web.Application], None]:
    def add_routes(app: web.Application) -> None:
        app[TEXTS] = service
        for method, path, handler, name in ROUTES:
            protect(app, name, "calltaker")
            app.router.add_route(method, path, handler, name=name)

    return add_routes
