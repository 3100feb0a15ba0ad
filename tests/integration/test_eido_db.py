"""EIDO over /api/v1 against a real PostgreSQL (issue 23 item 4): the document of a seeded
incident, with its calls' locations (the operator's PIDF-LO on one call, a phone's fix on
another) and its dispatch, validates against the shipped EIDO schema and the OpenAPI
document; an agency token gets its own incident and not another agency's; the WebSocket
subscription (NENA-STA-024 pattern) notifies a subscriber of the changes in its scope
only, and a call-taker's of every change."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientWebSocketResponse
from jsonschema import Draft202012Validator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.api.tokens import TokenStore
from ntpd_ivr.eido import model
from ntpd_ivr.eido.http import EIDO
from ntpd_ivr.location.pidf import parse_pidf
from tests.conftest import RunningPostgres
from tests.integration.reporting import seed, serving_center
from tests.protocol.webtools import Client
from tests.security.api_fixtures import serving_controller_web
from tests.unit.test_eido_model import OPERATOR_PIDF

NOTIFY_SECONDS = 10.0


class Center:
    def __init__(self, client: Client, tokens: dict[str, str]) -> None:
        self.client, self.tokens = client, tokens

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    async def eido(self, incident: int, token: str, status: int = 200) -> Any:
        reply = await self.client.get(f"/api/v1/incidents/{incident}/eido",
                                      headers=self.bearer(token))
        assert reply.status == status, await reply.text()
        return await reply.json()

    async def subscribed(self, token: str) -> tuple[ClientWebSocketResponse, str]:
        socket = await self.client.ws_connect("/api/v1/eido/subscriptions",
                                              headers=self.bearer(token))
        await socket.send_json({"subscribe": {"requestId": "r1", "requestType": "EIDO"}})
        answer = await socket.receive_json(timeout=NOTIFY_SECONDS)
        response = answer["subscribeResponse"]
        assert (response["requestId"], response["statusCode"]) == ("r1", 200), answer
        return socket, response["subscriptionId"]


@pytest.fixture
async def center(db_engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Center]:
    await seed(db_engine)
    async with serving_center(db_engine, tmp_path) as (client, store):
        async with db_engine.begin() as conn:
            # The first call's operator sent a PIDF-LO; the duplicate caller's phone a fix.
            await conn.execute(text(
                "UPDATE calls SET location_kind = 'circle', location_raw = :raw, "
                "location_lat = -2.879, location_lon = 103.848, location_radius_m = 800 "
                "WHERE uniqueid = '1795800000.0'"), {"raw": OPERATOR_PIDF})
            await conn.execute(text("DELETE FROM location_fixes WHERE call_uniqueid LIKE "
                                    "'1795800000.%'"))
            await conn.execute(text(
                "INSERT INTO location_fixes (source, lat, lon, radius_m, method, "
                "caller_number, call_uniqueid) VALUES ('aml-sms', -2.98, 104.75, 9, 'GNSS', "
                "'+62811100001', '1795800000.1')"))
        tokens = await _tokens(store)
        yield Center(client, tokens)
        async with db_engine.begin() as conn:
            await conn.execute(text("DELETE FROM location_fixes WHERE call_uniqueid LIKE "
                                    "'1795800000.%'"))


async def _tokens(store: TokenStore) -> dict[str, str]:
    return {name: (await store.create(name, role, agency, "cli:test"))[1]
            for name, role, agency in (("desk", "calltaker", ""),
                                       ("damkar-sys", "agency", "palembang-damkar"),
                                       ("dinkes-sys", "agency", "palembang-dinkes"))}


async def test_the_incidents_eido_validates_and_carries_calls_locations_and_dispatch(
        center: Center) -> None:
    document = await center.eido(1, "desk")
    assert model.problems(document) == []
    openapi = await (await center.client.get("/api/v1/openapi.json")).json()
    validator = Draft202012Validator({"$ref": "#/components/schemas/Eido",
                                      "components": openapi["components"]})
    assert not list(validator.iter_errors(document))
    assert document["$id"] == "urn:emergency:uid:incidentid:1:112.test"
    assert document["incidentComponent"]["incidentTypeInternalCode"] == "fire"
    calls = {c["$id"].split(":")[4]: c for c in document["callComponent"]}
    assert set(calls) == {"1795800000.0", "1795800000.1"}  # genuine + duplicate
    locations = {c["$id"]: c for c in document["locationComponent"]}
    first = locations[calls["1795800000.0"]["locationReference"][0]["$ref"]]
    assert first["locationByValue"] == OPERATOR_PIDF
    second = parse_pidf(locations[calls["1795800000.1"]["locationReference"][0]["$ref"]]
                        ["locationByValue"])
    assert (second.lat, second.lon, second.radius_m) == (-2.98, 104.75, 9.0)
    agencies = {a["$id"] for a in document["agencyComponent"]}
    assert "palembang-damkar.112.test" in agencies
    assert [d["agencyReference"]["$ref"] for d in document["dispatchComponent"]] == [
        "palembang-damkar.112.test"]
    back = model.read(json.dumps(document).encode(), ("fire", "unclassified"))
    assert (back.category, back.kecamatan) == ("fire", "Ilir Barat I")
    assert back.remote_call_id == "urn:emergency:uid:callid:1795800000.0:112.test"


async def test_an_agency_token_gets_its_own_incident_and_not_anothers(center: Center) -> None:
    mine = await center.eido(1, "damkar-sys")
    assert mine["incidentComponent"]["internalIncidentId"] == "1"
    refused = await center.eido(2, "damkar-sys", 404)
    assert refused["error"] == "not-found"
    assert (await center.eido(2, "dinkes-sys"))["incidentComponent"]["internalIncidentId"] == "2"
    await center.eido(99, "desk", 404)


async def _notified(socket: ClientWebSocketResponse, subscription: str) -> dict[str, Any]:
    message = await socket.receive_json(timeout=NOTIFY_SECONDS)
    event = message["event"]
    assert event["subscriptionId"] == subscription and event["transactionId"]
    (document,) = event["notification"]
    assert model.problems(document) == []
    return dict(document)


async def test_a_subscriber_is_notified_of_changes_in_its_scope_only(center: Center) -> None:
    subscriptions = center.client.app[EIDO]  # type: ignore[union-attr]
    damkar, damkar_id = await center.subscribed("damkar-sys")
    desk, desk_id = await center.subscribed("desk")
    try:
        await subscriptions.changed(2)  # dinkes's: not damkar's
        await subscriptions.changed(1)
        first = await _notified(damkar, damkar_id)
        assert first["incidentComponent"]["internalIncidentId"] == "1"  # 2 never came
        seen = [(await _notified(desk, desk_id))["incidentComponent"]["internalIncidentId"]
                for _ in range(2)]
        assert seen == ["2", "1"]
        # Unsubscribed: nothing more; the socket stays open for requests.
        await damkar.send_json({"unsubscribe": {"requestId": "r2",
                                                "subscriptionId": damkar_id}})
        assert (await damkar.receive_json(timeout=NOTIFY_SECONDS))["unsubscribeResponse"][
            "statusCode"] == 200
        await subscriptions.changed(1)
        assert (await _notified(desk, desk_id))["incidentComponent"]["internalIncidentId"] == "1"
        with pytest.raises(asyncio.TimeoutError):
            await damkar.receive_json(timeout=0.5)
    finally:
        await damkar.close()
        await desk.close()


async def test_an_incident_typed_on_the_desk_reaches_a_subscriber_through_the_bus(
        db_engine: AsyncEngine, postgres: RunningPostgres, tmp_path: Path) -> None:
    """The controller's own app (every plugin loaded): a call-taker creates an incident on
    the screens' route; the incidents domain's IncidentsChanged reaches the eido plugin,
    which notifies a supervisor token's subscription with the new incident's EIDO."""
    async with serving_controller_web(db_engine, postgres.url, tmp_path) as web, \
            aiohttp.ClientSession(web.base_url) as http, \
            http.ws_connect("/api/v1/eido/subscriptions",
                            headers={"Authorization": f"Bearer {web.tokens['monitor']}"}
                            ) as socket:
        await socket.send_json({"subscribe": {"requestId": "live"}})
        subscription = (await socket.receive_json(timeout=NOTIFY_SECONDS))[
            "subscribeResponse"]["subscriptionId"]
        desk = await web.session_headers("ani")
        async with http.post("/api/incidents", headers=desk, json={
                "region": "muba", "category": "fire", "kecamatan": "Sekayu",
                "desa": "Kayuara", "description": "Gudang karet terbakar",
                "severity": "high", "lat": -2.88, "lon": 103.85}) as reply:
            assert reply.status == 201, await reply.text()
            created = (await reply.json())["id"]
        document = await _notified(socket, subscription)
        assert document["incidentComponent"]["internalIncidentId"] == str(created)
        back = model.read(json.dumps(document).encode(), ("fire", "unclassified"))
        assert (back.description, back.kecamatan, back.desa, back.lat, back.lon) == (
            "Gudang karet terbakar", "Sekayu", "Kayuara", -2.88, 103.85)
