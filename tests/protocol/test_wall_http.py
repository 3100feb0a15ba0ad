"""The supervisor's wall over HTTP and the live socket, against the real web app on a free
port, with the wall service on fakes we own (Asterisk's queues, the database reads)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ntpd_ivr.ami.events import ActionResult, Newchannel, QueueCallerJoin
from ntpd_ivr.settings import WallSettings
from ntpd_ivr.wall import http as wall_http
from ntpd_ivr.wall.model import TOPICS
from ntpd_ivr.wall.service import WallService
from ntpd_ivr.web.auth import UserStore
from ntpd_ivr.web.hub import DEFAULT_TOPICS, LiveHub
from tests.protocol.webtools import Client, log_in, serving_web
from tests.workspace_fakes import FakeQueues


class Asterisk(FakeQueues):
    """QueueStatus from FakeQueues; no live channel."""

    async def action(self, action: dict[str, str],
                     timeout: float | None = None) -> ActionResult:  # noqa: ASYNC109
        if action["Action"] == "CoreShowChannels":
            result = await super().action({"Action": "QueueStatus", "Member": "none"})
            return ActionResult(result.response)
        return await super().action(action, timeout)


class Reads:
    async def figures_today(self, now: datetime) -> dict[str, Any]:
        return {"offered": 4, "answered": 3, "answered_within_10s_pct": 75.0,
                "answered_within_15s_pct": 75.0, "answered_within_20s_pct": 75.0,
                "abandon_rate_pct": 25.0, "slowest_10pct_average_seconds": 12.0}

    async def open_incidents(self) -> list[dict[str, Any]]:
        return [{"id": 7, "category": "fire", "kecamatan": "Ilir Barat I", "severity": "high"}]

    async def waiting_dispatches(self) -> list[dict[str, Any]]:
        return [{"id": 3, "incident_id": 7, "agency": "palembang-damkar", "status": "notified",
                 "category": "fire"}]


class Fixture:
    def __init__(self) -> None:
        self.asterisk = Asterisk()
        self.asterisk.static("takers-palembang", "PJSIP/taker-1")
        self.service: WallService | None = None

    def domains(self, users: UserStore, hub: LiveHub) -> tuple[Any, ...]:
        self.service = WallService(self.asterisk, Reads(), hub, WallSettings(),
                                   known_takers=lambda: {"taker-1", "taker-2"},
                                   ami_connected=lambda: True)
        return (wall_http.routes(self.service),)


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


@pytest.fixture
async def client(tmp_path: Path, fx: Fixture) -> AsyncIterator[Client]:
    async with serving_web(tmp_path, hub=LiveHub({**DEFAULT_TOPICS, **TOPICS}),
                           domains=fx.domains) as test_client:
        yield test_client


async def test_the_wall_is_for_supervisors_only(client: Client) -> None:
    page = await client.get("/wall", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/login"
    assert (await client.get("/api/wall")).status == 401
    await log_in(client, "ani")  # a call-taker
    assert (await client.get("/api/wall")).status == 403
    assert (await client.get("/wall", headers={"Accept": "text/html"})).status == 403


async def test_the_page_renders_the_state_and_the_socket_pushes_changes(
        client: Client, fx: Fixture) -> None:
    assert fx.service is not None
    await fx.service.rebuild()
    await fx.service.refresh_figures()
    await fx.service.refresh_incidents()
    await log_in(client, "budi")
    page = await client.get("/wall")
    assert page.status == 200
    html = await page.text()
    initial = json.loads(html.split('id="wall-initial">', 1)[1].split("</script>", 1)[0])
    assert [t["endpoint"] for t in initial["takers"]] == ["taker-1", "taker-2"]
    assert [t["state"] for t in initial["takers"]] == ["available", "logged-out"]
    assert initial["figures"]["offered"] == 4 and initial["incidents"][0]["id"] == 7
    assert initial["dispatches"][0]["status"] == "notified"
    assert initial["ami_connected"] is True and initial["as_of"] is not None
    assert "Dinding supervisor" in html  # Bahasa Indonesia by default

    async with client.ws_connect("/ws") as socket:
        await socket.send_str(json.dumps({"id": 1, "type": "subscribe", "topic": "wall"}))
        assert json.loads(await socket.receive_str(timeout=5))["success"]
        at = 1_800_000_000.0
        fx.service.on_event(Newchannel(
            name="Newchannel", received_at=at, uniqueid="1.1", linkedid="1.1",
            channel="PJSIP/operator-local-01", caller_number="+6281234", context="from-operator",
            exten="112"))
        fx.service.on_event(QueueCallerJoin(name="QueueCallerJoin", received_at=at + 2,
                                            uniqueid="1.1", queue="takers-palembang",
                                            position=1, caller_number="+6281234"))
        pushed = json.loads(await socket.receive_str(timeout=5))  # one push for both
        assert pushed["kind"] == "state"
        assert [c["uniqueid"] for c in pushed["data"]["queues"]["takers-palembang"]] == ["1.1"]
        assert pushed["data"]["ivr"] == []
        # Then only what changed: the new call, not the one waiting as it was.
        fx.service.on_event(Newchannel(
            name="Newchannel", received_at=at + 3, uniqueid="1.2", linkedid="1.2",
            channel="PJSIP/operator-local-02", caller_number="+6281235", context="from-operator",
            exten="112"))
        changes = json.loads(await socket.receive_str(timeout=5))
        assert (changes["kind"], changes["data"]["seq"]) == ("changes", pushed["data"]["seq"] + 1)
        assert [(c["uniqueid"], c["state"]) for c in changes["data"]["calls"]] == [("1.2", "ivr")]
        assert changes["data"]["gone"] == [] and "queues" not in changes["data"]
    state = await (await client.get("/api/wall")).json()
    assert state["queues"]["takers-palembang"][0]["since"] == at + 2
