"""Connect dispatch end to end: a real SIPp 112 caller answered by a call-taker stand-in,
`POST /api/incidents/{id}/dispatches` with mode connect, the controller's Originate to the
agency's SIPp stand-ins (Asterisk 22), key 1, and the ConfBridge; the dispatch read back
from the API and PostgreSQL, the conference from Asterisk itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from ntpd_ivr.stack.devstack import AGENCY_IP, OPERATOR_IP, DevStack
from ntpd_ivr.stack.sipp import SippResult, Taker, place_call
from tests.waiting import held_reachable, standing_by

from .conftest import Controller, Takers, call_rows, caller, record
from .test_config_reload import config_reload

pytestmark = pytest.mark.e2e

# The caller stays this long after pressing 1, then hangs up: long enough for an accepted
# dispatch, and for one that rings out BPBD's backup trunk (ring_seconds 10).
ACCEPT_HOLD_MS = 14000
RING_OUT_HOLD_MS = 20000


@dataclass
class Api:
    http: aiohttp.ClientSession
    base: str
    csrf: str

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.base}{path}", json=body,
                                  headers={"X-CSRF-Token": self.csrf}) as reply:
            return reply.status, await reply.json()

    async def get(self, path: str) -> dict[str, Any]:
        async with self.http.get(f"{self.base}{path}") as reply:
            assert reply.status == 200, await reply.text()
            answer: dict[str, Any] = await reply.json()
            return answer


@contextlib.asynccontextmanager
async def supervisor(stack: DevStack) -> AsyncIterator[Api]:
    """Logged in as the stack's supervisor (a supervisor may do what a call-taker does)."""
    password = json.loads((stack.layout.run_dir / "secrets.json").read_text())[
        "web_supervisor_password"]
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     timeout=aiohttp.ClientTimeout(total=20)) as http:
        async with http.get(f"{base}/api/csrf") as reply:
            token = (await reply.json())["csrf_token"]
        async with http.post(f"{base}/login", json={"user": "supervisor",
                                                    "password": password},
                             headers={"X-CSRF-Token": token}) as reply:
            assert reply.status == 200, await reply.text()
            token = (await reply.json())["csrf_token"]
        yield Api(http, base, token)


class Agencies:
    def __init__(self, stack: DevStack) -> None:
        self.stack = stack
        self.started: list[Taker] = []

    def start(self, trunk: str, scenario: str, talk_ms: int = 1500, digit: str = "1"
              ) -> Taker:
        keys = {"digit": digit} if scenario == "agency-accept.xml" else None
        taker = Taker(AGENCY_IP, self.stack.layout.agency_port(trunk), talk_ms=talk_ms,
                      scenario=scenario, keys=keys)
        self.started.append(taker)
        held_reachable(self.stack.asterisk, trunk)  # the trunk is dialled
        return taker

    def stop(self) -> None:
        for taker in self.started:
            taker.stop()


@pytest.fixture
def agencies(stack: DevStack) -> Iterator[Agencies]:
    group = Agencies(stack)
    yield group
    group.stop()


BPBD_HOURS = 'hours = "07:30-16:00"'


@contextlib.contextmanager
def bpbd_hours(stack: DevStack, hours: str) -> Iterator[None]:
    """BPBD Kota Palembang's hours set in the stack's routing file (and reloaded), then put
    back: these tests do not depend on the time of day they run at."""
    original = stack.routing_file.read_text()
    assert BPBD_HOURS in original
    stack.routing_file.write_text(original.replace(BPBD_HOURS, f'hours = "{hours}"', 1))
    reload = config_reload(stack)
    assert reload.returncode == 0, reload.stdout + reload.stderr
    try:
        yield
    finally:
        stack.routing_file.write_text(original)
        assert config_reload(stack).returncode == 0


@pytest.fixture
def bpbd_open(stack: DevStack, running_controller: Controller) -> Iterator[None]:
    with bpbd_hours(stack, "00:00-24:00"):
        yield


@pytest.fixture
def long_takers(stack: DevStack) -> Iterator[Takers]:
    """Call-taker stand-ins that stay on the call well past the caller."""
    group = Takers(stack.layout.taker_ports, talk_ms=60000)
    standing_by(*group.by_name.values())
    yield group
    group.stop()


