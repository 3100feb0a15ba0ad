"""Issue 23 item 4, attacks on the EIDO routes of /api/v1: the document and the WebSocket
subscription refuse a missing or wrong token, never show an agency another agency's
incident (by id or by notification), refuse a plain GET on the socket, a request that is
not JSON, oversized or unknown, too many subscriptions, and another socket's subscription
id. The real app on a free port, a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.eido.http import EIDO, MAX_REQUEST_BYTES
from ntpd_ivr.eido.service import MAX_SUBSCRIPTIONS
from tests.security.api_fixtures import ApiCenter, serving_api
from tests.security.test_api_errors import problem

SOCKET = "/api/v1/eido/subscriptions"
WAIT = 10.0


@pytest.fixture
async def center(db_engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[ApiCenter]:
    async with serving_api(db_engine, tmp_path) as center:
        yield center


@pytest.mark.parametrize(("headers", "error"), [
    ({}, "unauthenticated"),
    ({"Authorization": "Bearer ntpd_not-a-real-token"}, "bad-token"),
    ({"Authorization": "Bearer "}, "bad-token"),
    ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "bad-token"),
])
async def test_no_token_or_a_wrong_one_gets_nothing(center: ApiCenter,
                                                    headers: dict[str, str],
                                                    error: str) -> None:
    await problem(await center.client.get("/api/v1/incidents/1/eido", headers=headers), 401,
                  error)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await center.client.ws_connect(SOCKET, headers=headers)
    assert refused.value.status == 401


async def test_another_agencys_incident_is_not_there_for_an_agency(center: ApiCenter) -> None:
    # Incident 2 went to palembang-dinkes: for damkar it does not exist (404, not 403).
    body = await problem(await center.client.get("/api/v1/incidents/2/eido",
                                                 headers=center.bearer("damkar-sys")),
                         404, "not-found")
    assert "2" in body["reason"]
    reply = await center.client.get("/api/v1/incidents/1/eido",
                                    headers=center.bearer("damkar-sys"))
    assert reply.status == 200


@pytest.mark.parametrize(("path", "status", "error"), [
    ("/api/v1/incidents/0/eido", 400, "bad-request"),
    ("/api/v1/incidents/99999999999999999999999/eido", 400, "bad-request"),
    ("/api/v1/incidents/1%00/eido", 400, "bad-request"),
    ("/api/v1/incidents/-1/eido", 404, "not-found"),
])
async def test_a_bad_incident_id_is_refused_with_a_reason(center: ApiCenter, path: str,
                                                          status: int, error: str) -> None:
    await problem(await center.client.get(path, headers=center.bearer("desk")), status, error)


async def test_a_plain_get_on_the_socket_is_refused(center: ApiCenter) -> None:
    body = await problem(await center.client.get(SOCKET, headers=center.bearer("desk")), 400,
                         "websocket-required")
    assert "subscribe" in body["reason"]


async def _request(socket: aiohttp.ClientWebSocketResponse, message: Any) -> dict[str, Any]:
    if isinstance(message, str):
        await socket.send_str(message)
    else:
        await socket.send_json(message)
    reply: dict[str, Any] = await socket.receive_json(timeout=WAIT)
    return reply


@pytest.mark.parametrize(("message", "key", "status", "reason"), [
    ("not json", "error", 400, "not JSON"),
    ([1, 2], "error", 400, "one request object"),
    ({"subscribe": {"requestId": "1"}, "unsubscribe": {}}, "error", 400, "one request"),
    ({"subscribe": "all"}, "error", 400, "subscribe: an object"),
    ({"subscribe": {}}, "error", 400, "requestId"),
    ({"subscribe": {"requestId": "x" * 101}}, "error", 400, "requestId"),
    ({"subscribe": {"requestId": "1", "requestType": "Everything"}}, "subscribeResponse", 400,
     "only EIDO"),
    ({"drop": {"requestId": "1"}}, "error", 400, "unknown request"),
    ({"unsubscribe": {"requestId": "1", "subscriptionId": "0" * 32}}, "unsubscribeResponse",
     404, "no such subscription"),
])
async def test_malformed_requests_are_answered_with_a_reason(
        center: ApiCenter, message: Any, key: str, status: int, reason: str) -> None:
    async with center.client.ws_connect(SOCKET, headers=center.bearer("damkar-sys")) as socket:
        reply = await _request(socket, message)
        assert reply[key]["statusCode"] == status and reason in reply[key]["statusText"], reply
        # The socket still works after a refusal.
        ok = await _request(socket, {"subscribe": {"requestId": "ok"}})
        assert ok["subscribeResponse"]["statusCode"] == 200


async def test_an_oversized_request_closes_the_socket(center: ApiCenter) -> None:
    async with center.client.ws_connect(SOCKET, headers=center.bearer("desk")) as socket:
        await socket.send_str('{"subscribe": {"requestId": "' + "x" * MAX_REQUEST_BYTES + '"}}')
        message = await socket.receive(timeout=WAIT)
        assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert socket.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


async def test_subscriptions_per_socket_are_bounded(center: ApiCenter) -> None:
    async with center.client.ws_connect(SOCKET, headers=center.bearer("desk")) as socket:
        for n in range(MAX_SUBSCRIPTIONS):
            reply = await _request(socket, {"subscribe": {"requestId": str(n)}})
            assert reply["subscribeResponse"]["statusCode"] == 200
        reply = await _request(socket, {"subscribe": {"requestId": "one more"}})
        assert reply["subscribeResponse"]["statusCode"] == 429


async def test_another_sockets_subscription_cannot_be_cancelled_or_read(
        center: ApiCenter) -> None:
    subscriptions = center.client.app[EIDO]  # type: ignore[union-attr]
    async with center.client.ws_connect(SOCKET, headers=center.bearer("desk")) as desk, \
            center.client.ws_connect(SOCKET, headers=center.bearer("damkar-sys")) as damkar:
        desk_id = (await _request(desk, {"subscribe": {"requestId": "d"}}))[
            "subscribeResponse"]["subscriptionId"]
        reply = await _request(damkar, {"unsubscribe": {"requestId": "x",
                                                        "subscriptionId": desk_id}})
        assert reply["unsubscribeResponse"]["statusCode"] == 404
        damkar_id = (await _request(damkar, {"subscribe": {"requestId": "a"}}))[
            "subscribeResponse"]["subscriptionId"]
        # Incident 2 is dinkes's: the desk hears of it, damkar never does.
        await subscriptions.changed(2)
        event = (await desk.receive_json(timeout=WAIT))["event"]
        assert event["subscriptionId"] == desk_id
        assert event["notification"][0]["incidentComponent"]["internalIncidentId"] == "2"
        with pytest.raises(asyncio.TimeoutError):
            await damkar.receive_json(timeout=0.5)
        await subscriptions.changed(1)
        event = (await damkar.receive_json(timeout=WAIT))["event"]
        assert event["subscriptionId"] == damkar_id
        assert event["notification"][0]["incidentComponent"]["internalIncidentId"] == "1"
