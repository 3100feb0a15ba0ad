"""The call-taker's screen over HTTP and the live socket, against the real web app on a
free port, with the workspace service on fakes we own (Asterisk's queues, the store)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ntpd_ivr.ami.events import AgentCalled
from ntpd_ivr.location.model import DeskFix
from ntpd_ivr.web.app import GUARD, RouteGuard
from ntpd_ivr.web.auth import UserStore
from ntpd_ivr.web.hub import DEFAULT_TOPICS, LiveHub
from ntpd_ivr.workspace import http as workspace_http
from ntpd_ivr.workspace.model import TOPICS
from ntpd_ivr.workspace.service import WorkspaceService
from ntpd_ivr.workspace.wrapup import WrapUp
from tests.protocol.webtools import Client, csrf_headers, log_in, serving_web
from tests.workspace_fakes import FakeQueues, FakeStore

QUEUES = ("takers-default", "takers-palembang")
PRESENCE = "/api/workspace/presence"


class Fixture:
    def __init__(self) -> None:
        self.queues = FakeQueues()
        self.store = FakeStore()
        self.service: WorkspaceService | None = None
        # The location domain's fixes of a call, as the pop asks for them.
        self.fixes: list[DeskFix] = []
        self.fixes_asked: list[tuple[str, str | None]] = []

    async def fixes_of(self, uniqueid: str, caller: str | None, _: Any) -> list[DeskFix]:
        self.fixes_asked.append((uniqueid, caller))
        return self.fixes

    def domains(self, users: UserStore,
                hub: LiveHub) -> tuple[Any, ...]:
        self.service = WorkspaceService(self.queues, self.store, users, hub, lambda: QUEUES,
                                        fixes=self.fixes_of)
        return (workspace_http.routes(self.service),)


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


@pytest.fixture
async def client(tmp_path: Path, fx: Fixture) -> AsyncIterator[Client]:
    async with serving_web(tmp_path, hub=LiveHub({**DEFAULT_TOPICS, **TOPICS}),
                           domains=fx.domains) as test_client:
        yield test_client


async def test_without_a_session_the_page_sends_to_login_and_the_api_refuses(
        client: Client) -> None:
    page = await client.get("/workspace", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/login"
    state = await client.get("/api/workspace")
    assert state.status == 401 and (await state.json())["error"] == "unauthenticated"
    post = await client.post(PRESENCE, json={"action": "logout"},
                             headers=await csrf_headers(client))
    assert post.status == 401


async def test_a_post_without_csrf_is_refused_and_changes_nothing(
        client: Client, fx: Fixture) -> None:
    await log_in(client, "ani")
    reply = await client.post(PRESENCE, json={"action": "login", "queue": "takers-default"})
    assert reply.status == 403 and (await reply.json())["error"] == "csrf"
    assert fx.queues.sent == [] and fx.store.audits == []


@pytest.mark.parametrize("body", [
    {"action": "dance"}, {"action": "login", "queue": "takers-nowhere"},
    {"action": "pause", "reason": "nap"}, {"action": "pause"}, ["login"],
])
async def test_bad_input_is_a_400(client: Client, fx: Fixture, body: Any) -> None:
    headers = await log_in(client, "ani")
    reply = await client.post(PRESENCE, json=body, headers=headers)
    assert reply.status == 400 and (await reply.json())["error"] == "bad-request"
    assert fx.queues.sent == []


async def test_a_user_without_a_sip_endpoint_cannot_set_presence(client: Client) -> None:
    headers = await log_in(client, "budi")  # a supervisor: no phone of their own
    reply = await client.post(PRESENCE, json={"action": "login", "queue": "takers-default"},
                              headers=headers)
    assert reply.status == 409 and (await reply.json())["error"] == "no-endpoint"
    state = await (await client.get("/api/workspace")).json()
    assert state["sip_endpoint"] is None and state["presence"] is None


async def test_login_pause_logout_through_the_api(client: Client, fx: Fixture) -> None:
    headers = await log_in(client, "ani")
    reply = await client.post(PRESENCE, json={"action": "pause", "reason": "break"},
                              headers=headers)
    assert reply.status == 409 and (await reply.json())["error"] == "not-logged-in"
    reply = await client.post(PRESENCE, json={"action": "login", "queue": "takers-palembang"},
                              headers=headers)
    assert reply.status == 200, await reply.text()
    assert (await reply.json())["presence"]["state"] == "available"
    reply = await client.post(PRESENCE, json={"action": "pause", "reason": "break"},
                              headers=headers)
    body = await reply.json()
    assert (body["presence"]["state"], body["presence"]["reason"]) == ("paused", "break")
    state = await (await client.get("/api/workspace")).json()
    assert state["sip_endpoint"] == "taker-1" and state["presence"]["state"] == "paused"
    assert state["queues"] == list(QUEUES) and "break" in state["pause_reasons"]
    reply = await client.post(PRESENCE, json={"action": "login", "queue": "takers-palembang"},
                              headers=headers)
    assert reply.status == 409 and (await reply.json())["error"] == "already-member"
    reply = await client.post(PRESENCE, json={"action": "logout"}, headers=headers)
    assert (await reply.json())["presence"]["state"] == "logged-out"
    assert [a["action"] for a in fx.store.audits] == [
        "presence.pause", "presence.login", "presence.pause", "presence.login",
        "presence.logout"]
    assert {a["actor"] for a in fx.store.audits} == {"ani"}


async def test_asterisk_down_is_a_502_and_audited(client: Client, fx: Fixture) -> None:
    headers = await log_in(client, "ani")
    fx.queues.fail = "AMI QueueStatus not sent: not connected to Asterisk"
    reply = await client.post(PRESENCE, json={"action": "login", "queue": "takers-default"},
                              headers=headers)
    assert reply.status == 502 and (await reply.json())["error"] == "asterisk"
    assert fx.store.audits[-1]["outcome"].startswith("failed: ")


async def test_the_page_form_posts_back_to_the_page_in_the_users_language(
        client: Client, fx: Fixture) -> None:
    headers = await log_in(client, "ani")
    page = await client.get("/workspace", headers={"Accept": "text/html"})
    text = await page.text()
    assert page.status == 200 and "Tidak masuk antrean" in text and 'lang="id"' in text
    assert 'src="/static/workspace.js"' in text
    assert "http://" not in text and "https://" not in text  # every asset is local
    form = {"csrf_token": headers["X-CSRF-Token"], "action": "login",
            "queue": "takers-default"}
    reply = await client.post(PRESENCE, data=form, allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"] == "/workspace"
    switched = await client.post("/lang", data={"csrf_token": headers["X-CSRF-Token"],
                                                "lang": "en", "next": "/workspace"},
                                 allow_redirects=False)
    assert switched.status == 303
    text = await (await client.get("/workspace", headers={"Accept": "text/html"})).text()
    assert "Available" in text and 'lang="en"' in text
    refused = await client.post(PRESENCE, data={**form, "action": "pause", "reason": "x"},
                                headers={"Accept": "text/html"})
    assert refused.status == 400 and "Bad request" in await refused.text()
    for asset in ("/static/workspace.js", "/static/workspace.css"):
        assert (await client.get(asset)).status == 200


async def test_a_ringing_call_pops_on_the_call_takers_socket(client: Client,
                                                             fx: Fixture) -> None:
    await log_in(client, "ani")
    fx.store.rows["1.1"] = {"uniqueid": "1.1", "caller_number": "+628111",
                            "region": "palembang", "category": "fire"}
    socket = await client.ws_connect("/ws")
    await socket.send_str(json.dumps({"id": 1, "type": "subscribe", "topic": "workspace"}))
    assert json.loads(await socket.receive_str(timeout=2))["success"]
    assert fx.service is not None
    fx.service.on_event(AgentCalled(
        name="AgentCalled", received_at=time.time(), uniqueid="1.1", queue="takers-palembang",
        interface="PJSIP/taker-1", member_name="taker-1", dest_channel="PJSIP/taker-1-01",
        caller_number="+628111"))
    # Generous (a loaded machine): the 1 s pop budget is measured end to end, on a real
    # call (tests/e2e/test_workspace.py); here the pop only has to come.
    event = json.loads(await socket.receive_str(timeout=15))
    assert (event["topic"], event["kind"]) == ("workspace", "call.ringing")
    assert event["data"]["category"] == "fire" and event["data"]["caller_number"] == "+628111"
    state = await (await client.get("/api/workspace")).json()
    assert state["call"]["uniqueid"] == "1.1"
    await socket.close()


def test_the_routes_have_roles(fx: Fixture, tmp_path: Path) -> None:
    app = web.Application()
    app[GUARD] = RouteGuard({}, set())
    fx.domains(UserStore(None), LiveHub(TOPICS))[0](app)
    named = {r.name for r in app.router.routes() if r.name}
    assert named == set(workspace_http.ROLES) and set(app[GUARD].roles) == named
    assert app[GUARD].pages == {"workspace"}


async def test_a_wrap_up_is_in_the_state_and_refuses_an_unpause(client: Client,
                                                               fx: Fixture) -> None:
    headers = await log_in(client, "ani")
    reply = await client.post(PRESENCE, json={"action": "login", "queue": "takers-palembang"},
                              headers=headers)
    assert reply.status == 200
    fx.queues.members[("takers-palembang", "PJSIP/taker-1")].paused = True
    fx.queues.members[("takers-palembang", "PJSIP/taker-1")].reason = "wrap-up"
    now = datetime.now(UTC)
    wrapup = WrapUp("1.1", "taker-1", now, now + timedelta(seconds=60))
    fx.store.wrapups = [{"wrapup": wrapup, "ended_at": None, "outcome": None}]
    assert fx.service is not None
    await fx.service.resync()  # as after an AMI login: restored from its row
    state = await (await client.get("/api/workspace")).json()
    assert state["wrapup"]["uniqueid"] == "1.1" and state["call"]["uniqueid"] == "1.1"
    reply = await client.post(PRESENCE, json={"action": "unpause"}, headers=headers)
    assert reply.status == 409 and (await reply.json())["error"] == "wrap-up"
    page = await (await client.get("/workspace")).text()
    assert 'id="incident-form"' in page and 'id="wrapup-initial"' in page
    assert '<option value="ambulance">' in page  # the categories of the routing config
    await fx.service.stop()


AT = datetime(2026, 12, 7, 9, 15, tzinfo=UTC)
AML = DeskFix("aml", -2.9761, 104.7754, 12.0, "gnss", AT)


async def next_event(socket: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await socket.receive_str(timeout=15))
    return event


async def test_the_pop_has_the_fixes_and_a_new_fix_comes_live(client: Client,
                                                                fx: Fixture) -> None:
    """Issue 21 item 4: the pop's `fixes` (the phone's, best first); a later fix live as
    `location.fix` to the call-taker who has the call; the SMS gateway's status to every
    desk."""
    await log_in(client, "ani")
    fx.fixes = [AML]
    fx.store.rows["1.1"] = {"uniqueid": "1.1", "caller_number": "+6281234567890",
                            "category": "fire", "location_kind": "circle",
                            "location_source": "network", "location_lat": -2.98,
                            "location_lon": 104.76, "location_radius_m": 500.0,
                            "arrived_at": AT}
    socket = await client.ws_connect("/ws")
    await socket.send_str(json.dumps({"id": 1, "type": "subscribe", "topic": "workspace"}))
    assert (await next_event(socket))["success"]
    assert fx.service is not None
    fx.service.on_event(AgentCalled(
        name="AgentCalled", received_at=time.time(), uniqueid="1.1", queue="takers-default",
        interface="PJSIP/taker-1", member_name="taker-1", dest_channel="PJSIP/taker-1-01",
        caller_number="+6281234567890"))
    pop = await next_event(socket)
    assert pop["kind"] == "call.ringing" and fx.fixes_asked == [("1.1", "+6281234567890")]
    # The phone's fixes; the operator's position stays in `location` (the map adds it).
    assert pop["data"]["fixes"] == [
        {"source": "aml", "lat": -2.9761, "lon": 104.7754, "radius_m": 12.0,
         "method": "gnss", "at": "2026-12-07T09:15:00+00:00"}]
    assert pop["data"]["location"]["radius_m"] == 500.0
    link = DeskFix("link", -2.9765, 104.7750, 5.0, "browser", datetime(2026, 12, 7, 9, 20,
                                                                      tzinfo=UTC))
    assert fx.service.add_fix("1.1", link) == 1
    live = await next_event(socket)
    assert (live["topic"], live["kind"]) == ("workspace", "location.fix")
    assert (live["data"]["call"], live["data"]["fix"]) == ("1.1", link.as_json())
    # All of the call's fixes, best first (the newest, and the most accurate of its minute),
    # in the message and on a reloaded screen.
    assert [f["source"] for f in live["data"]["fixes"]] == ["link", "aml"]
    state = await (await client.get("/api/workspace")).json()
    assert state["call"]["fixes"] == live["data"]["fixes"]
    # A fix of a call no screen has goes nowhere (the pop's look-up will find it).
    assert fx.service.add_fix("9.9", link) == 0
    fx.service.sms_status(False, 3)
    status = await next_event(socket)
    assert (status["kind"], status["data"]) == ("sms.status", {"up": False, "waiting": 3})
    page = await (await client.get("/workspace")).text()
    assert 'id="sms-down"' in page and 'id="sms-down" hidden' not in page
    await socket.close()
