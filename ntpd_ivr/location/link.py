"""The location link by SMS (issue 21 item 3): the service and its public page.

`Links.send()` (a call-taker's button): a random token (secrets.token_urlsafe, 192 bits),
of which only its SHA-256 is stored (location_links), valid `minutes` and used once; the
SMS (Bahasa Indonesia, the catalogue's `link.sms`) goes through the SMS outbox.
`Links.use()`: the page's POST; the token is spent in the same UPDATE that checks it
(unused, unexpired), so two posts of one token give one fix. The fix is kept and matched
to the link's call (ntpd_ivr/location/fixes.py) and reaches that call's desk live.

The public page (`link_app`) is its own aiohttp app on its own listener: GET /l/{token}
(the page), GET /l.js (its script), POST /l/{token} (the position). Nothing else: every
other path is 404 and says nothing. No login, no cookie; a strict CSP (only this origin's
own script, no inline code, no frames), no third-party asset, no referrer (the token is in
the URL), no caching. The page is plain HTML and 40 lines of JS: any Android browser.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import insert, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.clock import utcnow
from ntpd_ivr.errors import Refusal
from ntpd_ivr.i18n import translator
from ntpd_ivr.location.aml import LocationFix
from ntpd_ivr.location.events import FixArrived
from ntpd_ivr.location.tables import LocationLink
from ntpd_ivr.numbers import CallerKind, parse_caller
from ntpd_ivr.web.ratelimit import RateLimit

log = logging.getLogger(__name__)

Enqueue = Callable[[str, str, str], Awaitable[int]]  # Outbox.enqueue(to, body, purpose)
Keep = Callable[..., Awaitable[FixArrived | None]]   # Fixes.receive(fix, call=...)
CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'none'; "
       "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
LANG = "id"  # the caller's page and SMS: Bahasa Indonesia
MAX_POST_BYTES = 1024


class LinkRefused(Refusal):
    """No link for this call: no number an SMS can reach."""

    status = 409
    error = "no-number"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class SentLink:
    outbox_id: int
    expires_at: datetime


class Links:
    def __init__(self, engine: AsyncEngine, enqueue: Enqueue, keep: Keep, *, base_url: str,
                 minutes: float, now: Callable[[], datetime] = utcnow
                 ) -> None:
        self.engine, self.enqueue, self.keep = engine, enqueue, keep
        self.base_url = base_url.rstrip("/")
        self.minutes = minutes
        self.now = now

    async def send(self, call: str, caller_number: str | None, actor: str) -> SentLink:
        caller = parse_caller(caller_number)
        if caller.kind is not CallerKind.NUMBER:
            raise LinkRefused(f"the caller's number ({caller_number or 'none'}) takes no SMS")
        token = secrets.token_urlsafe(24)
        expires = self.now() + timedelta(minutes=self.minutes)
        async with self.engine.begin() as conn:
            await conn.execute(insert(LocationLink).values(
                token_hash=token_hash(token), call_uniqueid=call, caller_number=caller.value,
                created_by=actor, expires_at=expires))
        t = translator(LANG)
        url, minutes = f"{self.base_url}/l/{token}", f"{self.minutes:g}"
        outbox_id = await self.enqueue(caller.value, t("link.sms", url=url, minutes=minutes),
                                       "location-link")
        log.info("location link sent to %s by %s (SMS %s)", caller.value, actor, outbox_id,
                 extra={"call_id": call})
        return SentLink(outbox_id, expires)

    async def valid(self, token: str) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.execute(
                LocationLink.__table__.select().where(
                    LocationLink.token_hash == token_hash(token),
                    LocationLink.used_at.is_(None), LocationLink.expires_at > self.now()))
            return found.first() is not None

    async def use(self, token: str, lat: float, lon: float,
                  accuracy_m: float | None) -> FixArrived | bool | None:
        """Spend the token and keep its fix; False when the token is unknown, used or
        expired (one answer for all three: it tells a guesser nothing)."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                update(LocationLink).where(
                    LocationLink.token_hash == token_hash(token),
                    LocationLink.used_at.is_(None), LocationLink.expires_at > self.now())
                .values(used_at=self.now())
                .returning(LocationLink.call_uniqueid, LocationLink.caller_number))).first()
        if row is None:
            return False
        fix = LocationFix("link", lat, lon, accuracy_m, self.now(), "browser", None,  # type: ignore[arg-type]
                          row.caller_number, None, None, None, None)
        return await self.keep(fix, call=row.call_uniqueid)