async def caller_with_a_taker(stack: DevStack, number: str, hold_ms: int = ACCEPT_HOLD_MS
                              ) -> tuple[asyncio.Task[SippResult], str]:
    """A 112 call (key 1) that a call-taker answers; its uniqueid once it is connected.
    To the stack's own address (tests/two_centers.py binds each center to one)."""
    call = asyncio.create_task(asyncio.to_thread(
        place_call, f"{stack.bind}:{stack.layout.sip_port}", OPERATOR_IP, 0, digit="1",
        caller=number, digit_delay_ms=hold_ms, timeout=60,
        scenario="caller-dispatch.xml"))
    deadline = time.monotonic() + 20
    while True:
        rows = await call_rows(stack, [number])
        if rows and rows[0]["answered_by"]:
            return call, rows[0]["uniqueid"]
        assert not call.done(), (await call).output[-3000:]
        assert time.monotonic() < deadline, f"no call-taker answered {number}: {rows}"
        await asyncio.sleep(0.2)


async def dispatch_connect(api: Api, uniqueid: str, category: str, agency: str
                           ) -> dict[str, Any]:
    status, incident = await api.post("/api/incidents", {
        "region": "palembang", "category": category, "kecamatan": "Ilir Barat I",
        "description": "uji penugasan", "severity": "high", "call": uniqueid})
    assert status == 201, incident
    status, dispatch = await api.post(f"/api/incidents/{incident['id']}/dispatches",
                                      {"agency": agency, "mode": "connect", "call": uniqueid})
    assert status == 201, dispatch
    assert dispatch["status"] == "dialing" and dispatch["mode"] == "connect"
    return dispatch


