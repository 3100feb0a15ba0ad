"""/api/v1 as a plugin: read access for other systems, with tokens (docs/api.md)."""

from __future__ import annotations

from aiohttp import web

from ntpd_ivr.api import http
from ntpd_ivr.api.tokens import TokenStore
from ntpd_ivr.core import Core, Plugin
from ntpd_ivr.feed.plugin import FEED
from ntpd_ivr.reports.plugin import REPORTS


def load(core: Core) -> Plugin:
    deps = http.ApiDeps(core.engine, TokenStore(core.engine), core.services[REPORTS],
                        core.services.get(FEED))

    def add_routes(app: web.Application) -> None:
        http.add_routes(app, deps)

    return Plugin("api", routes=add_routes)
