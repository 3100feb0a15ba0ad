"""Strikes over HTTP, for supervisors (docs/prank.md):

    GET  /strikes                         the page: numbers with strikes, each with an
                                          unblock form (posts to the route below)
    GET  /api/strikes                     {"numbers": [{number, region, strikes, level,
                                           blocked_until, last_strike, reasons}]}
    GET  /api/strikes?number=0812...      the same for one number
    POST /api/strikes/unblock             {"number": "0812..."} (CSRF): clears the
                                          number's strikes; the next call is strike-free.
                                          A form post gets 303 back to /strikes.

Refusals: 400 bad-request (not a caller number), 503 database (not stored: try again).
Every unblock is in the audit trail (prank.unblocked), in its own transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from ntpd_ivr.numbers import parse_caller
from ntpd_ivr.prank.service import PrankService
from ntpd_ivr.web import csrf
from ntpd_ivr.web.app import problem, protect, refuse, request_fields
from ntpd_ivr.web.auth import Session
from ntpd_ivr.web.templates import SESSION_KEY, add_template_package, render

log = logging.getLogger(__name__)

PRANK: web.AppKey[PrankService] = web.AppKey("prank", PrankService)
ROLE = "supervisor"
PAGE = "/strikes"


def caller_number(raw: object) -> str:
    """A number as a caller dials it, in canonical form; ValueError if it is none."""
    caller = parse_caller(raw if isinstance(raw, str) else None)
    if not caller.is_number:
        raise ValueError(f"not a caller number: {raw!r}")
    return caller.value


async def list_strikes(request: web.Request) -> web.Response:
    number = None
    if "number" in request.query:
        try:
            number = caller_number(request.query["number"])
        except ValueError as exc:
            return refuse(request, 400, "bad-request", str(exc))
    try:
        numbers = await request.app[PRANK].listing(number)
    except Exception as exc:
        log.warning("strikes not listed: %s: %s", type(exc).__name__, exc)
        return problem(503, "database", "strikes cannot be read now")
    return web.json_response({"numbers": numbers})


async def unblock(request: web.Request) -> web.Response:
    session: Session = request[SESSION_KEY]
    try:
        number = caller_number((await request_fields(request)).get("number"))
    except ValueError as exc:
        return refuse(request, 400, "bad-request", str(exc))
    try:
        cleared = await request.app[PRANK].unblock(number, session.user)
    except Exception as exc:
        log.warning("unblock of %s by %s not stored: %s: %s", number, session.user,
                    type(exc).__name__, exc)
        return problem(503, "database", "not stored: the database is unreachable")
    if request.content_type in csrf.FORM_TYPES:
        raise web.HTTPSeeOther(PAGE)  # the page's form: back to the list, without the number
    return web.json_response({"number": number, "cleared": cleared, "by": session.user})


async def strikes_page(request: web.Request) -> web.Response:
    """The numbers that have strikes now (the same listing as GET /api/strikes)."""
    service = request.app[PRANK]
    try:
        numbers = await service.listing()
    except Exception as exc:
        log.warning("strikes page not listed: %s: %s", type(exc).__name__, exc)
        return render(request, "strikes.html", status=503, unavailable=True, numbers=[])
    return render(request, "strikes.html", unavailable=False,
                  numbers=[n for n in numbers if n["strikes"] > 0])


def routes(service: PrankService) -> Callable[[web.Application], None]:
    """The prank domain's add_routes for ntpd_ivr.web.app.init(domains=...)."""

    def add_routes(app: web.Application) -> None:
        app[PRANK] = service
        add_template_package(app, "ntpd_ivr.prank")
        for name in ("strikes", "strikes-unblock"):
            protect(app, name, ROLE)
        protect(app, "strikes-page", ROLE, page=True)
        app.router.add_get(PAGE, strikes_page, name="strikes-page")
        app.router.add_get("/api/strikes", list_strikes, name="strikes")
        app.router.add_post("/api/strikes/unblock", unblock, name="strikes-unblock")

    return add_routes
