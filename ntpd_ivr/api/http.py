"""/api/v1: versioned JSON for integration (docs/api.md), described by /api/v1/openapi.json.

Who may call: a machine client with `Authorization: Bearer <token>` (ntpd_ivr/api/tokens.py)
or a logged-in browser session. With an Authorization header the token alone decides (a
cookie is ignored), and the CSRF check does not apply: a cross-site page can make the
browser send cookies, never this header. Without one, the session cookie decides and a POST
needs the CSRF token like every other session POST. Each route names its least roles; an
agency principal sees only what was dispatched to its agency. Every request made with a
token is audited (actor `token:<name>`, action `api.get`/`api.post`, the path and query). Errors are
`{"error": id, "reason": text}` with a 4xx (the Problem schema).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.api import params, screens
from ntpd_ivr.api.openapi import CALL_FIELDS, DISPATCH_FIELDS, INCIDENT_FIELDS, document
from ntpd_ivr.api.params import BadParam, Param
from ntpd_ivr.api.tokens import Principal, TokenStore
from ntpd_ivr.audit.trail import Entry, record
from ntpd_ivr.calls.repository import CallsRepository
from ntpd_ivr.clock import utcnow
from ntpd_ivr.dispatch.tables import Dispatch
from ntpd_ivr.errors import Refusal
from ntpd_ivr.feed.model import PushResult
from ntpd_ivr.incidents.tables import Incident
from ntpd_ivr.reports.model import parse_query, to_json
from ntpd_ivr.reports.repository import ReportSource
from ntpd_ivr.texts import repository as texts_repository
from ntpd_ivr.web.app import current_session
from ntpd_ivr.web.auth import AGENCY_ROLE, role_allows
from ntpd_ivr.web.bearer import TOKENS, bearer_of
from ntpd_ivr.web.sessions import SessionsUnavailable

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_AUDIT_QUERY = 500


class FeedControl(Protocol):
    async def push_now(self, actor: str) -> PushResult: ...


@dataclass(frozen=True)
class ApiDeps:
    engine: AsyncEngine
    tokens: TokenStore
    reports: ReportSource
    feed: FeedControl | None = None


API: web.AppKey[ApiDeps] = web.AppKey("api_v1", ApiDeps)
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("api_principal", Principal)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Refusal):
    pages = False  # other systems read the answer: always JSON

    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason, status=status, error=error)


def bad(reason: str) -> ApiError:
    return ApiError(400, "bad-request", reason)


async def authenticate(request: web.Request) -> Principal:
    secret = bearer_of(request)
    if secret is not None:
        principal = await request.app[API].tokens.authenticate(secret) if secret else None
        if principal is None:
            raise ApiError(401, "bad-token", "unknown or revoked token "
                                             "(Authorization: Bearer <token>)")
        return principal
    try:
        session = await current_session(request)
    except SessionsUnavailable:
        raise ApiError(503, "sessions-unavailable", "the session store cannot be reached; "
                       "retry shortly") from None
    if session is None:
        raise ApiError(401, "unauthenticated",
                       "send Authorization: Bearer <token> (ntpd-ivr token create) or log in")
    return Principal(session.user, session.role, session.agency, "session")


async def _audit_use(request: web.Request, principal: Principal) -> None:
    """What another system read or did with a token (caller numbers are personal data):
    one audit row per request, before it is answered."""
    async with request.app[API].engine.begin() as conn:
        await record(conn, Entry(utcnow(), f"token:{principal.name}",
                                 f"api.{request.method.lower()}", "api", request.path,
                                 {"query": request.query_string[:MAX_AUDIT_QUERY],
                                  "role": principal.role, "agency": principal.agency}))


def api_route(*roles: str) -> Callable[[Handler], Handler]:
    """Authenticates and checks the role; an ApiError is answered as every refusal is
    (web/app.py `refused`)."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            principal = await authenticate(request)
            if not any(role_allows(principal.role, role) for role in roles):
                raise ApiError(403, "forbidden", f"role {principal.role} may not use "
                                                 f"this; needs {' or '.join(roles)}")
            request[PRINCIPAL] = principal
            log.info("api %s %s by %s %s (%s)", request.method, request.path,
                     principal.kind, principal.name, principal.role)
            if principal.kind == "token":
                await _audit_use(request, principal)
            return await handler(request)
        return run
    return wrap