async def dispatch_until(api: Api, dispatch: dict[str, Any], statuses: set[str],
                         within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        incident = await api.get(f"/api/incidents/{dispatch['incident_id']}")
        found = next(d for d in incident["dispatches"] if d["id"] == dispatch["id"])
        if found["status"] in statuses:
            return found
        assert time.monotonic() < deadline, f"dispatch still {found['status']}: {found}"
        await asyncio.sleep(0.2)


def conference(stack: DevStack, dispatch_id: int | str) -> list[str]:
    """The channels in the dispatch's ConfBridge (or a transfer's, room t<reference>), as
    Asterisk lists them."""
    assert stack.asterisk is not None
    shown = stack.asterisk.cli(f"confbridge list ntpd-dispatch-{dispatch_id}")
    return [line.split()[0] for line in shown.splitlines() if line.startswith("PJSIP/")]


async def members_until(stack: DevStack, dispatch_id: int | str, count: int,
                        within: float) -> list[str]:
    deadline = time.monotonic() + within
    while True:
        members = await asyncio.to_thread(conference, stack, dispatch_id)
        if len(members) == count:
            return members
        assert time.monotonic() < deadline, f"conference has {members}, not {count}"
        await asyncio.sleep(0.2)


@dataclass
class Accepted:
    call: asyncio.Task[SippResult]
    number: str
    uniqueid: str
    dispatch: dict[str, Any]  # as created
    accepted: dict[str, Any]  # as it is once accepted
    history: list[dict[str, Any]]  # the incident's audit entries


async def accepted_connect(stack: DevStack, agency: str, hold_ms: int = ACCEPT_HOLD_MS
                           ) -> Accepted:
    """A caller with a call-taker, a connect dispatch of a fire to `agency`, accepted."""
    number = caller()
    call, uniqueid = await caller_with_a_taker(stack, number, hold_ms)
    async with supervisor(stack) as api:
        dispatch = await dispatch_connect(api, uniqueid, "fire", agency)
        accepted = await dispatch_until(api, dispatch, {"accepted"}, 20)
        history = (await api.get(f"/api/incidents/{dispatch['incident_id']}"))["history"]
    return Accepted(call, number, uniqueid, dispatch, accepted, history)


def trunk(channel: str) -> str:
    """'PJSIP/agency-damkar-plg-0000001f' -> 'agency-damkar-plg'."""
    return channel.removeprefix("PJSIP/").rpartition("-")[0]


async def test_an_agency_that_presses_1_joins_the_caller_and_the_call_taker(
        stack: DevStack, running_controller: Controller, long_takers: Takers,
        agencies: Agencies) -> None:
    damkar = agencies.start("agency-damkar-plg", "agency-accept.xml")
    done = await accepted_connect(stack, "palembang-damkar", hold_ms=18000)
    call, number, dispatch, accepted = done.call, done.number, done.dispatch, done.accepted
    assert accepted["attempts"] == 1
    assert accepted["created_at"] < accepted["answered_at"] <= accepted["accepted_at"]
    members = await members_until(stack, dispatch["id"], 3, 8)
    assert {trunk(m) for m in members} - {"taker-1", "taker-2"} == {
        "agency-damkar-plg", "operator-local"}, members
    # The call-taker leaves (hangs up): the caller and the agency stay connected.
    taker_leg = next(m for m in members if trunk(m).startswith("taker-"))
    assert stack.asterisk is not None
    stack.asterisk.cli(f"channel request hangup {taker_leg}")
    left = await members_until(stack, dispatch["id"], 2, 5)
    assert {trunk(m) for m in left} == {"agency-damkar-plg", "operator-local"}, left
    # Then the agency hangs up too: the caller is not left alone in a silent conference,
    # a call-taker (the other stand-in) takes them again.
    agency_leg = next(m for m in left if trunk(m) == "agency-damkar-plg")
    stack.asterisk.cli(f"channel request hangup {agency_leg}")
    deadline = time.monotonic() + 8
    while True:
        now = await asyncio.to_thread(channel_of, stack, done.uniqueid)
        if now is not None and now["application"] == "Queue" and now["bridge"]:
            break
        assert time.monotonic() < deadline, f"the caller is not back with a call-taker: {now}"
        await asyncio.sleep(0.2)
    # The caller hangs up: the agency is released (its stand-in gets the BYE and ends well).
    result = await call
    assert result.ok, result.output[-3000:]
    agency_result = await asyncio.to_thread(damkar.wait, 15)
    assert agency_result.ok, agency_result.output[-3000:]
    row, steps = await record(stack, number, kinds=frozenset({"dispatch.conference"}))
    # The caller's record is whole: answered by the call-taker, then the conference.
    assert row["disposition"] == "answered" and row["answered_by"] in ("taker-1", "taker-2")
    assert "dispatch.back-to-queue" in {s["kind"] for s in steps}
    step = next(s["detail"] for s in steps if s["kind"] == "dispatch.conference")
    assert step["dispatch"] == dispatch["id"]
    assert step["conference"] == f"ntpd-dispatch-{dispatch['id']}"
    assert trunk(step["agency_channel"]) == "agency-damkar-plg"


async def test_a_busy_primary_falls_over_to_the_backup_and_a_second_agency_joins(
        stack: DevStack, running_controller: Controller, bpbd_open: None, long_takers: Takers,
        agencies: Agencies) -> None:
    busy = agencies.start("agency-damkar-plg", "agency-busy.xml")
    backup = agencies.start("agency-damkar-plg-backup", "agency-accept.xml")
    bpbd = agencies.start("agency-bpbd-plg", "agency-accept.xml")
    done = await accepted_connect(stack, "palembang-damkar", hold_ms=20000)
    call, dispatch, accepted, history = done.call, done.dispatch, done.accepted, done.history
    assert accepted["attempts"] == 2
    assert accepted["answered_at"] <= accepted["accepted_at"]
    trunks = [e["detail"].get("trunk") for e in history if e["action"] == "dispatch.attempt"]
    assert trunks == ["agency-damkar-plg", "agency-damkar-plg-backup"], history
    answered = [e["detail"]["trunk"] for e in history if e["action"] == "dispatch.answer"]
    assert answered == ["agency-damkar-plg-backup"]
    members = await members_until(stack, dispatch["id"], 3, 8)
    assert "agency-damkar-plg-backup" in {trunk(m) for m in members}, members
    assert (await asyncio.to_thread(busy.wait, 5)).ok  # it was dialled, and said busy
    # A second agency for the same caller joins the conference that is already running.
    async with supervisor(stack) as api:
        status, second = await api.post(
            f"/api/incidents/{dispatch['incident_id']}/dispatches",
            {"agency": "palembang-bpbd", "mode": "connect", "call": done.uniqueid})
        assert status == 201, second
        await dispatch_until(api, second, {"accepted"}, 20)
    members = await members_until(stack, dispatch["id"], 4, 8)
    assert {"agency-damkar-plg-backup", "agency-bpbd-plg"} <= {trunk(m) for m in members}
    result = await call
    assert result.ok, result.output[-3000:]
    for agency in (backup, bpbd):  # both released when the caller hangs up
        agency_result = await asyncio.to_thread(agency.wait, 15)
        assert agency_result.ok, agency_result.output[-3000:]


@contextlib.asynccontextmanager
async def watching(api: Api, topic: str) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """The live hub's /ws, subscribed to `topic`, as a screen is."""
    async with api.http.ws_connect(f"{api.base}/ws") as socket:
        await socket.send_str(json.dumps({"id": 1, "type": "subscribe", "topic": topic}))
        assert json.loads(await socket.receive_str(timeout=5))["success"]
        yield socket


async def next_event(socket: aiohttp.ClientWebSocketResponse, kind: str, within: float
                     ) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind} on the live hub within {within} s"
        message = json.loads(await socket.receive_str(timeout=left))
        if message.get("kind") == kind:
            data: dict[str, Any] = message["data"]
            return data


