"""/api/v1 against a real PostgreSQL: every endpoint with a token and a session, every 4xx
(bad input, no token, bad or revoked token, wrong role, agency scope, CSRF missing on a
session POST), the OpenAPI document validated, every reply validated against its schema;
token creation and revocation audited; /metrics' access rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.api.tokens import TokenStore
from ntpd_ivr.calls.tables import Call
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.feed.model import PushResult
from ntpd_ivr.texts.tables import TextMessage, TextSession
from tests.integration.reporting import END, START, seed, serving_center
from tests.protocol.webtools import Client, csrf_headers, log_in

PERIOD = f"from={START.isoformat().replace('+', '%2B')}&to={END.isoformat().replace('+', '%2B')}"


class FakeFeed:
    def __init__(self) -> None:
        self.actors: list[str] = []

    async def push_now(self, actor: str) -> PushResult:
        self.actors.append(actor)
        return PushResult(queued=1, delivered=1, pending=0)


class Api:
    def __init__(self, client: Client, tokens: dict[str, str], doc: dict[str, Any]) -> None:
        self.client, self.tokens, self.doc = client, tokens, doc

    async def get(self, path: str, token: str | None, status: int, schema: str) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens.get(token, token)}"} if token else {}
        reply = await self.client.get(path, headers=headers)
        assert reply.status == status, (path, await reply.text())
        body = await reply.json()
        self.check(body, schema)
        return body

    def check(self, body: Any, schema: str) -> None:
        validator = Draft202012Validator({"$ref": f"#/components/schemas/{schema}",
                                          "components": self.doc["components"]})
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, (schema, errors[:3], body)


@pytest.fixture
async def api(db_engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    await seed(db_engine)
    store = TokenStore(db_engine)
    tokens = {}
    for name, role, agency in (("monitor", "supervisor", ""), ("desk", "calltaker", ""),
                               ("damkar-sys", "agency", "palembang-damkar"),
                               ("old", "admin", "")):
        tokens[name] = (await store.create(name, role, agency, "cli:test"))[1]
    async with serving_center(db_engine, tmp_path, feed=FakeFeed()) as (client, _):
        reply = await client.get("/api/v1/openapi.json")
        assert reply.status == 200
        yield Api(client, tokens, await reply.json())


async def test_openapi_document_is_valid_and_lists_every_route(api: Api) -> None:
    validate(api.doc)  # raises on an invalid OpenAPI 3.1 document
    routes = {r.resource.canonical for r in api.client.app.router.routes()  # type: ignore[union-attr]
              if r.resource is not None and r.resource.canonical.startswith("/api/v1/")}
    documented = set(api.doc["paths"])
    assert routes - {"/api/v1/openapi.json"} == documented


async def test_every_endpoint_with_tokens_matches_its_schema(api: Api) -> None:
    calls = await api.get(f"/api/v1/calls?{PERIOD}", "desk", 200, "CallList")
    assert len(calls["calls"]) == 12
    assert calls["calls"][0]["uniqueid"] == "1795800000.11"  # newest first
    region = await api.get(f"/api/v1/calls?{PERIOD}&region=muba&limit=1", "monitor", 200,
                           "CallList")
    assert [c["region"] for c in region["calls"]] == ["muba"]
    one = await api.get("/api/v1/calls/1795800000.0", "desk", 200, "Call")
    assert one["answered_by"] == "taker-1"
    incidents = await api.get(f"/api/v1/incidents?{PERIOD}", "desk", 200, "IncidentList")
    assert [i["id"] for i in incidents["incidents"]] == [2, 1]
    assert (await api.get(f"/api/v1/incidents?{PERIOD}&status=closed", "desk", 200,
                          "IncidentList"))["incidents"] == []
    await api.get("/api/v1/incidents/1", "monitor", 200, "Incident")
    dispatches = await api.get(f"/api/v1/dispatches?{PERIOD}", "monitor", 200, "DispatchList")
    assert len(dispatches["dispatches"]) == 2
    figures = await api.get(f"/api/v1/figures?{PERIOD}&by=region&within=10", "monitor", 200,
                            "Figures")
    assert [g["group"] for g in figures["groups"]] == ["muba", "palembang"]
    assert figures["total"]["offered"] == 12


async def test_agency_token_sees_only_its_own(api: Api) -> None:
    mine = await api.get(f"/api/v1/incidents?{PERIOD}", "damkar-sys", 200, "IncidentList")
    assert [i["id"] for i in mine["incidents"]] == [1]
    await api.get("/api/v1/incidents/2", "damkar-sys", 404, "Problem")
    own = await api.get(f"/api/v1/dispatches?{PERIOD}", "damkar-sys", 200, "DispatchList")
    assert {d["agency"] for d in own["dispatches"]} == {"palembang-damkar"}
    await api.get(f"/api/v1/dispatches?{PERIOD}&agency=palembang-dinkes", "damkar-sys", 403,
                  "Problem")
    await api.get(f"/api/v1/calls?{PERIOD}", "damkar-sys", 403, "Problem")


@pytest.mark.parametrize(("path", "token", "status", "error"), [
    ("/api/v1/calls", None, 401, "unauthenticated"),
    ("/api/v1/calls", "ntpd_not-a-real-token", 401, "bad-token"),
    ("/api/v1/figures", "desk", 403, "forbidden"),
    ("/api/v1/calls?limit=0", "desk", 400, "bad-request"),
    ("/api/v1/calls?limit=ten", "desk", 400, "bad-request"),
    ("/api/v1/calls?from=yesterday", "desk", 400, "bad-request"),
    ("/api/v1/calls?from=2026-11-29&to=2026-11-28", "desk", 400, "bad-request"),
    ("/api/v1/calls/no-such-call", "desk", 404, "not-found"),
    ("/api/v1/incidents?status=burning", "desk", 400, "bad-request"),
    ("/api/v1/incidents/99", "desk", 404, "not-found"),
    ("/api/v1/incidents/0", "desk", 400, "bad-request"),
    ("/api/v1/dispatches?limit=501", "monitor", 400, "bad-request"),
    ("/api/v1/figures?by=hour", "monitor", 400, "bad-request"),
    ("/api/v1/figures?within=0", "monitor", 400, "bad-request"),
    ("/api/v1/figures?from=2020-01-01&to=2026-01-01", "monitor", 400, "bad-request"),
])
async def test_refusals(api: Api, path: str, token: str | None, status: int,
                        error: str) -> None:
    body = await api.get(path, token, status, "Problem")
    assert body["error"] == error and body["reason"]


async def test_a_basic_or_revoked_token_is_refused_and_revocation_is_audited(
        api: Api, db_engine: AsyncEngine) -> None:
    reply = await api.client.get("/api/v1/calls", headers={"Authorization": "Basic eDp5"})
    assert reply.status == 401
    await api.get("/api/v1/calls", "old", 200, "CallList")
    assert await TokenStore(db_engine).revoke("old", "cli:test") == [4]
    await api.get("/api/v1/calls", "old", 401, "Problem")
    async with db_engine.connect() as conn:
        rows = list(await conn.execute(text(
            "SELECT action, subject_id, actor FROM audit_events WHERE action LIKE 'token.%' "
            "ORDER BY id")))
        reads = list(await conn.execute(text(
            "SELECT actor, action, subject_id, detail FROM audit_events "
            "WHERE action LIKE 'api.%' ORDER BY id")))
        hashes = list(await conn.execute(text("SELECT token_hash FROM api_tokens")))
    assert [tuple(r) for r in rows] == [("token.create", str(i), "cli:test")
                                        for i in range(1, 5)] + [("token.revoke", "4",
                                                                  "cli:test")]
    assert all(api.tokens["old"] not in h[0] for h in hashes)  # only digests stored
    # The one request the token could make is in the audit trail; the refused ones not.
    assert [(r[0], r[1], r[2], r[3]["role"]) for r in reads] == [
        ("token:old", "api.get", "/api/v1/calls", "admin")]
    with pytest.raises(ConfigError):
        await TokenStore(db_engine).create("x", "agency", "", "cli:test")  # agency needs one


async def test_session_get_and_post_need_csrf_bearer_post_does_not(api: Api) -> None:
    client = api.client
    # A supervisor's browser session reads the API; a call-taker's may not read figures.
    headers = await log_in(client, "budi")
    reply = await client.get(f"/api/v1/figures?{PERIOD}")
    assert reply.status == 200
    api.check(await reply.json(), "Figures")
    reply = await client.post("/api/v1/feed/push")
    assert reply.status == 403 and (await reply.json())["error"] == "csrf"
    reply = await client.post("/api/v1/feed/push", headers=headers)
    assert reply.status == 200
    api.check(await reply.json(), "FeedPush")
    # With a bearer token the cookie is ignored and no CSRF token is needed.
    reply = await client.post("/api/v1/feed/push",
                              headers={"Authorization": f"Bearer {api.tokens['monitor']}"})
    assert reply.status == 200
    reply = await client.post("/api/v1/feed/push",
                              headers={"Authorization": f"Bearer {api.tokens['desk']}"})
    assert reply.status == 403
    api.check(await reply.json(), "Problem")
    reply = await client.post("/api/v1/feed/push",
                              headers={"Authorization": "Bearer ntpd_forged"})
    assert reply.status == 401
    ani = await log_in(client, "ani")
    reply = await client.post("/api/v1/feed/push", headers=ani)
    assert reply.status == 403 and (await reply.json())["error"] == "forbidden"
    await client.post("/logout", headers=ani)
    reply = await client.get("/api/v1/calls", headers=await csrf_headers(client))
    assert reply.status == 401


async def test_metrics_from_loopback_or_with_a_supervisor_token(api: Api) -> None:
    reply = await api.client.get("/metrics")
    assert reply.status == 200 and "ntpd_answer_seconds_bucket" in await reply.text()
    assert reply.headers["Content-Type"].startswith("text/plain; version=")
    # Relayed by a proxy on this host: loopback, but not the host's own request.
    reply = await api.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert reply.status == 401
    for token, status in (("desk", 403), ("ntpd_wrong", 401), ("monitor", 200)):
        secret = api.tokens.get(token, token)
        reply = await api.client.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
        assert reply.status == status, token


async def test_every_documented_route_refuses_without_a_token_and_a_wrong_role(
        api: Api) -> None:
    wrong_role = {"/api/v1/calls": "damkar-sys", "/api/v1/calls/{uniqueid}": "damkar-sys",
                  "/api/v1/incidents": None, "/api/v1/incidents/{id}": None,
                  "/api/v1/dispatches": None, "/api/v1/figures": "desk",
                  "/api/v1/feed/push": "desk", "/api/v1/incidents/{id}/eido": None,
                  "/api/v1/eido/subscriptions": None, "/api/v1/texts": "damkar-sys",
                  "/api/v1/texts/{uniqueid}": "damkar-sys"}
    assert set(wrong_role) == set(api.doc["paths"])  # a new route must be added here
    for template, operations in api.doc["paths"].items():
        path = template.replace("{uniqueid}", "1795800000.0").replace("{id}", "1")
        method = next(iter(operations))
        # A POST with neither token nor CSRF token meets the CSRF check first (403 csrf).
        anonymous = 401 if method == "get" else 403
        for token, status in ((None, anonymous), (wrong_role[template], 403)):
            if status == 403 and token is None and method == "get":
                continue  # every role that may sign in may read it (agency: scoped)
            headers = {"Authorization": f"Bearer {api.tokens[token]}"} if token else {}
            reply = await api.client.request(method.upper(), path, headers=headers)
            assert reply.status == status, (method, path, token, await reply.text())
            assert str(status) in operations[method]["responses"]  # documented
            api.check(await reply.json(), "Problem")


async def test_a_text_session_is_in_the_api_and_has_figures_of_its_own(
        api: Api, db_engine: AsyncEngine) -> None:
    """Issue 22: a text session (a calls row of medium sms) in /api/v1/texts with its
    messages, in /api/v1/calls as medium sms, and in the figures' `texts`, not in the
    calls' answer-time figures."""
    opened = START + timedelta(hours=1)
    async with db_engine.begin() as conn:
        await conn.execute(insert(Call).values(
            uniqueid="sms-9001", caller_number="+6281299990001", category="fire",
            region="muba", queue="takers-muba", arrived_at=opened, answered_at=opened,
            answered_by="taker-1", medium="sms"))
        await conn.execute(insert(TextSession).values(
            uniqueid="sms-9001", caller_number="+6281299990001", opened_at=opened,
            taken_by="ani", taken_at=opened, first_reply_at=opened + timedelta(seconds=42)))
        await conn.execute(insert(TextMessage).values(
            uniqueid="sms-9001", direction="in", body="<b>tolong</b>",
            author="+6281299990001", at=opened))
    listed = await api.get(f"/api/v1/texts?{PERIOD}", "desk", 200, "TextSessionList")
    assert [(t["uniqueid"], t["messages"]) for t in listed["texts"]] == [("sms-9001", 1)]
    one = await api.get("/api/v1/texts/sms-9001", "monitor", 200, "TextConversation")
    assert [m["body"] for m in one["messages"]] == ["<b>tolong</b>"]
    await api.get("/api/v1/texts/sms-1", "desk", 404, "Problem")
    call = await api.get("/api/v1/calls/sms-9001", "desk", 200, "Call")
    assert call["medium"] == "sms"
    figures = await api.get(f"/api/v1/figures?{PERIOD}&by=region", "monitor", 200, "Figures")
    assert figures["total"]["offered"] == 12  # the calls' figures: voice calls only
    assert figures["texts"]["sessions"] == 1
    assert figures["texts"]["first_reply_p50_seconds"] == 42.0
    assert figures["texts"]["by_category"] == {"fire": 1}


