"""The HTTP side: health now; the call-taker and supervisor views build on this factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

HealthProbe = Callable[[], tuple[bool, dict[str, Any]]]
HEALTH: web.AppKey[HealthProbe] = web.AppKey("health", HealthProbe)  # type: ignore[arg-type]


async def healthz(request: web.Request) -> web.Response:
    """200 while calls can be taken (FastAGI serving); 503 otherwise. Body says why."""
    healthy, detail = request.app[HEALTH]()
    return web.json_response(detail, status=200 if healthy else 503)


def init(health: HealthProbe) -> web.Application:
    app = web.Application()
    app[HEALTH] = health
    app.router.add_get("/healthz", healthz)
    return app
