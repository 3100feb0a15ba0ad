"""The supervisor's wall over HTTP. Routes, with their least role:

    GET /wall        the page (supervisor): everything is pushed on the hub's `wall`
                     topic afterwards, the page never polls
    GET /api/wall    the wall's state now, as pushed (supervisor)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from ntpd_ivr.jsontext import dumps
from ntpd_ivr.wall.service import WallService
from ntpd_ivr.web.app import protect
from ntpd_ivr.web.i18n import translator
from ntpd_ivr.web.templates import add_template_package, render

WALL: web.AppKey[WallService] = web.AppKey("wall", WallService)
STATIC_DIR = Path(__file__).parent / "static"
# The catalogue's messages wall.js draws with (codes included: statuses, severities,
# pause reasons).
SCRIPT_TEXT = ("wall.", "callback.", "recording.", "dispatch.status.", "severity.",
               "desk.reason.")


async def page(request: web.Request) -> web.Response:
    # The raw texts, placeholders and all: wall.js fills them in as the state changes.
    t = translator(request)
    text = {key: value for key, value in t.catalogue.messages(t.lang).items()
            if key.startswith(SCRIPT_TEXT)}
    return render(request, "wall.html", state=request.app[WALL].snapshot(), text=text)


async def state(request: web.Request) -> web.Response:
    return web.json_response(request.app[WALL].snapshot(), dumps=dumps)


def routes(service: WallService) -> Callable[[web.Application], None]:
    """The wall's add_routes for ntpd_ivr.web.app.init(domains=...)."""

    async def stop(_: web.Application) -> None:
        await service.stop()

    def add_routes(app: web.Application) -> None:
        app[WALL] = service
        add_template_package(app, "ntpd_ivr.wall")
        protect(app, "wall", "supervisor", page=True)
        protect(app, "wall-state", "supervisor")
        app.on_cleanup.append(stop)
        app.router.add_get("/wall", page, name="wall")
        app.router.add_get("/api/wall", state, name="wall-state")
        app.router.add_static("/wall-static", STATIC_DIR, name="wall-static")

    return add_routes
