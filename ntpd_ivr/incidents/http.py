"""The incidents domain over HTTP: JSON endpoints for the call-taker's screen and scripts
(docs/incidents.md), and the commitment report page. The dispatches' endpoints and the
agency's screen are ntpd_ivr/dispatch/http.py's.

`add_routes(app, service)` registers every route with the roles that may use it; the web
package's middleware checks the session, the role and the CSRF token before a handler
runs. An agency user is scoped here, by its session's agency: another agency's incident
or dispatch answers 404, as if it did not exist. `agency_scope`, `agency_filter` and
`may_act_on` say so for dispatch's handlers too (its plugin hands them over).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aiohttp import web

from ntpd_ivr.api import params
from ntpd_ivr.incidents import commitments, schemas
from ntpd_ivr.incidents.exceptions import NotFound, NotYourCall
from ntpd_ivr.incidents.rights import CallRights
from ntpd_ivr.incidents.schemas import BadInput
from ntpd_ivr.incidents.service import IncidentService
from ntpd_ivr.period import query_period
from ntpd_ivr.web.app import DEPS, checked_fields, json_reply, path_id, protect
from ntpd_ivr.web.auth import AGENCY_ROLE, Session
from ntpd_ivr.web.templates import SESSION_KEY, add_template_package, render

log = logging.getLogger(__name__)

SERVICE: web.AppKey[IncidentService] = web.AppKey("incidents", IncidentService)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Whose call it is (ntpd_ivr/incidents/rights.py); without it no call can be named.
RIGHTS: web.AppKey[CallRights] = web.AppKey("incidents-call-rights", CallRights)
REPORT_DEFAULT_DAYS = 30


def _session(request: web.Request) -> Session:
    return request[SESSION_KEY]


def agency_scope(request: web.Request) -> str | None:
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


async def may_act_on(request: web.Request, call: str, action: str) -> None:
    """A call-taker names only a call their own phone answered (ntpd_ivr/incidents/
    rights.py); a supervisor any call, audited. Refused when no rights are configured."""
    rights = request.app.get(RIGHTS)
    if rights is None:
        raise NotYourCall(f"{action} of call {call}: this server cannot tell whose call "
                          "it is")
    await rights.check(request.app[DEPS].users, _session(request), call, action)


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
        await may_act_on(request, call, "incident")
    incident = await service.create_incident(draft, _session(request).user, call,
                                             save_key=schemas.save_key(body))
    return json_reply(incident, status=201)


async def get_incident(request: web.Request) -> web.Response:
    return json_reply(await request.app[SERVICE].incident(path_id(request),
                                                           agency=agency_scope(request)))


async def close_incident(request: web.Request) -> web.Response:
    return json_reply(await request.app[SERVICE].close_incident(path_id(request),
                                                                 _session(request).user))


async def set_disposition(request: web.Request) -> web.Response:
    call = schemas.call_uniqueid(dict(request.match_info), "uniqueid")
    assert call is not None  # the route has it
    request_body = schemas.disposition(await checked_fields(request))
    await may_act_on(request, call, "disposition")
    return json_reply(await request.app[SERVICE].set_disposition(call, request_body,
                                                                  _session(request).user))


def agency_filter(request: web.Request) -> str | None:
    scope = agency_scope(request)
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
                                             agency=agency_filter(request),
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
               rights: CallRights | None = None) -> None:
    """The incidents domain in the web app (called by its plugin); `rights`: whose call
    is whose (without it, no request may name a call)."""
    app[SERVICE] = service
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
        ("POST", "/api/calls/{uniqueid}/disposition", set_disposition, "call-disposition",
         ("calltaker",)),
        ("GET", "/api/reports/commitments", report_json, "report-commitments",
         (AGENCY_ROLE,)),
    ]
    for method, path, handler, name, roles in routes:
        app.router.add_route(method, path, handler, name=name)
        protect(app, name, *roles)
    app.router.add_get("/reports/commitments", report_page, name="report-page")
    protect(app, "report-page", AGENCY_ROLE, page=True)