def channel_of(stack: DevStack, uniqueid: str) -> dict[str, str] | None:
    """The channel with this uniqueid as `core show channels concise` shows it."""
    assert stack.asterisk is not None
    names = ("channel", "context", "exten", "priority", "state", "application", "data",
             "caller", "accountcode", "peeraccount", "amaflags", "duration", "bridge",
             "uniqueid")
    for line in stack.asterisk.cli("core show channels concise").splitlines():
        fields = dict(zip(names, line.split("!"), strict=False))
        if fields.get("uniqueid") == uniqueid:
            return fields
    return None


async def test_no_trunk_answers_the_call_taker_is_told_and_keeps_the_caller(
        stack: DevStack, running_controller: Controller, bpbd_open: None, long_takers: Takers,
        agencies: Agencies) -> None:
    # BPBD Palembang: primary busy, backup rings out its ring_seconds (10).
    agencies.start("agency-bpbd-plg", "agency-busy.xml")
    ringing = agencies.start("agency-bpbd-plg-backup", "agency-ring.xml")
    number = caller()
    call, uniqueid = await caller_with_a_taker(stack, number, RING_OUT_HOLD_MS)
    before = await asyncio.to_thread(channel_of, stack, uniqueid)
    assert before is not None and before["bridge"], before
    async with supervisor(stack) as api, watching(api, "incidents") as socket:
        dispatch = await dispatch_connect(api, uniqueid, "disaster", "palembang-bpbd")
        failed = await next_event(socket, "dispatch.failed", 20)
        timed_out = await dispatch_until(api, dispatch, {"timed-out"}, 5)
    assert failed["id"] == dispatch["id"] and failed["call"] == uniqueid
    assert failed["reason"] == "unreachable"
    assert [a["outcome"] for a in failed["attempts"]] == ["busy", "no-answer"]
    assert timed_out["attempts"] == 2 and timed_out["answered_at"] is None
    assert timed_out["timed_out_at"] is not None
    # The caller is still up, in the same bridge with the call-taker, never moved: read
    # after the failure was told, so the call-taker was told while the caller was on the
    # line (an ordering, where a stopwatch against RING_OUT_HOLD_MS stood).
    after = await asyncio.to_thread(channel_of, stack, uniqueid)
    assert after is not None and after["bridge"] == before["bridge"], (before, after)
    assert after["application"] == "Queue" and after["context"] != "ntpd-dispatch-conference"
    assert (await asyncio.to_thread(ringing.wait, 5)).ok  # rung, then cancelled
    result = await call  # and hangs up when it likes: nobody hung up on it
    assert result.ok, result.output[-3000:]