async def test_the_calls_another_center_overflowed_here_are_listed_by_its_region(
        api: Api, db_engine: AsyncEngine) -> None:
    """docs/ha.md, "A second site": the dark center's reports read the calls this center
    took for its region from this API (`overflow_region`), and only those."""
    at = START + timedelta(hours=2)
    async with db_engine.begin() as conn:
        await conn.execute(insert(Call).values(
            uniqueid="site2-1795954262.7", caller_number="+6281299990002",
            trunk="center-first-site", category="fire", region="sumsel",
            queue="takers-default", arrived_at=at, answered_at=at, answered_by="taker-1",
            disposition="answered", overflow_region="muba"))
    listed = await api.get(f"/api/v1/calls?{PERIOD}&overflow_region=muba", "monitor", 200,
                           "CallList")
    assert [(c["uniqueid"], c["overflow_region"], c["region"]) for c in listed["calls"]] == [
        ("site2-1795954262.7", "muba", "sumsel")]
    # The seeded calls are our own: none names a region it was overflowed for.
    everything = await api.get(f"/api/v1/calls?{PERIOD}&limit=500", "monitor", 200, "CallList")
    assert len(everything["calls"]) > 1
    assert {c["overflow_region"] for c in everything["calls"]} == {None, "muba"}
    other = await api.get(f"/api/v1/calls?{PERIOD}&overflow_region=palembang", "monitor", 200,
                          "CallList")
    assert other["calls"] == []
    await api.get(f"/api/v1/calls?{PERIOD}&overflow_region=Muba%0A", "monitor", 400, "Problem")
