"""The HTTP side: health (public), login, and role-checked pages, API and live push for
call-takers and supervisors.

Errors are JSON `{"error": id, "reason": text}` with a 4xx status, or, for a browser
(Accept: text/html), the same refusal as a page in the user's language.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ntpd_ivr.audit.trail import AuditWriter
from ntpd_ivr.db.unreachable import database_unreachable
from ntpd_ivr.errors import Refusal
from ntpd_ivr.jsontext import dumps
from ntpd_ivr.web import client, csrf
from ntpd_ivr.web.auth import (
    AGENCY_ROLE,
    HashingBusy,
    PasswordChecker,
    SecretKeys,
    Session,
    UserStore,
    role_allows,
)
from ntpd_ivr.web.hub import LiveHub
from ntpd_ivr.web.i18n import LANG_COOKIE, LANG_COOKIE_SECONDS, LANGUAGES, translator
from ntpd_ivr.web.ratelimit import LoginLimiter
from ntpd_ivr.web.sessions import SESSION_COOKIE, Sessions, SessionsUnavailable
from ntpd_ivr.web.templates import (
    CENTER_ZONE,
    CSRF_GUARD,
    SESSION_KEY,
    TEMPLATES,
    default_zone,
    make_environment,
    render,
)

log = logging.getLogger(__name__)

HealthProbe = Callable[[], tuple[bool, dict[str, Any]]]
RecentCalls = Callable[[int], Awaitable[list[dict[str, Any]]]]
MAX_BODY_BYTES = 16 * 1024
MAX_PASSWORD_CHARS = 1024  # scrypt of a huge password would be a cheap way to burn CPU
MAX_NOTICE_CHARS = 500
MAX_ID = 2**62  # a row id in a route: past it, no such row (and no overflow in SQL)
STATIC_DIR = Path(__file__).parent / "static"
CALL_COLUMNS = ("arrived_at", "caller_number", "dialed", "category", "queue", "answered_by",
                "answered_at", "ended_at", "hangup_cause_text")
# Every asset comes from this server (centers may be offline from the internet); the
# browser enforces it, so a page that slipped in a CDN link would break in tests.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class MapTiles:
    """The maps' base layer (settings web.map_tile_url); an empty url: no tiles."""

    url: str = ""
    attribution: str = ""

    @property
    def origin(self) -> str:
        """Where the tiles come from, for the CSP's img-src ("" when from this server)."""
        parts = urlsplit(self.url.replace("{s}", "*"))
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


@dataclass(frozen=True)
class WebDeps:
    health: HealthProbe
    users: UserStore
    keys: SecretKeys
    sessions: Sessions
    recent_calls: RecentCalls
    hub: LiveHub = field(default_factory=LiveHub)
    login_limiter: LoginLimiter = field(default_factory=LoginLimiter)
    passwords: PasswordChecker = field(default_factory=PasswordChecker)
    proxies: client.ProxyTrust = field(default_factory=client.ProxyTrust)
    audit: AuditWriter | None = None  # notices are audited; without it none is sent
    zone: Callable[[], tzinfo] = default_zone  # the center's (routing config `timezone`)
    map_tiles: MapTiles = field(default_factory=MapTiles)


DEPS: web.AppKey[WebDeps] = web.AppKey("deps", WebDeps)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Route name -> least role allowed. Routes not listed are public.
REQUIRED_ROLE = {"home": "calltaker", "me": "calltaker", "calls": "calltaker",
                 "live": "calltaker", "notices": "supervisor"}
PAGES = frozenset({"home"})  # without a session these send the browser to the login page
# Where a login lands, by role (default "/"): an agency user has no call-taker screen.
LANDING = {"agency": "/agency"}


@dataclass
class RouteGuard:
    """The app's route name -> roles allowed (any one, each with what it includes), and
    its pages; the domains' add_routes() add theirs with `protect`."""
    roles: dict[str, tuple[str, ...]]
    pages: set[str]


GUARD: web.AppKey[RouteGuard] = web.AppKey("route_guard", RouteGuard)


def protect(app: web.Application, name: str, *roles: str, page: bool = False) -> None:
    app[GUARD].roles[name] = roles
    if page:
        app[GUARD].pages.add(name)


