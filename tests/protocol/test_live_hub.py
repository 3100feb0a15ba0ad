"""The live-push hub over a real WebSocket: session, origin, typed commands, topics and
roles, publish, and close at shutdown."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSCloseCode, WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient

from ntpd_ivr.web import hub as hub_module
from ntpd_ivr.web.hub import LiveHub
from ntpd_ivr.web.sessions import MemorySessionStore, StoredSession
from tests.protocol.webtools import log_in, serving_web
from tests.waiting import eventually

TOPICS = {"notices": "calltaker", "wall": "supervisor"}
STEP = 2.0


@pytest.fixture
def hub() -> LiveHub:
    return LiveHub(TOPICS)


@pytest.fixture
async def client(tmp_path: Path, hub: LiveHub) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with serving_web(tmp_path, hub=hub) as test_client:
        yield test_client


async def command(ws: Any, **body: Any) -> dict[str, Any]:
    await ws.send_str(json.dumps(body))
    reply: dict[str, Any] = json.loads(await ws.receive_str(timeout=STEP))
    return reply


async def test_socket_needs_a_session(client: TestClient) -> None:  # type: ignore[type-arg]
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws")
    assert refused.value.status == 401


async def test_socket_from_another_site_is_refused(client: TestClient) -> None:  # type: ignore[type-arg]
    await log_in(client, "ani")
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws", origin="https://evil.example")
    assert refused.value.status == 403
    same_site = await client.ws_connect("/ws", origin=str(client.make_url("")).rstrip("/"))
    await same_site.close()


async def test_subscriber_gets_published_events_others_do_not(
        client: TestClient, hub: LiveHub) -> None:  # type: ignore[type-arg]
    await log_in(client, "ani")
    watching = await client.ws_connect("/ws")
    idle = await client.ws_connect("/ws")
    assert await command(watching, id=1, type="subscribe", topic="notices") == {
        "id": 1, "type": "result", "success": True}
    assert hub.publish("notices", "notice", {"text": "banjir di Kec. Kota"}) == 1
    event = json.loads(await watching.receive_str(timeout=STEP))
    assert event == {"type": "event", "topic": "notices", "kind": "notice",
                     "data": {"text": "banjir di Kec. Kota"}}
    with pytest.raises(asyncio.TimeoutError):
        await idle.receive_str(timeout=0.2)
    assert (await command(watching, id=2, type="unsubscribe", topic="notices"))["success"]
    assert hub.publish("notices", "notice", {"text": "lagi"}) == 0
    await watching.close()
    await idle.close()


@pytest.mark.parametrize(("body", "code"), [
    ({"id": 1, "type": "subscribe", "topic": "wall"}, "forbidden"),
    ({"id": 1, "type": "subscribe", "topic": "nope"}, "unknown-topic"),
    ({"id": 1, "type": "dance", "topic": "notices"}, "unknown-command"),
    ({"id": "1", "type": "subscribe", "topic": "notices"}, "invalid-format"),
    ({"id": 1, "type": "subscribe"}, "invalid-format"),
])
async def test_bad_commands_get_an_error_result(
        client: TestClient, hub: LiveHub, body: dict[str, Any], code: str) -> None:  # type: ignore[type-arg]
    await log_in(client, "ani")
    ws = await client.ws_connect("/ws")
    reply = await command(ws, **body)
    assert reply["type"] == "result" and reply["success"] is False
    assert reply["error"]["code"] == code
    assert hub.publish("wall", "tick", {}) == 0
    await ws.close()


async def test_invalid_json_gets_an_error_and_the_socket_stays(
        client: TestClient) -> None:  # type: ignore[type-arg]
    await log_in(client, "ani")
    ws = await client.ws_connect("/ws")
    await ws.send_str("{not json")
    assert json.loads(await ws.receive_str(timeout=STEP))["error"]["code"] == "invalid-json"
    assert (await command(ws, id=3, type="subscribe", topic="notices"))["success"]
    await ws.close()


async def test_supervisor_may_watch_the_wall(client: TestClient, hub: LiveHub) -> None:  # type: ignore[type-arg]
    await log_in(client, "budi")
    ws = await client.ws_connect("/ws")
    assert (await command(ws, id=1, type="subscribe", topic="wall"))["success"]
    assert hub.publish("wall", "tick", {"n": 1}) == 1
    await ws.close()


async def test_a_binary_frame_closes_the_socket(client: TestClient, hub: LiveHub) -> None:  # type: ignore[type-arg]
    await log_in(client, "ani")
    ws = await client.ws_connect("/ws")
    await ws.send_bytes(b"\x00")
    closing = await ws.receive(timeout=STEP)
    assert closing.type == WSMsgType.CLOSE and closing.data == WSCloseCode.UNSUPPORTED_DATA
    assert not hub.clients


async def test_an_oversized_command_closes_the_socket(
        client: TestClient, hub: LiveHub) -> None:  # type: ignore[type-arg]
    await log_in(client, "ani")
    ws = await client.ws_connect("/ws")
    await ws.send_str(json.dumps({"id": 1, "type": "subscribe", "topic": "x" * 5000}))
    closing = await ws.receive(timeout=STEP)
    assert closing.type == WSMsgType.CLOSE and closing.data == WSCloseCode.MESSAGE_TOO_BIG
    # The server's side ends just after the close reaches us.
    await eventually(lambda: not hub.clients, "the server's side of the socket ended")
    assert not hub.clients


async def test_supervisor_notice_reaches_a_calltaker_socket(
        tmp_path: Path) -> None:
    hub = LiveHub()
    async with serving_web(tmp_path, hub=hub) as taker:
        # A second browser, with its own cookies.
        supervisor: TestClient[Any, Any] = TestClient(taker.server)
        await supervisor.start_server()
        try:
            await log_in(taker, "ani")
            ws = await taker.ws_connect("/ws")
            assert (await command(ws, id=1, type="subscribe", topic="notices"))["success"]
            headers = await log_in(supervisor, "budi")
            reply = await supervisor.post("/api/notices", json={"text": "banjir"},
                                          headers=headers)
            assert await reply.json() == {"delivered": 1}
            event = json.loads(await ws.receive_str(timeout=STEP))
            assert event["data"] == {"text": "banjir", "by": "budi"}
            await ws.close()
        finally:
            await supervisor.session.close()


async def test_shutdown_closes_every_socket(tmp_path: Path) -> None:
    hub = LiveHub()
    async with serving_web(tmp_path, hub=hub) as client:
        await log_in(client, "ani")
        sockets = [await client.ws_connect("/ws") for _ in range(3)]
        assert len(hub.clients) == 3
        await client.server.close()
        for ws in sockets:
            closing = await ws.receive(timeout=STEP)
            assert closing.type == WSMsgType.CLOSE and closing.data == WSCloseCode.GOING_AWAY
        assert not hub.clients


async def test_a_logout_closes_the_sessions_live_socket(
        client: TestClient, hub: LiveHub, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[type-arg]
    monkeypatch.setattr(hub_module, "RECHECK_SECONDS", 0.05)
    headers = await log_in(client, "ani")
    ws = await client.ws_connect("/ws")
    assert (await command(ws, id=1, type="subscribe", topic="notices"))["success"]
    assert (await client.post("/logout", headers=headers)).status == 200
    closed = await ws.receive(timeout=STEP)
    assert closed.type == WSMsgType.CLOSE and closed.data == WSCloseCode.POLICY_VIOLATION
    assert hub.publish("notices", "notice", {"text": "after logout"}) == 0


class CountingStore(MemorySessionStore):
    def __init__(self) -> None:
        super().__init__()
        self.gets = self.reads = 0

    async def get(self, key: str) -> StoredSession | None:
        self.gets += 1
        return await super().get(key)

    async def get_many(self, keys: Any) -> dict[str, StoredSession]:
        self.reads += 1
        return await super().get_many(keys)


async def test_the_sockets_sessions_are_rechecked_in_one_read_for_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every few seconds each socket's session is checked again (a logout closes it):
    one read of the store for all the sockets, not one per socket."""
    monkeypatch.setattr(hub_module, "RECHECK_SECONDS", 0.05)
    store, hub = CountingStore(), LiveHub(TOPICS)
    async with serving_web(tmp_path, hub=hub, store=store) as client:
        await log_in(client, "ani")
        sockets = [await client.ws_connect("/ws") for _ in range(5)]
        await eventually(lambda: len(hub.clients) == 5, "five sockets")
        store.gets = store.reads = 0
        await eventually(lambda: store.reads >= 4, "four rounds of rechecks")
        assert store.gets == 0 and len(hub.clients) == 5
        store.rows.clear()  # the session ends (as a logout elsewhere): every socket closes
        for ws in sockets:  # once the controller's 2 s memory of the session has passed
            closed = await ws.receive(timeout=10 * STEP)
            assert closed.type == WSMsgType.CLOSE and closed.data == WSCloseCode.POLICY_VIOLATION
        assert not hub.clients
