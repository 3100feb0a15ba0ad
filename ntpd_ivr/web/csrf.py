"""CSRF protection for every state-changing request, the login form included.

HMAC-based tokens (OWASP's "synchronizer token" bound to the session): once logged in,
each form or script sends back HMAC(key, session id) as the `csrf_token` field or the
`X-CSRF-Token` header, so a token is good for one session only, and a token (or a CSRF
cookie) planted from another session, a sibling host for example, is refused. Before login
(the login form itself) the token is bound to a random HttpOnly, SameSite=Strict cookie
instead (signed double-submit); that cookie is replaced at login and logout. A cross-site
page can neither read these cookies nor compute the HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from ntpd_ivr.web import client

CSRF_COOKIE = "ntpd_csrf"  # "__Host-ntpd_csrf" over HTTPS
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

# What this request's token is bound to: the session id, or without a session the CSRF
# cookie's value.
CSRF_SEED: web.RequestKey[str] = web.RequestKey("csrf_seed", str)
# The CSRF cookie this request uses: the browser's, or a fresh one set on the response.
CSRF_COOKIE_SEED: web.RequestKey[str] = web.RequestKey("csrf_cookie_seed", str)


class CsrfRefused(Exception):
    """The reason (English, for logs and JSON clients) a request was refused."""


class CsrfGuard:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def token_for(self, seed: str) -> str:
        return hmac.new(self._key, f"csrf|{seed}".encode(), hashlib.sha256).hexdigest()

    def check(self, seed: str | None, token: str | None) -> None:
        if not seed:
            raise CsrfRefused("no CSRF cookie: load a page of this site first "
                              f"(GET /login or GET /api/csrf), then send {CSRF_HEADER}")
        if not token:
            raise CsrfRefused(f"no CSRF token: send the {CSRF_FIELD} form field "
                              f"or the {CSRF_HEADER} header")
        if not hmac.compare_digest(token, self.token_for(seed)):
            raise CsrfRefused("CSRF token does not match this session: reload the page")


def token(request: web.Request, guard: CsrfGuard) -> str:
    """The token a page rendered for this request must carry."""
    return guard.token_for(request[CSRF_SEED])


def renew(request: web.Request, session: str | None = None) -> str:
    """At login (`session`: the new session's id) and logout (None): a new CSRF cookie,
    and the tokens from now on bound to the new session, or to the new cookie. Returns
    what the tokens are bound to."""
    request[CSRF_COOKIE_SEED] = secrets.token_urlsafe(32)
    request[CSRF_SEED] = session or request[CSRF_COOKIE_SEED]
    return request[CSRF_SEED]


async def sent_token(request: web.Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in FORM_TYPES:
        value = (await request.post()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def carries_api_token(request: web.Request) -> bool:
    """A machine client's request to /api/v1 with `Authorization: Bearer`: the token, not a
    cookie, authenticates it (ntpd_ivr/api/http.py ignores the session then), and a
    cross-site page cannot make a browser send that header, so no CSRF token is needed."""
    return (request.path.startswith("/api/v1/")
            and request.headers.get("Authorization", "").lower().startswith("bearer "))


def _give_cookie(response: web.StreamResponse, request: web.Request, sent: str) -> None:
    """Set the cookie when this browser had none, or when the handler renewed it."""
    if request[CSRF_COOKIE_SEED] != sent and not response.prepared:
        client.set_cookie(response, request, CSRF_COOKIE, request[CSRF_COOKIE_SEED])


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Refuse = Callable[[web.Request, CsrfRefused], web.StreamResponse]
SessionId = Callable[[web.Request], str]


def middleware(guard: CsrfGuard, refuse: Refuse,
               session_id: SessionId) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Checks unsafe methods before the handler runs; gives every browser a cookie.
    `session_id`: the session cookie's value this request carries ("" for none)."""

    @web.middleware
    async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        seed = request.cookies.get(client.cookie_name(request, CSRF_COOKIE), "")
        request[CSRF_COOKIE_SEED] = seed or secrets.token_urlsafe(32)
        session = session_id(request)
        request[CSRF_SEED] = session or request[CSRF_COOKIE_SEED]
        try:
            if request.method not in SAFE_METHODS and not carries_api_token(request):
                guard.check(session or seed, await sent_token(request))
            response = await handler(request)
        except CsrfRefused as exc:
            response = refuse(request, exc)
        except web.HTTPException as exc:
            _give_cookie(exc, request, seed)
            raise
        _give_cookie(response, request, seed)
        return response

    return csrf_middleware