def problem(status: int, error: str, reason: str,
            headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": error, "reason": reason}, status=status,
                             headers=headers)


API_PREFIX = "/api/"
# Text PostgreSQL cannot store (NUL) or UTF-8 cannot encode (lone surrogates), and the other
# control characters, which no path or query parameter of ours carries.
UNSTORABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
UNSTORABLE_TEXT = re.compile(r"[\x00\ud800-\udfff]")  # in a body: newlines and tabs are text
HTTP_ERROR_IDS = {400: "bad-request", 401: "unauthenticated", 403: "forbidden",
                  404: "not-found", 405: "method-not-allowed", 413: "too-large",
                  415: "unsupported-media-type"}


def unstorable(request: web.Request) -> str | None:
    """The first path or query part carrying a character no parameter may carry."""
    parts = [("path", request.path), *((f"query {k!r}", k + v) for k, v in request.query.items())]
    return next((where for where, text in parts if UNSTORABLE.search(text)), None)


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Everything under /api/ answers in the Problem shape, aiohttp's own 404/405/413 and
    any crash included (HTML is for the pages), and a path or query with a control
    character is refused here, before a handler or the database sees it."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    where = unstorable(request)
    if where is not None:
        log.info("refused %s %s from %s: control character in the %s", request.method,
                 request.path.encode("unicode_escape").decode()[:200], request.remote, where)
        return problem(400, "bad-request", f"{where}: control characters (such as NUL) are "
                                           "not allowed")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return problem(exc.status, HTTP_ERROR_IDS.get(exc.status, "http-error"),
                       exc.reason, headers)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if database_unreachable(exc):  # down, or failing over to the other node
            log.warning("%s %s from %s: database unreachable (503): %s", request.method,
                        request.path, client.client_of(request).address, exc)
            return problem(503, "database-unavailable",
                           "the database cannot be reached now (down, or failing over to "
                           "the other node: about 10 s); retry", {"Retry-After": "2"})
        log.exception("%s %s from %s failed", request.method, request.path,
                      client.client_of(request).address)
        return problem(500, "internal", "internal error (logged)")


def wants_html(request: web.Request) -> bool:
    """A browser that will show the answer: under /api/ only a page's form post."""
    if request.path.startswith(API_PREFIX) and request.content_type not in csrf.FORM_TYPES:
        return False
    return (request.content_type != "application/json"
            and "text/html" in request.headers.get("Accept", ""))


def refuse(request: web.Request, status: int, error: str, reason: str) -> web.Response:
    """A 4xx: JSON with the English reason, or a page with the reason in the user's
    language (the catalogue's `error.<id>`)."""
    log.info("refused %s %s from %s: %d %s (%s)", request.method, request.path,
             client.client_of(request).address, status, error, reason)
    if not wants_html(request):
        return problem(status, error, reason)
    return render(request, "error.html", status=status, error=error,
                  reason=translator(request)(f"error.{error}"))


def json_reply(data: Any, status: int = 200) -> web.Response:
    """A domain endpoint's JSON: times and other values that JSON lacks as text."""
    return web.json_response(data, status=status, dumps=dumps)


def refused(request: web.Request, exc: Refusal) -> web.Response:
    """The one error -> response mapping: a domain's refusal becomes its status and
    `{"error": id, "reason": text}`, or the same refusal as a page for a browser (unless
    the refusal is for machines only: `pages` False)."""
    if exc.pages:
        return refuse(request, exc.status, exc.error, exc.reason)
    log.info("refused %s %s from %s: %d %s (%s)", request.method, request.path,
             client.client_of(request).address, exc.status, exc.error, exc.reason)
    return problem(exc.status, exc.error, exc.reason)


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every domain's handlers raise their Refusal; it is answered here, the same way."""
    try:
        return await handler(request)
    except Refusal as exc:
        return refused(request, exc)


def refuse_csrf(request: web.Request, exc: csrf.CsrfRefused) -> web.Response:
    return refuse(request, 403, "csrf", str(exc))


def session_id(request: web.Request) -> str:
    """The session cookie's value ("" for none): `__Host-ntpd_session` over HTTPS."""
    return request.cookies.get(client.cookie_name(request, SESSION_COOKIE), "")


