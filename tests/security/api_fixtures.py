"""The web app as the composition root builds it for the API tests: /api/v1, the reports,
the incidents and the strikes domains, on a free loopback port, over a real PostgreSQL
seeded with the report's rows (tests/integration/reporting.py), with tokens for each
role."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.api import http as api_http
from ntpd_ivr.api.tokens import TokenStore
from ntpd_ivr.incidents.http import add_routes as add_incident_routes
from ntpd_ivr.incidents.service import IncidentService
from ntpd_ivr.prank.http import routes as prank_routes
from ntpd_ivr.prank.service import PrankService
from ntpd_ivr.reports import http as reports_http
from tests.integration.reporting import CONFIG, TAKERS, seed
from tests.protocol.webtools import Client, serving_web

CRASH_PATH = "/api/test-crash"  # a handler that fails as a bug would: the 500's shape


@dataclass(frozen=True)
class ApiCenter:
    client: Client
    tokens: dict[str, str]  # name -> secret

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


async def crash(request: web.Request) -> web.Response:
    raise RuntimeError("a bug in a handler")


@contextlib.asynccontextmanager
async def serving_api(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[ApiCenter]:
    await seed(engine)
    store = TokenStore(engine)
    tokens = {name: (await store.create(name, role, agency, "cli:test"))[1]
              for name, role, agency in (("monitor", "supervisor", ""),
                                         ("desk", "calltaker", ""),
                                         ("damkar-sys", "agency", "palembang-damkar"))}
    source = reports_http.ReportSource(engine, lambda: CONFIG, lambda: TAKERS)

    def extend(app: web.Application) -> None:
        reports_http.add_routes(app, source)
        api_http.add_routes(app, api_http.ApiDeps(engine, store, source))
        add_incident_routes(app, IncidentService(engine, lambda: CONFIG))
        prank_routes(PrankService(engine, lambda: CONFIG))(app)
        app.router.add_get(CRASH_PATH, crash)

    async with serving_web(tmp_path, extend=extend) as client:
        yield ApiCenter(client, tokens)
