"""The HTTP side: health (public), login, and role-checked pages and API for call-takers and
supervisors. Errors are JSON `{"error": id, "reason": text}` with a 4xx status."""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ntpd_ivr.web.auth import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    Session,
    SessionSigner,
    UserStore,
    role_allows,
)

log = logging.getLogger(__name__)

HealthProbe = Callable[[], tuple[bool, dict[str, Any]]]
RecentCalls = Callable[[int], Awaitable[list[dict[str, Any]]]]
MAX_BODY_BYTES = 16 * 1024


@dataclass(frozen=True)
class WebDeps:
    health: HealthProbe
    users: UserStore
    signer: SessionSigner
    recent_calls: RecentCalls


DEPS: web.AppKey[WebDeps] = web.AppKey("deps", WebDeps)
SESSION_KEY: web.RequestKey[Session] = web.RequestKey("session", Session)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Route name -> least role allowed. Routes not listed are public.
REQUIRED_ROLE = {"home": "calltaker", "me": "calltaker", "calls": "calltaker"}


def problem(status: int, error: str, reason: str) -> web.Response:
    return web.json_response({"error": error, "reason": reason}, status=status)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    required = REQUIRED_ROLE.get(route.name or "")
    if required is None:
        return await handler(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    session = request.app[DEPS].signer.read(token) if token else None
    if session is None:
        if route.name == "home":
            raise web.HTTPSeeOther("/login")
        return problem(401, "unauthenticated", "log in first: POST /login")
    if not role_allows(session.role, required):
        return problem(403, "forbidden", f"role {session.role} may not use this; "
                                         f"needs {required} or above")
    request[SESSION_KEY] = session
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    """200 while calls can be taken (FastAGI serving); 503 otherwise. Body says why."""
    healthy, detail = request.app[DEPS].health()
    return web.json_response(detail, status=200 if healthy else 503)


LOGIN_PAGE = """<!doctype html><html lang="id"><meta charset="utf-8">
<title>NTPD 112 — masuk</title>
<body><h1>NTPD 112</h1>
<form method="post" action="/login">
<label>Pengguna / user <input name="user" autocomplete="username" required></label><br>
<label>Kata sandi / password <input name="password" type="password"
 autocomplete="current-password" required></label><br>
<button>Masuk / log in</button></form>{message}</body></html>"""


async def login_form(request: web.Request) -> web.Response:
    return web.Response(text=LOGIN_PAGE.format(message=""), content_type="text/html")


async def _credentials(request: web.Request) -> tuple[str, str]:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES,
                                            actual_size=request.content_length)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError("body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object with user and password")
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        body = dict(await request.post())
    else:
        raise ValueError("send JSON or a form with user and password")
    user, password = body.get("user"), body.get("password")
    if not isinstance(user, str) or not isinstance(password, str) or not user or not password:
        raise ValueError("user and password are required strings")
    return user, password


async def login(request: web.Request) -> web.StreamResponse:
    wants_json = request.content_type == "application/json"
    try:
        name, password = await _credentials(request)
    except ValueError as exc:
        return problem(400, "bad-request", str(exc))
    deps = request.app[DEPS]
    user = deps.users.authenticate(name, password)
    if user is None:
        log.warning("failed web login for %r from %s", name, request.remote)
        if wants_json:
            return problem(401, "bad-credentials", "unknown user or wrong password")
        page = LOGIN_PAGE.format(message="<p>Pengguna atau kata sandi salah.</p>")
        return web.Response(text=page, content_type="text/html", status=401)
    log.info("web login: %s (%s) from %s", user.name, user.role, request.remote)
    response: web.StreamResponse = (
        web.json_response({"user": user.name, "role": user.role}) if wants_json
        else web.HTTPSeeOther("/"))
    response.set_cookie(SESSION_COOKIE, deps.signer.issue(user), max_age=SESSION_SECONDS,
                        httponly=True, samesite="Strict", path="/")
    if isinstance(response, web.HTTPException):
        raise response
    return response


async def logout(request: web.Request) -> web.Response:
    response = web.json_response({"logged_out": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    session: Session = request[SESSION_KEY]
    return web.json_response({"user": session.user, "role": session.role,
                              "expires": session.expires})


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "50")
    try:
        limit = int(raw)
    except ValueError:
        raise ValueError(f"limit must be a whole number, got {raw!r}") from None
    if not 1 <= limit <= 500:
        raise ValueError(f"limit must be 1-500, got {limit}")
    return limit


async def calls(request: web.Request) -> web.Response:
    try:
        limit = _limit(request)
    except ValueError as exc:
        return problem(400, "bad-request", str(exc))
    rows = await request.app[DEPS].recent_calls(limit)
    return web.json_response({"calls": rows}, dumps=lambda o: json.dumps(o, default=str))


async def home(request: web.Request) -> web.Response:
    session: Session = request[SESSION_KEY]
    rows = await request.app[DEPS].recent_calls(50)
    columns = ("arrived_at", "caller_number", "dialed", "category", "queue", "answered_by",
               "answered_at", "ended_at", "hangup_cause_text")
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row.get(c) or ''))}</td>" for c in columns)
        + "</tr>" for row in rows)
    head = "".join(f"<th>{c}</th>" for c in columns)
    page = (f'<!doctype html><html lang="id"><meta charset="utf-8"><title>NTPD 112</title>'
            f"<body><p>{html.escape(session.user)} ({session.role})</p>"
            f"<h1>Panggilan terakhir</h1><table border=1><tr>{head}</tr>{body}</table>"
            f"</body></html>")
    return web.Response(text=page, content_type="text/html")


def init(deps: WebDeps) -> web.Application:
    app = web.Application(middlewares=[auth_middleware], client_max_size=MAX_BODY_BYTES)
    app[DEPS] = deps
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/login", login_form, name="login-form")
    app.router.add_post("/login", login, name="login")
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_get("/", home, name="home")
    app.router.add_get("/api/me", me, name="me")
    app.router.add_get("/api/calls", calls, name="calls")
    return app
