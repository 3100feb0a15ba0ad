"""The incidents domain over HTTP: JSON endpoints for the call-taker's screen and scripts
(docs/incidents.md), the agency's screen, and the commitment report page.

`add_routes(app, service)` registers every route with the roles that may use it; the web
package's middleware checks the session, the role and the CSRF token before a handler
runs. An agency user is scoped here, by its session's agency: another agency's incident
or dispatch answers 404, as if it did not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from ntpd_ivr.api import params
from ntpd_ivr.incidents import commitments, schemas
from ntpd_ivr.incidents.exceptions import NotFound, NotYourCall
from ntpd_ivr.incidents.model import AGENCY_EVENTS, TRANSITIONS, DispatchEvent
from ntpd_ivr.incidents.rights import CallRights
from ntpd_ivr.incidents.schemas import BadInput
from ntpd_ivr.incidents.service import IncidentService
from ntpd_ivr.location.model import map_config
from ntpd_ivr.period import query_period
from ntpd_ivr.web import csrf
from ntpd_ivr.web.app import DEPS, checked_fields, json_reply, path_id, protect, refuse
from ntpd_ivr.web.auth import AGENCY_ROLE, Session, role_allows
from ntpd_ivr.web.templates import SESSION_KEY, add_template_package, render

log = logging.getLogger(__name__)

SERVICE: web.AppKey[IncidentService] = web.AppKey("incidents", IncidentService)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# (incident id, agency key, caller's uniqueid, actor) -> the dispatch: the telephony of a
# connect dispatch (ntpd_ivr/dispatch/service.py ConnectDispatcher.connect).
Connect = Callable[[int, str, str, str], Awaitable[dict[str, Any]]]
CONNECT: web.AppKey[Connect] = web.AppKey("incidents-connect", Connect)  # type: ignore[arg-type]
# Whose call it is (ntpd_ivr/incidents/rights.py); without it no call can be named.
RIGHTS: web.AppKey[CallRights] = web.AppKey("incidents-call-rights", CallRights)
# URL action -> dispatch event. attempt, answer and time_out come only from the telephony.
ACTIONS: dict[str, DispatchEvent] = {"accept": "accept", "refuse": "refuse",
                                     "on-the-way": "on_the_way", "on-scene": "on_scene",
                                     "resolve": "resolve", "cancel": "cancel"}
AGENCY_ACTIONS = tuple(action for action, event in ACTIONS.items() if event in AGENCY_EVENTS)
SCREEN_TIMES = ("accepted_at", "on_the_way_at", "on_scene_at", "resolved_at", "refused_at")
REPORT_DEFAULT_DAYS = 30


def _session(request: web.Request) -> Session:
    return request[SESSION_KEY]


def _scope(request: web.Request) -> str | None:
    """The agency an agency user is limited to, as the users file says now (an agency
    changed there applies at the next request); None: every agency (supervisor, admin)."""
    session = _session(request)
    if session.role != AGENCY_ROLE:
        return None
    users = request.app[DEPS].users
    users.refresh()
    user = users.users.get(session.user)
    if user is None or user.role != AGENCY_ROLE or not user.agency:
        raise NotFound(f"user {session.user} acts for no agency now")
    return user.agency


async def _may_act_on(request: web.Request, call: str, action: str) -> None:
    """A call-taker names only a call their own phone answered (ntpd_ivr/incidents/
    rights.py); a supervisor any call, audited. Refused when no rights are configured."""
    rights = request.app.get(RIGHTS)
    if rights is None:
        raise NotYourCall(f"{action} of call {call}: this server cannot tell whose call "
                          "it is")
    await rights.check(request.app[DEPS].users, _session(request), call, action)


def _is_form(request: web.Request) -> bool:
    return request.content_type in csrf.FORM_TYPES


async def suggest(request: web.Request) -> web.Response:
    category = schemas.text(request.query, "category")
    kecamatan = schemas.text(request.query, "kecamatan")
    return json_reply({"incidents": await request.app[SERVICE].suggest(category, kecamatan)})


async def create_incident(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await checked_fields(request)
    draft = schemas.incident_draft(body, service.routing())
    call = schemas.call_uniqueid(body)
    if call is not None:  # the call becomes the incident's first genuine call
        await _may_act_on(request, call, "incident")
    incident = await service.create_incident(draft, _session(request).user, call)
    return json_reply(incident, status=201)


async def get_incident(request: web.Request) -> web.Response:
    return json_reply(await request.app[SERVICE].incident(path_id(request),
                                                           agency=_scope(request)))


async def close_incident(request: web.Request) -> web.Response:
    return json_reply(await request.app[SERVICE].close_incident(path_id(request),
                                                                 _session(request).user))


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
        await _may_act_on(request, call, "connect-dispatch")
        dispatch = await connect(path_id(request), agency, call, _session(request).user)
        return json_reply(dispatch, status=201)
    if mode != "notify":
        raise BadInput("mode must be \"notify\" (the agency acknowledges on its screen) "
                       "or \"connect\" (the agency's trunk is dialled into the call)")
    dispatch = await request.app[SERVICE].dispatch(path_id(request), agency, "notify",
                                                   _session(request).user)
    return json_reply(dispatch, status=201)


async def set_disposition(request: web.Request) -> web.Response:
    call = schemas.call_uniqueid(dict(request.match_info), "uniqueid")
    assert call is not None  # the route has it
    request_body = schemas.disposition(await checked_fields(request))
    await _may_act_on(request, call, "disposition")
    return json_reply(await request.app[SERVICE].set_disposition(call, request_body,
                                                                  _session(request).user))


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
                                                   agency=_scope(request))
    if _is_form(request):
        raise web.HTTPSeeOther("/agency")
    return json_reply(result)


def _agency_filter(request: web.Request) -> str | None:
    scope = _scope(request)
    if scope is not None:
        return scope
    return _known_form(request, params.AGENCY_KEY)


def _known_form(request: web.Request, param: params.Param) -> str | None:
    """A name filter of the query, checked against its pattern before it goes to the
    database (the screens' OpenAPI document states it); empty: no filter."""
    wanted = request.query.get(param.name, "")
    try:
        return param.parse(wanted) if wanted else None
    except params.BadParam as exc:
        raise BadInput(str(exc)) from None


async def list_dispatches(request: web.Request) -> web.Response:
    dispatches = await request.app[SERVICE].agency_dispatches(_agency_filter(request))
    return json_reply({"dispatches": dispatches})


def _actions_for(status: str) -> list[str]:
    return [a for a in AGENCY_ACTIONS if status in TRANSITIONS[ACTIONS[a]][0]]


async def agency_page(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    agency = _agency_filter(request)
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


def _period(request: web.Request, now: datetime) -> tuple[datetime, datetime]:
    for param in (params.FROM, params.TO):  # 1900-2099: no arithmetic past year 1 or 9999
        _known_form(request, param)
    try:
        return query_period(request.query.get("from"), request.query.get("to"), now,
                            REPORT_DEFAULT_DAYS)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


async def _report(request: web.Request) -> tuple[datetime, datetime,
                                                 list[commitments.AgencyFigures]]:
    service = request.app[SERVICE]
    start, end = _period(request, service.clock() + timedelta(seconds=1))
    rows = await commitments.load_dispatches(service.engine, start, end,
                                             agency=_agency_filter(request),
                                             region=_known_form(request, params.REGION))
    return start, end, commitments.compute(rows, service.routing())


async def report_json(request: web.Request) -> web.Response:
    start, end, lines = await _report(request)
    return json_reply({"from": start.isoformat(), "to": end.isoformat(),
                       "lines": [line.as_dict() for line in lines]})


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


async def report_page(request: web.Request) -> web.Response:
    start, end, lines = await _report(request)
    return render(request, "commitments.html", lines=lines, start=start.isoformat(),
                  end=end.isoformat(),
                  duration=_duration, all_agencies=commitments.ALL_AGENCIES)


def add_routes(app: web.Application, service: IncidentService,
               connect: Connect | None = None, rights: CallRights | None = None) -> None:
    """The incidents domain in the web app (called by the composition root); `connect`:
    the telephony of connect dispatches, when the controller runs it; `rights`: whose call
    is whose (without it, no request may name a call)."""
    app[SERVICE] = service
    if connect is not None:
        app[CONNECT] = connect
    if rights is not None:
        app[RIGHTS] = rights
    add_template_package(app, "ntpd_ivr.incidents")
    routes: list[tuple[str, str, Handler, str, tuple[str, ...]]] = [
        ("GET", "/api/incidents/suggest", suggest, "incidents-suggest", ("calltaker",)),
        ("POST", "/api/incidents", create_incident, "incidents-create", ("calltaker",)),
        ("GET", r"/api/incidents/{id:\d+}", get_incident, "incident",
         ("calltaker", AGENCY_ROLE)),
        ("POST", r"/api/incidents/{id:\d+}/close", close_incident, "incident-close",
         ("calltaker",)),
        ("GET", r"/api/incidents/{id:\d+}/proposal", proposal, "incident-proposal",
         ("calltaker",)),
        ("POST", r"/api/incidents/{id:\d+}/dispatches", create_dispatch, "dispatch-create",
         ("calltaker",)),
        ("POST", "/api/calls/{uniqueid}/disposition", set_disposition, "call-disposition",
         ("calltaker",)),
        ("GET", "/api/dispatches", list_dispatches, "dispatches", (AGENCY_ROLE,)),
        ("POST", r"/api/dispatches/{id:\d+}/{action}", dispatch_action, "dispatch-action",
         ("calltaker", AGENCY_ROLE)),
        ("GET", "/api/reports/commitments", report_json, "report-commitments",
         (AGENCY_ROLE,)),
    ]
    for method, path, handler, name, roles in routes:
        app.router.add_route(method, path, handler, name=name)
        protect(app, name, *roles)
    for path, handler, name in (("/agency", agency_page, "agency-page"),
                                ("/reports/commitments", report_page, "report-page")):
        app.router.add_get(path, handler, name=name)
        protect(app, name, AGENCY_ROLE, page=True)