# --- the public page -------------------------------------------------------------------

LINKS = web.AppKey("links", Links)
LIMIT = web.AppKey("limit", RateLimit)

PAGE = """<!doctype html>
<html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title></head>
<body><h1>{title}</h1>
<p id="ask">{ask}</p>
<p><button id="send" type="button">{button}</button></p>
<p id="status" role="status" data-sent="{sent}" data-denied="{denied}"
   data-failed="{failed}" data-waiting="{waiting}"></p>
<script src="/l.js"></script>
</body></html>
"""
GONE = """<!doctype html>
<html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head><body><h1>{title}</h1><p>{gone}</p></body></html>
"""
# Plain ES5-level JS (old Android browsers): ask for the position, post it, say so.
SCRIPT = """(function () {
  var status = document.getElementById("status");
  var button = document.getElementById("send");
  function say(key) { status.textContent = status.getAttribute("data-" + key); }
  function post(position) {
    var request = new XMLHttpRequest();
    request.open("POST", window.location.pathname);
    request.setRequestHeader("Content-Type", "application/json");
    request.onload = function () {
      if (request.status === 200) { say("sent"); button.disabled = true; }
      else { say("failed"); }
    };
    request.onerror = function () { say("failed"); };
    request.send(JSON.stringify({lat: position.coords.latitude,
      lon: position.coords.longitude, accuracy: position.coords.accuracy}));
  }
  function ask() {
    if (!navigator.geolocation) { say("denied"); return; }
    say("waiting");
    navigator.geolocation.getCurrentPosition(post, function () { say("denied"); },
      {enableHighAccuracy: true, timeout: 30000, maximumAge: 0});
  }
  button.onclick = ask;
  ask();
})();
"""


def _page(template: str) -> str:
    t = translator(LANG)
    return template.format(
        title=t("link.page.title"), ask=t("link.page.ask"), button=t("link.page.button"),
        sent=t("link.page.sent"), denied=t("link.page.denied"), failed=t("link.page.failed"),
        waiting=t("link.page.waiting"), gone=t("link.page.gone"))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.app[LIMIT].allow(request.remote or "?"):
        response: web.StreamResponse = web.Response(status=429, text="429\n")
    else:
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # 404, 405: the same bare answer for all
            response = web.Response(status=exc.status, text=f"{exc.status}\n")
    response.headers.update({
        "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
        "X-Frame-Options": "DENY"})
    return response


async def page(request: web.Request) -> web.Response:
    valid = await request.app[LINKS].valid(request.match_info["token"])
    return web.Response(text=_page(PAGE if valid else GONE), status=200 if valid else 404,
                        content_type="text/html", charset="utf-8")


async def script(_: web.Request) -> web.Response:
    return web.Response(text=SCRIPT, content_type="application/javascript", charset="utf-8")


def _number(value: Any, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value) or not -limit <= value <= limit:
        raise ValueError
    return float(value)


async def position(request: web.Request) -> web.Response:
    if (request.content_length or 0) > MAX_POST_BYTES:
        return web.json_response({"error": "too-large"}, status=413)
    try:
        body = await request.json()
        lat, lon = _number(body["lat"], 90.0), _number(body["lon"], 180.0)
        accuracy = body.get("accuracy")
        radius = None if accuracy is None else min(_number(accuracy, 1e9), 1_000_000.0)
    except (ValueError, KeyError, TypeError, AttributeError):
        return web.json_response({"error": "bad-request"}, status=400)
    if lat == 0.0 and lon == 0.0:
        return web.json_response({"error": "bad-request"}, status=400)
    try:
        used = await request.app[LINKS].use(request.match_info["token"], lat, lon, radius)
    except SQLAlchemyError as exc:
        log.error("location link: fix not stored: %s", exc)
        return web.json_response({"error": "unavailable"}, status=503)
    if used is False:
        return web.json_response({"error": "gone"}, status=404)
    return web.json_response({"stored": True})


def link_app(links: Links, rate_per_minute: int) -> web.Application:
    app = web.Application(middlewares=[_guard], client_max_size=MAX_POST_BYTES)
    app[LINKS] = links
    app[LIMIT] = RateLimit(rate_per_minute)
    app.router.add_get("/l.js", script)
    app.router.add_get(r"/l/{token:[A-Za-z0-9_-]{16,64}}", page, allow_head=False)
    app.router.add_post(r"/l/{token:[A-Za-z0-9_-]{16,64}}", position)
    return app
