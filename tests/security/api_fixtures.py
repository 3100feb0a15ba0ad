"""The web app as the composition root builds it for the API tests: /api/v1, the reports,
the incidents and the strikes domains, on a free loopback port, over a real PostgreSQL
seeded with the report's rows (tests/integration/reporting.py), with tokens for each
role."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, CookieJar, web
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.api import http as api_http
from ntpd_ivr.api.tokens import TokenStore
from ntpd_ivr.app import Service
from ntpd_ivr.dispatch import http as dispatch_http
from ntpd_ivr.dispatch.plugin import ACCESS
from ntpd_ivr.dispatch.records import DispatchService
from ntpd_ivr.eido import http as eido_http
from ntpd_ivr.incidents.http import add_routes as add_incident_routes
from ntpd_ivr.incidents.service import IncidentService
from ntpd_ivr.prank.http import routes as prank_routes
from ntpd_ivr.prank.service import PrankService
from ntpd_ivr.reports import http as reports_http
from ntpd_ivr.reports.repository import ReportSource
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.ports import free_port
from ntpd_ivr.web.auth import UserStore
from ntpd_ivr.web.csrf import CSRF_COOKIE, CSRF_HEADER
from ntpd_ivr.web.sessions import SESSION_COOKIE
from tests.integration.reporting import CONFIG, EXAMPLE, TAKERS, eido_subscriptions, seed
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
    source = ReportSource(engine, lambda: CONFIG, lambda: TAKERS)

    def extend(app: web.Application) -> None:
        reports_http.add_routes(app, source)
        api_http.add_routes(app, api_http.ApiDeps(engine, store, source))
        eido_http.add_routes(app, eido_subscriptions(engine))
        add_incident_routes(app, IncidentService(engine, lambda: CONFIG))
        dispatch_http.add_routes(app, DispatchService(engine, lambda: CONFIG), ACCESS)
        prank_routes(PrankService(engine, lambda: CONFIG))(app)
        app.router.add_get(CRASH_PATH, crash)

    async with serving_web(tmp_path, extend=extend) as client:
        yield ApiCenter(client, tokens)


@dataclass(frozen=True)
class ControllerWeb:
    """The controller's own web app (`Service`, as `ntpd-ivr serve` builds it: every
    domain's routes), on a free port, over the session's PostgreSQL. Asterisk is not
    started: what needs it answers as it does when AMI is down."""
    base_url: str
    tokens: dict[str, str]
    passwords: dict[str, str]
    api_routes: frozenset[tuple[str, str]]  # (method, path) of every route under /api/

    async def session_headers(self, user: str) -> dict[str, str]:
        """Log in as `user` through POST /login: the Cookie and X-CSRF-Token headers."""
        async with ClientSession(self.base_url, cookie_jar=CookieJar(unsafe=True)) as http:
            async with http.get("/api/csrf") as reply:
                token = (await reply.json())["csrf_token"]
            async with http.post("/login", json={"user": user,
                                                 "password": self.passwords[user]},
                                 headers={CSRF_HEADER: token}) as reply:
                assert reply.status == 200, await reply.text()
                token = (await reply.json())["csrf_token"]
            cookies = {c.key: c.value for c in http.cookie_jar}
        cookie = "; ".join(f"{name}={cookies[name]}" for name in (SESSION_COOKIE, CSRF_COOKIE))
        return {"Cookie": cookie, CSRF_HEADER: token}


@contextlib.asynccontextmanager
async def serving_controller_web(engine: AsyncEngine, database_url: str, run_dir: Path,
                                 overrides: Mapping[str, Mapping[str, Any]] | None = None
                                 ) -> AsyncIterator[ControllerWeb]:
    await seed(engine)
    tokens = {"monitor": (await TokenStore(engine).create("monitor", "supervisor", "",
                                                          "cli:test"))[1]}
    port = free_port()
    settings = load_settings(None, environ={}, overrides={
        "web": {"host": "127.0.0.1", "port": port, "users_file": str(run_dir / "users.toml"),
                "session_secret": secrets.token_urlsafe(32)},
        "database": {"url": database_url},
        "ami": {"secret": secrets.token_urlsafe(16)},  # required; AMI is not started
        "records": {"spool_dir": str(run_dir / "spool")},
        "ivr": {"routing_config": str(EXAMPLE)}, **(overrides or {})})
    users = UserStore(run_dir / "users.toml")
    passwords = {"root": secrets.token_urlsafe(16), "ani": secrets.token_urlsafe(16)}
    users.put("root", "admin", passwords["root"])
    users.put("ani", "calltaker", passwords["ani"], sip_endpoint="taker-1")
    service = Service(settings)
    try:
        await service.start_web()
        routes = frozenset((r.method, r.resource.canonical)
                           for r in service.web_runner.app.router.routes()
                           if r.resource is not None and r.method != "HEAD"
                           and r.resource.canonical.startswith("/api/"))
        yield ControllerWeb(f"http://127.0.0.1:{port}", tokens, passwords, routes)
    finally:
        await service.web_runner.cleanup()
        await service.engine.dispose()
