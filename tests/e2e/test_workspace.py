"""The call-taker's screen against the real stack: web users tied to the SIP stand-ins,
a real SIPp 112 call popping on the rung call-taker's WebSocket within 1 s of AgentCalled,
and queue presence set through the API landing in Asterisk's queue and surviving a
controller restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from ntpd_ivr.db.session import make_engine
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import DevStack
from ntpd_ivr.workspace.store import audit_rows
from tests.stack_fixtures import add_web_user

from .conftest import Controller, Takers, caller, dial, record

pytestmark = pytest.mark.e2e

USERS = {"ws-ani": "taker-1", "ws-budi": "taker-2"}
PASSWORD = "workspace-test-password"
MUBA = "takers-muba"  # no stand-in is a member: taker-1 can log in to it and out again


@pytest.fixture(scope="module")
def workspace_users(stack: DevStack, controller: Controller) -> Iterator[None]:
    """Web users tied to the stand-ins, added to the running controller's users file (it
    reads the file again when it changed: UserStore.refresh)."""
    for name, endpoint in USERS.items():
        add_web_user(stack, name, PASSWORD, sip_endpoint=endpoint)
    controller.ensure_running()
    yield
    # A popped call that ended without a disposition left its call-taker in wrap-up
    # (ntpd_ivr/workspace/wrapup.py): the stand-ins go back as the other tests expect them.
    assert stack.asterisk is not None
    for endpoint in USERS.values():
        stack.asterisk.cli(f"queue unpause member PJSIP/{endpoint}")


@dataclass
class Screen:
    http: aiohttp.ClientSession
    base: str
    csrf: str
    socket: aiohttp.ClientWebSocketResponse

    async def presence(self, **body: str) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.base}/api/workspace/presence", json=body,
                                  headers={"X-CSRF-Token": self.csrf}) as reply:
            return reply.status, await reply.json()

    async def state(self) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/api/workspace") as reply:
            assert reply.status == 200
            answer: dict[str, Any] = await reply.json()
            return answer

    async def next_event(self, kind: str, within: float) -> tuple[dict[str, Any], float]:
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {kind} event within {within} s"
            message = json.loads(await self.socket.receive_str(timeout=left))
            if message.get("kind") == kind:
                return message["data"], time.time()


@contextlib.asynccontextmanager
async def screen(stack: DevStack, user: str) -> AsyncIterator[Screen]:
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/api/csrf") as reply:
            token = (await reply.json())["csrf_token"]
        async with http.post(f"{base}/login", json={"user": user, "password": PASSWORD},
                             headers={"X-CSRF-Token": token}) as reply:
            assert reply.status == 200, await reply.text()
            token = (await reply.json())["csrf_token"]
        async with http.ws_connect(f"{base}/ws") as socket:
            await socket.send_str(json.dumps({"id": 1, "type": "subscribe",
                                              "topic": "workspace"}))
            assert json.loads(await socket.receive_str(timeout=5))["success"]
            yield Screen(http, base, token, socket)


async def test_a_real_call_pops_on_the_rung_call_takers_screen_within_1_s(
        stack: DevStack, workspace_users: None, running_controller: Controller,
        takers: Takers) -> None:
    number = caller()
    async with screen(stack, "ws-ani") as ani, screen(stack, "ws-budi") as budi:
        call = asyncio.create_task(dial(stack, number, "1"))
        waits = {asyncio.create_task(s.next_event("call.ringing", 30)): user
                 for s, user in ((ani, "ws-ani"), (budi, "ws-budi"))}
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        first = done.pop()
        pop, received_at = first.result()
        rung_user = waits[first]
        await call
    row, steps = await record(stack, number, kinds=frozenset({"agent.called"}))
    called = next(s for s in steps if s["kind"] == "agent.called")
    assert called["detail"]["interface"] == f"PJSIP/{USERS[rung_user]}"
    assert pop["uniqueid"] == row["uniqueid"] and pop["endpoint"] == USERS[rung_user]
    # Asterisk's own event time (timestampevents) against our clock: the same machine.
    assert received_at - called["at"].timestamp() < 1.0
    assert pop["caller_number"] == canonical_caller(number)
    assert (pop["region"], pop["category"]) == (row["region"], row["category"])
    assert pop["category"] == "ambulance" and pop["wait_seconds"] is not None
    assert pop["history_complete"] is True and pop["history"] == []  # a new number


def queue_line(stack: DevStack, endpoint: str) -> str:
    assert stack.asterisk is not None
    shown = stack.asterisk.cli(f"queue show {MUBA}")
    return next((line for line in shown.splitlines() if f"PJSIP/{endpoint}" in line), "")


async def test_presence_from_the_api_is_asterisks_and_survives_a_restart(
        stack: DevStack, workspace_users: None, running_controller: Controller) -> None:
    try:
        async with screen(stack, "ws-ani") as ani:
            status, body = await ani.presence(action="login", queue=MUBA)
            assert status == 200, body
            line = queue_line(stack, "taker-1")
            assert "(dynamic)" in line and "paused" not in line, line
            pushed, _ = await ani.next_event("presence", 5)
            while all(q["queue"] != MUBA for q in pushed["queues"]):
                # the end of the previous test's wrap-up may come first
                pushed, _ = await ani.next_event("presence", 5)
            assert pushed["state"] == "available"
            status, body = await ani.presence(action="pause", reason="break")
            assert (status, body["presence"]["reason"]) == (200, "break")
            assert "paused:break" in queue_line(stack, "taker-1")
        running_controller.stop()
        running_controller.start()
        async with screen(stack, "ws-ani") as ani:
            deadline = time.monotonic() + 10
            while (state := await ani.state())["presence"]["state"] != "paused":
                assert time.monotonic() < deadline, state  # rebuilt after the AMI login
                await asyncio.sleep(0.2)
            muba = [q for q in state["presence"]["queues"] if q["queue"] == MUBA]
            assert muba and muba[0]["dynamic"] and muba[0]["reason"] == "break"
            status, body = await ani.presence(action="unpause")
            assert status == 200 and "paused" not in queue_line(stack, "taker-1")
            status, body = await ani.presence(action="logout")
            assert status == 200 and queue_line(stack, "taker-1") == ""
            assert all(q["queue"] != MUBA for q in body["presence"]["queues"])
        # The controller's own entries (wrap-up after a popped call) come in between.
        rows = [r for r in await audit_trail(stack, "taker-1") if r["actor"] == "ws-ani"]
        assert [(r["actor"], r["action"], r["outcome"]) for r in rows][-4:] == [
            ("ws-ani", "presence.login", "ok"), ("ws-ani", "presence.pause", "ok"),
            ("ws-ani", "presence.unpause", "ok"), ("ws-ani", "presence.logout", "ok")]
        assert rows[-3]["detail"] == {"reason": "break"}
    finally:  # whatever failed, the stand-in goes back to how the other tests expect it
        assert stack.asterisk is not None
        stack.asterisk.cli("queue unpause member PJSIP/taker-1")
        stack.asterisk.cli(f"queue remove member PJSIP/taker-1 from {MUBA}")


async def audit_trail(stack: DevStack, target: str) -> list[dict[str, Any]]:
    """The audit rows about `target`, oldest first."""
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        return list(reversed(await audit_rows(engine, target)))
    finally:
        await engine.dispose()
