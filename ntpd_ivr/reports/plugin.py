"""Reports as a plugin: the supervisor's figures by region, category, agency, call-taker."""

from __future__ import annotations

from aiohttp import web

from ntpd_ivr.core import Core, Key, Plugin
from ntpd_ivr.reports import http
from ntpd_ivr.reports.grouped import taker_names
from ntpd_ivr.reports.repository import ReportSource

REPORTS = Key("reports", ReportSource)


def load(core: Core) -> Plugin:
    users = core.users
    reports = ReportSource(core.engine, core.routing,
                                lambda: taker_names(users.users.values()))
    core.services.provide(REPORTS, reports)

    def add_routes(app: web.Application) -> None:
        http.add_routes(app, reports)

    return Plugin("reports", routes=add_routes)