async def test_a_controller_restarted_mid_dispatch_strands_nobody_and_still_bridges(
        stack: DevStack, running_controller: Controller, long_takers: Takers,
        agencies: Agencies) -> None:
    # The agency listens 12 s before it presses 1: the controller is killed while the
    # agency hears the announcement and is back before the key.
    damkar = agencies.start("agency-damkar-plg", "agency-accept.xml", talk_ms=12000)
    number = caller()
    call, uniqueid = await caller_with_a_taker(stack, number, hold_ms=26000)
    before = await asyncio.to_thread(channel_of, stack, uniqueid)
    assert before is not None and before["bridge"], before
    async with supervisor(stack) as api:
        dispatch = await dispatch_connect(api, uniqueid, "fire", "palembang-damkar")
        await dispatch_until(api, dispatch, {"answered"}, 10)
    running_controller.kill()
    during = await asyncio.to_thread(channel_of, stack, uniqueid)
    assert during is not None and during["bridge"] == before["bridge"], (before, during)
    await asyncio.to_thread(running_controller.start)
    async with supervisor(stack) as api:
        accepted = await dispatch_until(api, dispatch, {"accepted"}, 15)
    assert accepted["attempts"] == 1 and accepted["accepted_at"] is not None
    members = await members_until(stack, dispatch["id"], 3, 8)
    assert "agency-damkar-plg" in {trunk(m) for m in members}, members
    result = await call
    assert result.ok, result.output[-3000:]
    assert (await asyncio.to_thread(damkar.wait, 15)).ok


async def test_an_agency_that_presses_2_refuses_and_the_caller_stays_with_the_call_taker(
        stack: DevStack, running_controller: Controller, long_takers: Takers,
        agencies: Agencies) -> None:
    damkar = agencies.start("agency-damkar-plg", "agency-accept.xml", digit="2")
    number = caller()
    call, uniqueid = await caller_with_a_taker(stack, number)
    before = await asyncio.to_thread(channel_of, stack, uniqueid)
    assert before is not None and before["bridge"], before
    async with supervisor(stack) as api, watching(api, "incidents") as socket:
        dispatch = await dispatch_connect(api, uniqueid, "fire", "palembang-damkar")
        failed = await next_event(socket, "dispatch.failed", 20)
        refused = await dispatch_until(api, dispatch, {"refused"}, 5)
    assert (failed["id"], failed["reason"], failed["status"]) == (
        dispatch["id"], "refused", "refused")
    assert refused["answered_at"] <= refused["refused_at"] and refused["accepted_at"] is None
    assert (await asyncio.to_thread(damkar.wait, 10)).ok  # released after its "2"
    after = await asyncio.to_thread(channel_of, stack, uniqueid)
    assert after is not None and after["bridge"] == before["bridge"], (before, after)
    result = await call
    assert result.ok, result.output[-3000:]


async def test_a_closed_agency_is_refused_with_its_reason_and_never_dialled(
        stack: DevStack, running_controller: Controller, long_takers: Takers,
        agencies: Agencies) -> None:
    # BPBD's hours set to a window that ends an hour before now, in the center's zone (WIB).
    now = datetime.now(ZoneInfo("Asia/Jakarta"))
    start, end = now - timedelta(hours=3), now - timedelta(hours=1)
    with bpbd_hours(stack, f"{start:%H:%M}-{end:%H:%M}"):
        primary = agencies.start("agency-bpbd-plg", "agency-answer.xml")
        number = caller()
        call, uniqueid = await caller_with_a_taker(stack, number)
        async with supervisor(stack) as api:
            status, incident = await api.post("/api/incidents", {
                "region": "palembang", "category": "disaster", "kecamatan": "Ilir Barat I",
                "description": "uji jam layanan", "severity": "high", "call": uniqueid})
            assert status == 201, incident
            proposal = await api.get(f"/api/incidents/{incident['id']}/proposal")
            assert [(a["agency"], a["open"]) for a in proposal["agencies"]] == [
                ("palembang-bpbd", False)]
            status, refused = await api.post(
                f"/api/incidents/{incident['id']}/dispatches",
                {"agency": "palembang-bpbd", "mode": "connect", "call": uniqueid})
        assert status == 409 and refused["error"] == "agency-closed", refused
        assert f"its hours are {start:%H:%M}-{end:%H:%M}" in refused["reason"]
        result = await call  # the caller stayed with the call-taker to the end
        assert result.ok, result.output[-3000:]
        assert primary.process.poll() is None  # never rung: still waiting for an INVITE
