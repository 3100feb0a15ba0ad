"""Dispatch over HTTP: the call-taker's proposal and dispatch of an incident, each
dispatch's steps (accept, refuse, on the way, on scene, resolve, cancel), the agencies'
list of their dispatches and the agency's screen (docs/incidents.md).

`add_routes(app, service, access)` registers every route with the roles that may use it;
the web package's middleware checks the session, the role and the CSRF token before a
handler runs. Who acts for which agency, and whose call is whose, is the incidents' web
side's rule (`Access`, from ntpd_ivr/incidents/http.py): an agency user sees only its own
agency's dispatches, another's answers 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ntpd_ivr.dispatch.model import ACTIONS, AGENCY_EVENTS, TRANSITIONS
from ntpd_ivr.dispatch.records import DispatchService
from ntpd_ivr.incidents import schemas
from ntpd_ivr.incidents.exceptions import NotFound
from ntpd_ivr.incidents.schemas import BadInput
from ntpd_ivr.location.model import map_config
from ntpd_ivr.web import csrf
from ntpd_ivr.web.app import DEPS, checked_fields, json_reply, path_id, protect, refuse
from ntpd_ivr.web.auth import AGENCY_ROLE, Session, role_allows
from ntpd_ivr.web.templates import SESSION_KEY, add_template_package, render

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Access:
    """Who acts for which agency, and on which calls (ntpd_ivr/incidents/http.py)."""

    # The agency an agency user is limited to; None: every agency (supervisor, admin).
    agency_scope: Callable[[web.Request], str | None]
    # ... or, for the others, the ?agency= they asked for (checked).
    agency_filter: Callable[[web.Request], str | None]
    # (request, call uniqueid, action): allowed, or NotYourCall (403).
    may_act_on: Callable[[web.Request, str, str], Awaitable[None]]


SERVICE: web.AppKey[DispatchService] = web.AppKey("dispatches", DispatchService)
ACCESS: web.AppKey[Access] = web.AppKey("dispatch-access", Access)
# (incident id, agency key, caller's uniqueid, actor) -> the dispatch: the telephony of a
# connect dispatch (ntpd_ivr/dispatch/service.py ConnectDispatcher.connect).
Connect = Callable[[int, str, str, str], Awaitable[dict[str, Any]]]
CONNECT: web.AppKey[Connect] = web.AppKey("dispatch-connect", Connect)  # type: ignore[arg-type]
AGENCY_ACTIONS = tuple(action for action, event in ACTIONS.items() if event in AGENCY_EVENTS)
SCREEN_TIMES = ("accepted_at", "on_the_way_at", "on_scene_at", "resolved_at", "refused_at")


def _session(request: web.Request) -> Session:
    return request[SESSION_KEY]


def _is_form(request: web.Request) -> bool:
    return request.content_type in csrf.FORM_TYPES


async def proposal(request: web.Request) -> web.Response:
    return json_reply({"agencies": await request.app[SERVICE].proposal(path_id(request))})


async def create_dispatch(request: web.Request) -> web.Response:
    body = await checked_fields(request)
    agency = schemas.text(body, "agency")
    mode = body.get("mode", "notify")
    if mode == "connect":
        # Dial the agency's trunks, announcement, key 1, then the caller, the call-taker
        # and the agency in one conference (docs/incidents.md).
        call = schemas.call_uniqueid(body)
        if call is None:
            raise BadInput("call is required for a connect dispatch: the caller's uniqueid")
        connect = request.app.get(CONNECT)
        if connect is None:
            raise BadInput("mode connect needs the controller's telephony, not running here")
        await request.app[ACCESS].may_act_on(request, call, "connect-dispatch")
        dispatch = await connect(path_id(request), agency, call, _session(request).user)
        return json_reply(dispatch, status=201)
    if mode != "notify":
        raise BadInput("mode must be \"notify\" (the agency acknowledges on its screen) "
                       "or \"connect\" (the agency's trunk is dialled into the call)")
    dispatch = await request.app[SERVICE].dispatch(path_id(request), agency, "notify",
                                                   _session(request).user)
    return json_reply(dispatch, status=201)


def _may(session: Session, action: str) -> bool:
    if action == "cancel":
        return role_allows(session.role, "calltaker")
    return role_allows(session.role, AGENCY_ROLE)


async def dispatch_action(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise NotFound(f"no action {action!r} (known: {', '.join(ACTIONS)})")
    if not _may(session, action):
        return refuse(request, 403, "forbidden", f"role {session.role} may not {action} "
                                                 "a dispatch")
    dispatch_id = path_id(request)
    result = await request.app[SERVICE].transition(dispatch_id, ACTIONS[action], session.user,
                                                   agency=request.app[ACCESS].agency_scope(
                                                       request))
    if _is_form(request):
        raise web.HTTPSeeOther("/agency")
    return json_reply(result)


async def list_dispatches(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    dispatches = await service.agency_dispatches(request.app[ACCESS].agency_filter(request))
    return json_reply({"dispatches": dispatches})


def _actions_for(status: str) -> list[str]:
    return [a for a in AGENCY_ACTIONS if status in TRANSITIONS[ACTIONS[a]][0]]


async def agency_page(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    agency = request.app[ACCESS].agency_filter(request)
    config = service.routing()
    known = config.agencies.get(agency or "")
    rows = await service.agency_dispatches(agency)
    tiles = request.app[DEPS].map_tiles
    # The map: the incidents' points, over the agency's region (every region for the rest).
    shown = map_config(config.regions.values(), tiles.url, tiles.attribution,
                       only=[known.region] if known else None)
    shown["points"] = list({row["incident_id"]: {
        "id": row["incident_id"], "lat": row["lat"], "lon": row["lon"],
        "text": f"#{row['incident_id']} {row['category']} · {row['kecamatan']}"}
        for row in rows if row.get("lat") is not None and row.get("lon") is not None
    }.values())
    return render(request, "agency.html", rows=rows, times=SCREEN_TIMES,
                  agency_name=known.name if known else (agency or "*"),
                  actions={row["id"]: _actions_for(row["status"]) for row in rows},
                  map=shown)


def add_routes(app: web.Application, service: DispatchService, access: Access,
               connect: Connect | None = None) -> None:
    """Dispatch in the web app (called by its plugin); `connect`: the telephony of connect
    dispatches, when the controller runs it."""
    app[SERVICE] = service
    app[ACCESS] = access
    if connect is not None:
        app[CONNECT] = connect
    add_template_package(app, "ntpd_ivr.dispatch")
    routes: list[tuple[str, str, Handler, str, tuple[str, ...]]] = [
        ("GET", r"/api/incidents/{id:\d+}/proposal", proposal, "incident-proposal",
         ("calltaker",)),
        ("POST", r"/api/incidents/{id:\d+}/dispatches", create_dispatch, "dispatch-create",
         ("calltaker",)),
        ("GET", "/api/dispatches", list_dispatches, "dispatches", (AGENCY_ROLE,)),
        ("POST", r"/api/dispatches/{id:\d+}/{action}", dispatch_action, "dispatch-action",
         ("calltaker", AGENCY_ROLE)),
    ]
    for method, path, handler, name, roles in routes:
        app.router.add_route(method, path, handler, name=name)
        protect(app, name, *roles)
    app.router.add_get("/agency", agency_page, name="agency-page")
    protect(app, "agency-page", AGENCY_ROLE, page=True)