async def current_session(request: web.Request) -> Session | None:
    """The request's session, as the session store and the users file say now. Raises
    SessionsUnavailable when the store cannot be asked."""
    token = session_id(request)
    return await request.app[DEPS].sessions.resolve(token) if token else None


def sessions_unavailable(exc: SessionsUnavailable) -> web.Response:
    log.error("web sessions unavailable: %s", exc)
    return problem(503, "sessions-unavailable",
                   "the session store (database) cannot be reached; calls are not "
                   "affected; retry shortly", {"Retry-After": "2"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    guard = request.app[GUARD]
    required = guard.roles.get(route.name or "")
    if required is None:
        return await handler(request)
    try:
        session = await current_session(request)
    except SessionsUnavailable as exc:
        return sessions_unavailable(exc)
    if session is None:
        if route.name in guard.pages:
            raise web.HTTPSeeOther("/login")
        return problem(401, "unauthenticated", "log in first: POST /login")
    if not any(role_allows(session.role, role) for role in required):
        return refuse(request, 403, "forbidden",
                      f"role {session.role} may not use this; needs "
                      f"{' or '.join(required)} or above")
    request[SESSION_KEY] = session
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    deps = request.app.get(DEPS)
    tiles = deps.map_tiles.origin if deps else ""
    for name, value in SECURITY_HEADERS.items():
        if tiles and name == "Content-Security-Policy":  # the maps' tile server, images only
            value = f"{value}; img-src 'self' {tiles}"
        response.headers.setdefault(name, value)


async def healthz(request: web.Request) -> web.Response:
    """200 while calls can be taken (FastAGI serving); 503 otherwise. Body says why."""
    healthy, detail = request.app[DEPS].health()
    return web.json_response(detail, status=200 if healthy else 503)


async def login_form(request: web.Request) -> web.Response:
    return render(request, "login.html", message="", user="")


async def csrf_token(request: web.Request) -> web.Response:
    """For scripts and JSON clients: the token to send as X-CSRF-Token with this cookie."""
    return web.json_response({"csrf_token": csrf.token(request, request.app[CSRF_GUARD])})


def _storable(body: dict[str, Any]) -> None:
    """ValueError if some string in a body holds what PostgreSQL text cannot (NUL, a lone
    surrogate): refused here rather than as a database error. A loop, not recursion: the
    JSON parser's depth would otherwise be ours too."""
    pending: list[tuple[str, Any]] = [("body", body)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            if UNSTORABLE_TEXT.search(value):
                raise ValueError(f"{where}: NUL and unpaired surrogates are not allowed")
        elif isinstance(value, dict):
            pending.extend((where, key) for key in value)
            pending.extend((f"{where}.{key}"[:80], item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((where, item) for item in value)


def path_id(request: web.Request, refusal: Callable[[int], Exception] | None = None,
            name: str = "id") -> int:
    """A row id in the route (which allows digits only); out of range (1..MAX_ID), the
    domain's `refusal` of it is raised (by default: 404, no such `name`)."""
    value = int(request.match_info[name])
    if not 1 <= value <= MAX_ID:
        raise (refusal(value) if refusal is not None
               else Refusal(f"no {name} {value}", status=404, error="not-found"))
    return value


async def checked_fields(request: web.Request) -> dict[str, Any]:
    """request_fields, its ValueError refused (400 bad-request)."""
    try:
        return await request_fields(request)
    except ValueError as exc:
        raise Refusal(str(exc)) from None


async def request_fields(request: web.Request) -> dict[str, Any]:
    """A JSON object or a form's fields; ValueError with the reason for anything else."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError, LookupError, RecursionError):
            # LookupError: an unknown charset; RecursionError: absurdly deep nesting
            raise ValueError("body is not valid JSON (UTF-8)") from None
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
    elif request.content_type in csrf.FORM_TYPES:
        try:
            body = dict(await request.post())
        except (ValueError, UnicodeDecodeError, LookupError, AssertionError):
            raise ValueError("body is not a valid form") from None
    else:
        raise ValueError("send JSON or a form")
    _storable(body)
    return body


async def _credentials(request: web.Request) -> tuple[str, str]:
    body = await request_fields(request)
    user, password = body.get("user"), body.get("password")
    if not isinstance(user, str) or not isinstance(password, str) or not user or not password:
        raise ValueError("user and password are required strings")
    if len(user) > 64 or len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"user is at most 64 characters, password at most "
                         f"{MAX_PASSWORD_CHARS}")
    return user, password


async def login(request: web.Request) -> web.StreamResponse:
    html_reply = wants_html(request) or request.content_type in csrf.FORM_TYPES
    t = translator(request)
    try:
        name, password = await _credentials(request)
    except ValueError as exc:
        if html_reply:
            return render(request, "login.html", status=400, message=t("login.bad_input"),
                          user="")
        return problem(400, "bad-request", str(exc))
    deps = request.app[DEPS]
    address = client.client_of(request).address
    wait = deps.login_limiter.retry_after(name, address)
    if wait is not None:
        log.warning("web login for %r from %s refused: too many failures, retry in %d s",
                    name, address, wait)
        await deps.login_limiter.slow_down()
        headers = {"Retry-After": str(wait)}
        if html_reply:
            minutes = -(-wait // 60)
            return render(request, "login.html", status=429, headers=headers, user=name,
                          message=t.plural("login.limited", minutes, minutes=minutes))
        return problem(429, "rate-limited",
                       f"too many failed logins; retry in {wait} s", headers)
    deps.users.refresh()  # a user added, removed or given a new password since
    user = deps.users.users.get(name)
    try:
        # In a thread: a login flood must not stall the loop that serves FastAGI.
        valid = await deps.passwords.verify(password, user.password_hash if user else None)
    except HashingBusy as exc:
        log.warning("web login for %r from %s refused: %s", name, address, exc)
        await deps.login_limiter.slow_down()
        return problem(503, "busy", "too many logins at once; retry in a second",
                       {"Retry-After": "1"})
    if not valid or user is None:
        deps.login_limiter.failed(name, address)
        log.warning("failed web login for %r from %s", name, address)
        await deps.sessions.login_failed(name, address, "bad-credentials")
        await deps.login_limiter.slow_down()
        if html_reply:
            return render(request, "login.html", status=401, message=t("login.failed"),
                          user=name)
        return problem(401, "bad-credentials", "unknown user or wrong password")
    deps.login_limiter.succeeded(name, address)
    try:
        token = await deps.sessions.open(user, address)
        if previous := session_id(request):  # a login over another one ends it
            await deps.sessions.close(previous, address)
    except SessionsUnavailable as exc:
        return sessions_unavailable(exc)
    log.info("web login: %s (%s) from %s", user.name, user.role, address)
    # Tokens from now on are bound to this session; a CSRF cookie planted before login
    # is worthless after it.
    seed = csrf.renew(request, token)
    response: web.Response = (
        web.HTTPSeeOther(LANDING.get(user.role, "/")) if html_reply
        else web.json_response({"user": user.name, "role": user.role,
                                "csrf_token": request.app[CSRF_GUARD].token_for(seed)}))
    client.set_cookie(response, request, SESSION_COOKIE, token,
                      max_age=deps.sessions.max_age)
    if isinstance(response, web.HTTPException):
        raise response
    return response


async def logout(request: web.Request) -> web.Response:
    """Ends the session on the server: the cookie, copied or not, is worthless after it."""
    token = session_id(request)
    if token:
        try:
            user = await request.app[DEPS].sessions.close(
                token, client.client_of(request).address)
        except SessionsUnavailable as exc:
            return sessions_unavailable(exc)
        log.info("web logout: %s", user or "(no such session)")
    response: web.Response = (web.HTTPSeeOther("/login")
                              if request.content_type in csrf.FORM_TYPES
                              else web.json_response({"logged_out": True}))
    client.del_cookie(response, request, SESSION_COOKIE)
    csrf.renew(request)
    if isinstance(response, web.HTTPException):
        raise response
    return response


def _same_site_path(target: str) -> str:
    """Only a path on this site (no scheme, no host, no `//`), else the home page."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


async def choose_language(request: web.Request) -> web.StreamResponse:
    try:
        body = await request_fields(request)
    except ValueError as exc:
        return refuse(request, 400, "bad-request", str(exc))
    lang, back = body.get("lang"), body.get("next", "/")
    if lang not in LANGUAGES:
        return refuse(request, 400, "bad-request", f"lang must be one of {', '.join(LANGUAGES)}")
    response = web.HTTPSeeOther(_same_site_path(back if isinstance(back, str) else "/"))
    response.set_cookie(LANG_COOKIE, str(lang), max_age=LANG_COOKIE_SECONDS, httponly=True,
                        samesite="Strict", path="/")
    raise response


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
    return json_reply({"calls": rows})


async def home(request: web.Request) -> web.Response:
    rows = await request.app[DEPS].recent_calls(50)
    return render(request, "home.html", rows=rows, columns=CALL_COLUMNS)


async def live(request: web.Request) -> web.StreamResponse:
    """The WebSocket of the live-push hub. The session cookie was checked by the auth
    middleware; the Origin check stops another site's page from opening it (browsers do
    not apply the same-origin policy to WebSockets)."""
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        return problem(403, "bad-origin", f"WebSocket from origin {origin} refused")
    return await request.app[DEPS].hub.serve(request, request[SESSION_KEY],
                                             recheck=lambda: current_session(request),
                                             token=session_id(request))


async def notices(request: web.Request) -> web.Response:
    """A supervisor's message to every call-taker screen, e.g. "banjir di Kec. X"."""
    session: Session = request[SESSION_KEY]
    try:
        body = await request_fields(request)
    except ValueError as exc:
        return problem(400, "bad-request", str(exc))
    text = body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_NOTICE_CHARS:
        return problem(400, "bad-request", f"text must be 1-{MAX_NOTICE_CHARS} characters")
    audit = request.app[DEPS].audit
    try:
        if audit is None:
            raise RuntimeError("no audit trail")
        await audit.write(session.user, "notice.sent", "notice", "all", {"text": text.strip()})
    except Exception as exc:
        log.error("notice by %s not sent: the audit could not be written: %s", session.user,
                  exc)
        return problem(503, "audit-unavailable",
                       "notices are audited, and the audit trail cannot be written now")
    delivered = request.app[DEPS].hub.publish("notices", "notice",
                                              {"text": text.strip(), "by": session.user})
    log.info("notice by %s to %d screens: %r", session.user, delivered, text)
    return web.json_response({"delivered": delivered})


async def _close_live_sockets(app: web.Application) -> None:
    await app[DEPS].hub.close_all()


async def _stop_password_checks(app: web.Application) -> None:
    app[DEPS].passwords.close()


def init(deps: WebDeps,
         domains: tuple[Callable[[web.Application], None], ...] = ()) -> web.Application:
    """`domains`: each domain's add_routes(app) (its routes, roles and state)."""
    guard = csrf.CsrfGuard(deps.keys.derive("csrf"))
    app = web.Application(
        middlewares=[api_errors, client.middleware(deps.proxies),
                     csrf.middleware(guard, refuse_csrf, session_id), auth_middleware,
                     refusals],
        client_max_size=MAX_BODY_BYTES)
    app[DEPS] = deps
    app[CSRF_GUARD] = guard
    app[GUARD] = RouteGuard({name: (role,) for name, role in REQUIRED_ROLE.items()},
                            set(PAGES))
    # Agency screens are pushed too; each topic of the hub has its own least role.
    app[GUARD].roles["live"] = ("calltaker", AGENCY_ROLE)
    app[TEMPLATES] = make_environment()
    app[CENTER_ZONE] = deps.zone
    app.on_response_prepare.append(security_headers)
    app.on_shutdown.append(_close_live_sockets)
    app.on_cleanup.append(_stop_password_checks)
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_static("/static", STATIC_DIR, name="static")
    app.router.add_get("/login", login_form, name="login-form")
    app.router.add_post("/login", login, name="login")
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_post("/lang", choose_language, name="lang")
    app.router.add_get("/api/csrf", csrf_token, name="csrf")
    app.router.add_get("/", home, name="home")
    app.router.add_get("/api/me", me, name="me")
    app.router.add_get("/api/calls", calls, name="calls")
    app.router.add_post("/api/notices", notices, name="notices")
    app.router.add_get("/ws", live, name="live")
    for add_routes in domains:
        add_routes(app)
    return app
