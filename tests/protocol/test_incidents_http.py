"""The incidents endpoints on the real web app: every refusal that happens before the
database (no session, wrong role, no CSRF token, bad input). What needs data (an agency
reading another agency's incident, the whole flow) is in
tests/integration/test_incidents_http_db.py, against PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ntpd_ivr.db.session import make_engine
from ntpd_ivr.dispatch import http as dispatch_http
from ntpd_ivr.dispatch.plugin import ACCESS
from ntpd_ivr.dispatch.records import DispatchService
from ntpd_ivr.i18n import catalogue
from ntpd_ivr.incidents.http import add_routes
from ntpd_ivr.incidents.service import IncidentService
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.settings import DatabaseSettings
from ntpd_ivr.web.hub import LiveHub
from tests.protocol.webtools import Client, csrf_headers, log_in, serving_web

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
CONFIG = load_routing_config(EXAMPLE)
# Nothing listens there: a request that reached the database would fail the test with a 500.
NO_DATABASE = DatabaseSettings(url="postgresql+asyncpg://nobody:x@127.0.0.1:9/none",
                               connect_timeout_seconds=0.5)
INCIDENT = {"region": "palembang", "category": "fire", "kecamatan": "Ilir Barat I",
            "description": "Rumah terbakar", "severity": "high", "people_involved": 3}

MESSAGES = catalogue().by_language()


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    engine = make_engine(NO_DATABASE)
    service = IncidentService(engine, lambda: CONFIG)
    dispatches = DispatchService(engine, lambda: CONFIG)

    def extend(app: web.Application) -> None:
        add_routes(app, service)
        dispatch_http.add_routes(app, dispatches, ACCESS)

    async with serving_web(tmp_path, extend=extend) as test_client:
        yield test_client
    await engine.dispose()


ENDPOINTS = [
    ("GET", "/api/incidents/suggest?category=fire&kecamatan=x"),
    ("POST", "/api/incidents"),
    ("GET", "/api/incidents/1"),
    ("POST", "/api/incidents/1/close"),
    ("GET", "/api/incidents/1/proposal"),
    ("POST", "/api/incidents/1/dispatches"),
    ("POST", "/api/calls/1732771200.1/disposition"),
    ("GET", "/api/dispatches"),
    ("POST", "/api/dispatches/1/accept"),
    ("GET", "/api/reports/commitments"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_every_endpoint_needs_a_session(client: Client, method: str, path: str) -> None:
    headers = await csrf_headers(client)
    reply = await client.request(method, path, json={}, headers=headers)
    assert reply.status == 401, path
    assert (await reply.json())["error"] == "unauthenticated"


@pytest.mark.parametrize("path", ["/agency", "/reports/commitments"])
async def test_pages_send_a_browser_without_session_to_the_login(client: Client,
                                                                 path: str) -> None:
    reply = await client.get(path, allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"] == "/login"


@pytest.mark.parametrize(("user", "method", "path"), [
    # An agency user has nothing of the call-taker's: no incident writing, no proposal.
    ("damkar", "POST", "/api/incidents"),
    ("damkar", "GET", "/api/incidents/suggest?category=fire&kecamatan=x"),
    ("damkar", "POST", "/api/incidents/1/dispatches"),
    ("damkar", "POST", "/api/incidents/1/close"),
    ("damkar", "GET", "/api/incidents/1/proposal"),
    ("damkar", "POST", "/api/calls/1732771200.1/disposition"),
    ("damkar", "POST", "/api/dispatches/1/cancel"),   # only the center withdraws
    ("damkar", "GET", "/api/calls"),
    ("damkar", "GET", "/"),
    # A call-taker does not act for an agency, nor read the agencies' screens.
    ("ani", "POST", "/api/dispatches/1/accept"),
    ("ani", "POST", "/api/dispatches/1/on-scene"),
    ("ani", "GET", "/api/dispatches"),
    ("ani", "GET", "/api/reports/commitments"),
    ("ani", "GET", "/agency"),
    ("ani", "GET", "/reports/commitments"),
])
async def test_wrong_role_is_a_403(client: Client, user: str, method: str, path: str) -> None:
    headers = await log_in(client, user)
    reply = await client.request(method, path, json={}, headers=headers)
    assert reply.status == 403, (path, await reply.text())
    assert (await reply.json())["error"] == "forbidden"


async def test_a_browser_gets_the_refusal_as_a_page_in_its_language(client: Client) -> None:
    await log_in(client, "ani")
    reply = await client.get("/agency", headers={"Accept": "text/html"})
    assert reply.status == 403
    assert "Peran Anda tidak diizinkan" in await reply.text()


@pytest.mark.parametrize(("method", "path"), [m for m in ENDPOINTS if m[0] == "POST"])
async def test_every_post_needs_the_csrf_token(client: Client, method: str, path: str) -> None:
    await log_in(client, "budi")
    reply = await client.post(path, json={})  # the cookie, but no token
    assert reply.status == 403
    assert (await reply.json())["error"] == "csrf"


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in INCIDENT.items() if k != key}


@pytest.mark.parametrize(("body", "reason"), [
    (_without("category"), "category is required"),
    ({**INCIDENT, "category": "flood"}, "no category 'flood'"),
    ({**INCIDENT, "region": "jambi"}, "no region 'jambi'"),
    ({**INCIDENT, "severity": "extreme"}, "severity must be one of low, medium, high"),
    (_without("kecamatan"), "kecamatan is required"),
    ({**INCIDENT, "kecamatan": "   "}, "kecamatan is required"),
    (_without("description"), "description is required"),
    ({**INCIDENT, "description": "x" * 2001}, "description must be at most 2000"),
    ({**INCIDENT, "people_involved": -1}, "people_involved must be a whole number"),
    ({**INCIDENT, "people_involved": True}, "people_involved must be a whole number"),
    ({**INCIDENT, "lat": -2.97}, "lat and lon come together"),
    ({**INCIDENT, "lat": 91, "lon": 104.7}, "lat must be -90..90"),
    ({**INCIDENT, "lat": "x", "lon": 104.7}, "lat must be a number"),
    ({**INCIDENT, "desa": 12}, "desa must be a string"),
    ({**INCIDENT, "call": "../../etc"}, "call must be an Asterisk unique id"),
    (["not", "an", "object"], "JSON object"),
])
async def test_a_bad_incident_is_a_400_with_a_reason(client: Client, body: Any,
                                                     reason: str) -> None:
    headers = await log_in(client, "ani")
    reply = await client.post("/api/incidents", json=body, headers=headers)
    assert reply.status == 400, await reply.text()
    assert reason in (await reply.json())["reason"]


@pytest.mark.parametrize(("body", "reason"), [
    ({}, "disposition must be one of genuine, information, prank, silent"),
    ({"disposition": "hoax"}, "disposition must be one of"),
    ({"disposition": "duplicate"}, "incident_id must be a whole number"),
    ({"disposition": "genuine", "incident_id": 0}, "incident_id must be a whole number"),
    ({"disposition": "prank", "incident_id": 4}, "a prank call names no incident"),
])
async def test_a_bad_disposition_is_a_400(client: Client, body: dict[str, Any],
                                          reason: str) -> None:
    headers = await log_in(client, "ani")
    reply = await client.post("/api/calls/1732771200.1/disposition", json=body,
                              headers=headers)
    assert reply.status == 400 and reason in (await reply.json())["reason"]


@pytest.mark.parametrize(("body", "reason"), [
    ({}, "agency is required"),
    ({"agency": "palembang-damkar", "mode": "connect"}, "call is required"),
    ({"agency": "palembang-damkar", "mode": "connect", "call": "1.2"},
     "needs the controller's telephony"),  # this app runs without it
    ({"agency": "palembang-damkar", "mode": "teleport"}, "mode must be \"notify\""),
])
async def test_a_bad_dispatch_is_a_400(client: Client, body: dict[str, Any],
                                       reason: str) -> None:
    headers = await log_in(client, "ani")
    reply = await client.post("/api/incidents/1/dispatches", json=body, headers=headers)
    assert reply.status == 400 and reason in (await reply.json())["reason"]


@pytest.mark.parametrize(("user", "path", "status"), [
    ("damkar", "/api/dispatches/1/teleport", 404),        # no such action
    ("damkar", "/api/dispatches/abc/accept", 404),        # ids are numbers
    ("damkar", "/api/dispatches/99999999999999999999/accept", 404),
    ("budi", "/api/incidents/0/close", 404),
])
async def test_unknown_targets_are_404(client: Client, user: str, path: str,
                                       status: int) -> None:
    headers = await log_in(client, user)
    reply = await client.post(path, json={}, headers=headers)
    assert reply.status == status


@pytest.mark.parametrize(("query", "reason"), [
    ("from=yesterday", "not an ISO 8601 date"),
    ("from=2026-11-29&to=2026-11-28", "to must be after from"),
])
async def test_a_bad_report_period_is_a_400(client: Client, query: str, reason: str) -> None:
    await log_in(client, "damkar")
    reply = await client.get(f"/api/reports/commitments?{query}")
    assert reply.status == 400 and reason in (await reply.json())["reason"]


def test_the_screen_text_exists_in_both_languages() -> None:
    assert set(MESSAGES) == {"id", "en"} and set(MESSAGES["id"]) == set(MESSAGES["en"])
    for key, text in MESSAGES["id"].items():
        assert text.count("{") == MESSAGES["en"][key].count("{"), key


async def test_an_agency_screen_is_pushed_its_own_dispatches_only(tmp_path: Path) -> None:
    hub = LiveHub({"notices": "calltaker", "dispatches": "agency"})
    engine = make_engine(NO_DATABASE)
    service = IncidentService(engine, lambda: CONFIG)
    dispatches = DispatchService(engine, lambda: CONFIG)

    def extend(app: web.Application) -> None:
        add_routes(app, service)
        dispatch_http.add_routes(app, dispatches, ACCESS)

    async with serving_web(tmp_path, hub=hub, extend=extend) as client:
        sockets = {}
        for user in ("damkar", "dinkes", "budi"):
            await log_in(client, user)
            sockets[user] = await client.ws_connect("/ws")
            await sockets[user].send_str(json.dumps({"id": 1, "type": "subscribe",
                                                     "topic": "dispatches"}))
            assert json.loads(await sockets[user].receive_str(timeout=2))["success"], user
        await sockets["damkar"].send_str(json.dumps({"id": 2, "type": "subscribe",
                                                     "topic": "notices"}))
        refused = json.loads(await sockets["damkar"].receive_str(timeout=2))
        assert refused["error"]["code"] == "forbidden"  # nothing of the call-takers'
        assert hub.publish("dispatches", "dispatch.created", {"id": 7},
                           agency="palembang-damkar") == 2  # damkar and the supervisor
        for user in ("damkar", "budi"):
            assert json.loads(await sockets[user].receive_str(timeout=2))["data"] == {"id": 7}
        with pytest.raises(asyncio.TimeoutError):
            await sockets["dinkes"].receive_str(timeout=0.2)
        await log_in(client, "ani")
        calltaker = await client.ws_connect("/ws")
        await calltaker.send_str(json.dumps({"id": 1, "type": "subscribe",
                                             "topic": "dispatches"}))
        assert json.loads(await calltaker.receive_str(timeout=2))["success"] is False
        for socket in (*sockets.values(), calltaker):
            await socket.close()
    await engine.dispose()