def _json(data: Any) -> web.Response:
    return web.json_response(data, dumps=lambda o: json.dumps(o, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _checked(values: Mapping[str, str], *known: Param) -> dict[str, Any]:
    """The parameters of a route, each parsed by its schema (400 naming the bad one)."""
    try:
        return {p.name: p.get(values) for p in known}
    except BadParam as exc:
        raise bad(str(exc)) from None


def _limit(query: Mapping[str, str]) -> int:
    limit: int = _checked(query, params.LIMIT)["limit"] or params.DEFAULT_LIMIT
    return limit


def _period(query: Mapping[str, str]) -> tuple[datetime, datetime]:
    given = {k: v for k, v in _checked(query, *params.PERIOD).items() if v is not None}
    try:
        q = parse_query(given, utcnow() + timedelta(seconds=1))
    except ValueError as exc:
        raise bad(str(exc)) from None
    return q.start, q.end


def _scope(request: web.Request) -> str | None:
    principal = request[PRINCIPAL]
    return principal.agency if principal.role == AGENCY_ROLE else None


async def _rows(request: web.Request, query: Select[Any]) -> list[dict[str, Any]]:
    async with request.app[API].engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


@api_route("calltaker")
async def list_calls(request: web.Request) -> web.StreamResponse:
    start, end = _period(request.query)
    limit = _limit(request.query)
    given = _checked(request.query, params.REGION, params.OVERFLOW_REGION)
    calls = CallsRepository(request.app[API].engine)
    return _json({"calls": await calls.listing(
        CALL_FIELDS, start=start, end=end, region=given["region"], limit=limit,
        overflow_region=given["overflow_region"])})


@api_route("calltaker")
async def get_call(request: web.Request) -> web.StreamResponse:
    uniqueid = _checked(request.match_info, params.CALL_ID)["uniqueid"]
    row = await CallsRepository(request.app[API].engine).fields_of(uniqueid, CALL_FIELDS)
    if row is None:
        raise ApiError(404, "not-found", f"no call {uniqueid}")
    return _json(row)


@api_route("calltaker")
async def list_texts(request: web.Request) -> web.StreamResponse:
    start, end = _period(request.query)
    return _json({"texts": await texts_repository.sessions_between(
        request.app[API].engine, start, end, _limit(request.query))})


@api_route("calltaker")
async def get_text(request: web.Request) -> web.StreamResponse:
    uniqueid = _checked(request.match_info, params.CALL_ID)["uniqueid"]
    found = await texts_repository.session_with_messages(request.app[API].engine, uniqueid)
    if found is None:
        raise ApiError(404, "not-found", f"no text session {uniqueid}")
    return _json(found)


def _incidents_query(request: web.Request) -> Select[Any]:
    i, d = Incident.__table__, Dispatch.__table__
    query = select(*(i.c[f] for f in INCIDENT_FIELDS))
    agency = _scope(request)
    if agency is not None:
        query = query.where(exists().where(d.c.incident_id == i.c.id, d.c.agency == agency))
    return query


def _id(request: web.Request) -> int:
    value: int = _checked(request.match_info, params.INCIDENT_ID)["id"]
    return value


@api_route("calltaker", AGENCY_ROLE)
async def list_incidents(request: web.Request) -> web.StreamResponse:
    start, end = _period(request.query)
    i = Incident.__table__
    query = (_incidents_query(request).where(i.c.created_at >= start, i.c.created_at < end)
             .order_by(i.c.created_at.desc()).limit(_limit(request.query)))
    status = _checked(request.query, params.STATUS)["status"]
    if status is not None:
        query = query.where(i.c.status == status)
    return _json({"incidents": await _rows(request, query)})


@api_route("calltaker", AGENCY_ROLE)
async def get_incident(request: web.Request) -> web.StreamResponse:
    incident_id = _id(request)
    rows = await _rows(request, _incidents_query(request).where(
        Incident.__table__.c.id == incident_id))
    if not rows:
        raise ApiError(404, "not-found", f"no incident {incident_id}")
    return _json(rows[0])


@api_route("calltaker", AGENCY_ROLE)
async def list_dispatches(request: web.Request) -> web.StreamResponse:
    start, end = _period(request.query)
    d = Dispatch.__table__
    query = (select(*(d.c[f] for f in DISPATCH_FIELDS))
             .where(d.c.created_at >= start, d.c.created_at < end)
             .order_by(d.c.created_at.desc()).limit(_limit(request.query)))
    scope, wanted = _scope(request), _checked(request.query, params.AGENCY_KEY)["agency"]
    if scope is not None and wanted not in (None, scope):
        raise ApiError(403, "forbidden", f"this token is for agency {scope} only")
    agency = scope or wanted
    if agency:
        query = query.where(d.c.agency == agency)
    return _json({"dispatches": await _rows(request, query)})


@api_route("supervisor")
async def figures(request: web.Request) -> web.StreamResponse:
    source = request.app[API].reports
    given = _checked(request.query, *params.PERIOD, params.BY, params.WITHIN, params.REGION)
    try:
        query = parse_query({k: str(v) for k, v in given.items() if v is not None},
                            source.clock())
    except ValueError as exc:
        raise bad(str(exc)) from None
    report = await source.report(query)
    return web.Response(text=to_json(report), content_type="application/json")


@api_route("supervisor")
async def feed_push(request: web.Request) -> web.StreamResponse:
    feed = request.app[API].feed
    if feed is None:
        raise ApiError(409, "feed-off", "the monitoring feed is not configured (feed.url)")
    principal = request[PRINCIPAL]
    result = await feed.push_now(f"{principal.kind}:{principal.name}")
    return _json({"queued": result.queued, "delivered": result.delivered,
                  "pending": result.pending})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())


async def screens_openapi(request: web.Request) -> web.Response:
    return web.json_response(screens.document())


def add_routes(app: web.Application, deps: ApiDeps) -> None:
    """/api/v1 in the web app (called by the composition root). The routes are left out of
    the session guard (web/app.py's REQUIRED_ROLE): api_route checks token or session."""
    app[API] = deps
    app[TOKENS] = deps.tokens  # /metrics takes the same tokens (ops/metrics.py)
    app.router.add_get(f"{PREFIX}/openapi.json", openapi, name="api-v1-openapi")
    app.router.add_get("/api/openapi.json", screens_openapi, name="api-screens-openapi")
    app.router.add_get(f"{PREFIX}/calls", list_calls, name="api-v1-calls")
    app.router.add_get(PREFIX + "/calls/{uniqueid}", get_call, name="api-v1-call")
    app.router.add_get(f"{PREFIX}/texts", list_texts, name="api-v1-texts")
    app.router.add_get(PREFIX + "/texts/{uniqueid}", get_text, name="api-v1-text")
    app.router.add_get(f"{PREFIX}/incidents", list_incidents, name="api-v1-incidents")
    app.router.add_get(PREFIX + r"/incidents/{id:\d+}", get_incident, name="api-v1-incident")
    app.router.add_get(f"{PREFIX}/dispatches", list_dispatches, name="api-v1-dispatches")
    app.router.add_get(f"{PREFIX}/figures", figures, name="api-v1-figures")
    app.router.add_post(f"{PREFIX}/feed/push", feed_push, name="api-v1-feed-push")
