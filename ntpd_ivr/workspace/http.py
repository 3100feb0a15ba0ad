"""The call-taker's screen and its JSON API. Routes, with their least role:

    GET  /workspace               the page (calltaker)
    GET  /api/workspace           {"user", "sip_endpoint", "presence", "call", "queues",
                                   "pause_reasons"} (calltaker)
    POST /api/workspace/presence  {"action": "login", "queue": Q} | {"action": "logout"} |
                                  {"action": "pause", "reason": R} | {"action": "unpause"}
                                  (calltaker, CSRF): the presence as Asterisk has it after
    GET  /api/workspace/locate?lat=&lon=&region=
                                  where a point lies: the region that holds it, its
                                  kecamatan/desa where polygons exist, and whether it is
                                  inside `region` (the call's; null: no boundary) (calltaker)

A form post gets 303 back to the page; JSON gets the presence. Refusals: 400 bad-request,
409 no-endpoint | not-logged-in | already-member |
static-member, 502 asterisk (AMI failed; audited).
Pops and presence changes are pushed on the hub's `workspace` topic, to the user's own
sockets only: kinds call.ringing (the pop), call.connected, call.missed, call.ended,
presence, location.fix ({call, fix}: a new fix of the call on the screen); to every
desk: sms.status ({up, waiting}: the SMS gateway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from ntpd_ivr.calls.values import DISPOSITIONS as CALL_DISPOSITIONS
from ntpd_ivr.location.model import locate
from ntpd_ivr.web import csrf
from ntpd_ivr.web.app import DEPS, problem, protect, refuse, request_fields, wants_html
from ntpd_ivr.web.auth import Session
from ntpd_ivr.web.i18n import translator
from ntpd_ivr.web.templates import SESSION_KEY, render
from ntpd_ivr.workspace.forms import PLAIN_DISPOSITIONS, desk_config
from ntpd_ivr.workspace.model import PAUSE_REASONS, PresenceChange, WorkspaceError
from ntpd_ivr.workspace.service import WorkspaceService

log = logging.getLogger(__name__)

WORKSPACE: web.AppKey[WorkspaceService] = web.AppKey("workspace", WorkspaceService)
ROLES = {"workspace": "calltaker", "workspace-state": "calltaker",
         "workspace-presence": "calltaker", "workspace-locate": "calltaker"}


def _state(service: WorkspaceService, session: Session) -> dict[str, object]:
    endpoint = service.endpoint_of_user(session.user)
    wrapup = service.wrapups.of(endpoint) if endpoint else None
    return {"user": session.user, "sip_endpoint": endpoint,
            "presence": service.presence_of(endpoint).to_json() if endpoint else None,
            "call": service.screen_call(endpoint) if endpoint else None,
            "wrapup": wrapup.to_json() if wrapup else None,
            "queues": list(service.queues()), "pause_reasons": list(PAUSE_REASONS),
            "sms": service.sms, "location_link": service.location_link()}


async def page(request: web.Request) -> web.Response:
    state = _state(request.app[WORKSPACE], request[SESSION_KEY])
    t = translator(request)
    routing = request.app[WORKSPACE].routing()
    return render(request, "workspace.html", state=state,
                  pause_reasons=PAUSE_REASONS, plain_dispositions=PLAIN_DISPOSITIONS,
                  call_dispositions=t.codes("call", CALL_DISPOSITIONS),
                  desk=desk_config(routing, t, *_tiles(request)), texts=_texts_served(request))


def _texts_served(request: web.Request) -> bool:
    """Whether the app serves the texts API (the SMS sessions' domain): the desk shows its
    text pane only then."""
    return any(r.canonical == "/api/texts" for r in request.app.router.resources())


def _tiles(request: web.Request) -> tuple[str, str]:
    deps = request.app.get(DEPS)
    return (deps.map_tiles.url, deps.map_tiles.attribution) if deps else ("", "")


async def locate_point(request: web.Request) -> web.Response:
    """The reverse look-up and the wrong-regency check (ntpd_ivr/location/model.py)."""
    query = request.query
    try:
        lat, lon = float(query.get("lat", "")), float(query.get("lon", ""))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # NaN too
            raise ValueError(f"{lat}, {lon} is not on the globe")
        found = locate(request.app[WORKSPACE].routing().regions.values(),
                       query.get("region", ""), lat, lon)
    except ValueError as exc:
        return refuse(request, 400, "bad-request", f"lat and lon in degrees: {exc}")
    return web.json_response(found.to_json())


async def get_state(request: web.Request) -> web.Response:
    return web.json_response(_state(request.app[WORKSPACE], request[SESSION_KEY]))


async def change_presence(request: web.Request) -> web.StreamResponse:
    service = request.app[WORKSPACE]
    session: Session = request[SESSION_KEY]
    try:
        change = PresenceChange.parse(await request_fields(request), service.queues())
    except ValueError as exc:
        return refuse(request, 400, "bad-request", str(exc))
    try:
        presence = await service.change_presence(session.user, change)
    except WorkspaceError as exc:
        return _refuse(request, exc)
    if request.content_type in csrf.FORM_TYPES:
        raise web.HTTPSeeOther("/workspace")
    return web.json_response({"presence": presence.to_json()})


def _refuse(request: web.Request, exc: WorkspaceError) -> web.Response:
    log.info("refused %s %s: %d %s (%s)", request.method, request.path, exc.status,
             exc.error, exc.reason)
    if not wants_html(request):
        return problem(exc.status, exc.error, exc.reason)
    return render(request, "error.html", status=exc.status, error=exc.error,
                  reason=translator(request)(f"desk.error.{exc.error}"))


def routes(service: WorkspaceService) -> Callable[[web.Application], None]:
    """The workspace's add_routes for ntpd_ivr.web.app.init(domains=...)."""

    async def stop(_: web.Application) -> None:
        await service.stop()

    def add_routes(app: web.Application) -> None:
        app[WORKSPACE] = service
        for name, role in ROLES.items():
            protect(app, name, role, page=name == "workspace")
        app.on_cleanup.append(stop)
        app.router.add_get("/workspace", page, name="workspace")
        app.router.add_get("/api/workspace", get_state, name="workspace-state")
        app.router.add_post("/api/workspace/presence", change_presence,
                            name="workspace-presence")
        app.router.add_get("/api/workspace/locate", locate_point, name="workspace-locate")

    return add_routes
