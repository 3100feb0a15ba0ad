"""ConnectDispatcher against fakes we own: an Asterisk that answers the dispatch's AMI
actions, and dispatch records kept with the real state machine (dispatch/model.py)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import (
    ActionResponse,
    ActionResult,
    ConfbridgeLeave,
    ConfbridgeList,
    CoreShowChannel,
    DispatchKey,
    Hangup,
    OriginateResponse,
)
from ntpd_ivr.calls.values import CallStep
from ntpd_ivr.dispatch.model import (
    AgencyClosed,
    AnnouncementPrompts,
    DispatchEvent,
    DispatchMode,
    DispatchState,
    NotConnected,
)
from ntpd_ivr.dispatch.service import ConnectDispatcher
from ntpd_ivr.errors import AmiError
from ntpd_ivr.routing.config import Agency, RoutingConfig, load_routing_config
from tests.waiting import eventually

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
CALLER, TAKER = "1700000000.1", "1700000000.2"


class FakeAsterisk:
    """The caller bridged with a call-taker; every action kept; Redirect of a channel that
    is not there fails as Asterisk's does."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []
        self.channels = {CALLER: ("PJSIP/operator-local-01", "bridge-1"),
                         TAKER: ("PJSIP/taker-1-02", "bridge-1")}
        self.caller_in: tuple[str, str] = ("", "")  # the caller's (context, exten)
        self.conference: list[ConfbridgeList] = []  # empty: "No active conferences"

    async def action(self, action: dict[str, str],
                     timeout: float | None = None) -> ActionResult:  # noqa: ASYNC109
        self.sent.append(action)
        now = time.time()
        ok = ActionResponse(name="Response", received_at=now, response="Success", message="")
        if action["Action"] == "CoreShowChannels":
            return ActionResult(ok, tuple(
                CoreShowChannel(name="CoreShowChannel", received_at=now, uniqueid=u,
                                linkedid=u, channel=c,
                                context=self.caller_in[0] if u == CALLER else "",
                                exten=self.caller_in[1] if u == CALLER else "",
                                caller_number="",
                                application="Queue", duration_seconds=3, bridge_id=b)
                for u, (c, b) in self.channels.items()))
        if action["Action"] == "ConfbridgeList":
            if not self.conference:
                raise AmiError("AMI ConfbridgeList failed: No active conferences.")
            return ActionResult(ok, tuple(self.conference))
        if action["Action"] == "Redirect":
            names = {c for c, _ in self.channels.values()}
            if action["Channel"] not in names and not action["Channel"].startswith(
                    "PJSIP/agency"):
                raise AmiError("AMI Redirect failed: Channel specified does not exist")
        return ActionResult(ok)

    def named(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.sent if a["Action"] == name]


class FakeRecords:
    """Dispatch records in memory, moved by the real DispatchState."""

    def __init__(self) -> None:
        self.states: dict[int, DispatchState] = {}
        self.steps: list[tuple[int, str, datetime, dict[str, Any]]] = []
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.closed: list[tuple[int, str, str, str, datetime]] = []  # audited refusals

    async def refused_closed(self, incident_id: int, agency: Agency, actor: str, call: str,
                             at: datetime) -> None:
        self.closed.append((incident_id, agency.key, actor, call, at))

    async def incident(self, incident_id: int) -> dict[str, Any]:
        return {"id": incident_id, "category": "fire", "kecamatan": "Ilir Barat I"}

    async def dispatch(self, incident_id: int, agency_key: str, mode: DispatchMode,
                       actor: str, call: str | None = None) -> dict[str, Any]:
        dispatch_id = len(self.states) + 1
        self.states[dispatch_id] = DispatchState.start(mode, datetime.now(UTC))
        return self._row(dispatch_id)

    def _row(self, dispatch_id: int) -> dict[str, Any]:
        state = self.states[dispatch_id]
        return {"id": dispatch_id, "incident_id": 1, "agency": "palembang-damkar",
                "status": state.status, "attempts": state.attempts, "created_by": "ani"}

    async def _move(self, dispatch_id: int, event: DispatchEvent, at: datetime,
                    **detail: Any) -> dict[str, Any]:
        self.states[dispatch_id] = self.states[dispatch_id].advance(event, at)
        self.steps.append((dispatch_id, event, at, detail))
        return self._row(dispatch_id)

    async def attempt(self, dispatch_id: int, at: datetime, trunk: str) -> dict[str, Any]:
        return await self._move(dispatch_id, "attempt", at, trunk=trunk)

    async def answered(self, dispatch_id: int, at: datetime, trunk: str) -> dict[str, Any]:
        return await self._move(dispatch_id, "answer", at, trunk=trunk)

    async def accepted(self, dispatch_id: int, at: datetime) -> dict[str, Any]:
        return await self._move(dispatch_id, "accept", at)

    async def refused(self, dispatch_id: int, at: datetime) -> dict[str, Any]:
        return await self._move(dispatch_id, "refuse", at)

    async def timed_out(self, dispatch_id: int, at: datetime) -> dict[str, Any]:
        return await self._move(dispatch_id, "time_out", at)

    async def live_connect_dispatches(self) -> list[dict[str, Any]]:
        return [self._row(i) for i, state in self.states.items()
                if state.mode == "connect" and state.status in ("dialing", "answered")]


class Harness:
    def __init__(self, ring_seconds: int = 15) -> None:
        config = load_routing_config(EXAMPLE)
        agencies = {key: dataclasses.replace(a, ring_seconds=ring_seconds)
                    for key, a in config.agencies.items()}
        self.config: RoutingConfig = dataclasses.replace(config, agencies=agencies)
        self.asterisk = FakeAsterisk()
        self.records = FakeRecords()
        self.call_steps: list[CallStep] = []
        self.published: list[tuple[str, Mapping[str, Any], str | None]] = []
        self.dispatcher = ConnectDispatcher(
            self.asterisk, self.records, lambda: self.config, self.call_steps.append,
            lambda kind, data, user: self.published.append((kind, data, user)),
            prompts_dir="/p", prompts=AnnouncementPrompts.load(),
            answer_margin_seconds=0.2)

    async def originates(self, count: int) -> list[dict[str, str]]:
        await eventually(lambda: len(self.asterisk.named("Originate")) >= count,
                         f"{count} Originates (sent: {self.asterisk.sent})")
        return self.asterisk.named("Originate")

    async def settle(self, name: str | None = None) -> None:
        """Every task of the dispatcher (or every one called `name`) has finished."""
        await eventually(lambda: not any(name in (None, t.get_name())
                                         for t in self.dispatcher._tasks),
                         f"dispatcher still busy: {self.dispatcher._tasks}")


def originate_response(action: dict[str, str], result: str, reason: int,
                       at: float) -> OriginateResponse:
    return OriginateResponse(name="OriginateResponse", received_at=at + 0.1, timestamp=at,
                             action_id=action["ActionID"], response=result,
                             channel=action["Channel"], reason=reason,
                             uniqueid=action["ChannelId"])


def key(result: str, at: float, dispatch: int = 1) -> DispatchKey:
    return DispatchKey(name="UserEvent", received_at=at + 0.1, timestamp=at,
                       uniqueid="ntpd-dispatch-1-1", channel="PJSIP/agency-damkar-plg-0003",
                       dispatch=dispatch, caller=CALLER, result=result)


async def test_a_busy_primary_then_the_backup_answers() -> None:
    h = Harness()
    dispatch = await h.dispatcher.connect(1, "palembang-damkar", CALLER, "ani")
    assert dispatch["status"] == "dialing"
    first = (await h.originates(1))[0]
    assert (first["Channel"], first["Context"], first["Timeout"]) == (
        "PJSIP/agency-damkar-plg", dp.CONTEXT_DISPATCH_AGENCY, "15000")
    assert "/p/id/dispatch-category-fire&/p/id/dispatch-kecamatan&" in first["Variable"]
    now = time.time()
    # Asterisk 22.10 reports a 486 as Reason 0; the leg's Hangup cause says busy.
    h.dispatcher.on_event(originate_response(first, "Failure", 0, now))
    h.dispatcher.on_event(Hangup(name="Hangup", received_at=now, uniqueid=first["ChannelId"],
                                 linkedid="x", channel="PJSIP/agency-damkar-plg-01",
                                 cause=17, cause_txt="User busy"))
    second = (await h.originates(2))[1]
    assert second["Channel"] == "PJSIP/agency-damkar-plg-backup"
    h.dispatcher.on_event(originate_response(second, "Success", 4, now + 1))
    await h.settle()
    state = h.records.states[1]
    assert (state.status, state.attempts) == ("answered", 2)
    assert state.answered_at == datetime.fromtimestamp(now + 1, UTC)  # Asterisk's time
    assert [s[3].get("trunk") for s in h.records.steps] == [
        "agency-damkar-plg", "agency-damkar-plg-backup", "agency-damkar-plg-backup"]
    assert h.published == [] and not h.asterisk.named("Redirect")  # caller untouched


async def test_no_trunk_answers_the_call_taker_is_told_and_nobody_is_moved() -> None:
    h = Harness(ring_seconds=0)
    await h.dispatcher.connect(1, "palembang-damkar", CALLER, "ani")
    first = (await h.originates(1))[0]
    h.dispatcher.on_event(originate_response(first, "Failure", 5, time.time()))
    await h.originates(2)  # and then no OriginateResponse at all: bounded
    await h.settle()
    assert h.records.states[1].status == "timed-out"
    [(kind, data, user)] = h.published
    assert (kind, user, data["reason"], data["call"]) == ("dispatch.failed", "ani",
                                                          "unreachable", CALLER)
    assert [a["outcome"] for a in data["attempts"]] == ["busy", "failed"]
    assert not h.asterisk.named("Redirect")


async def test_a_call_without_a_call_taker_is_refused_before_any_record() -> None:
    h = Harness()
    del h.asterisk.channels[TAKER]
    with pytest.raises(NotConnected):
        await h.dispatcher.connect(1, "palembang-damkar", CALLER, "ani")
    assert h.records.states == {} and not h.asterisk.named("Originate")


async def answered_dispatch() -> Harness:
    h = Harness()
    await h.dispatcher.connect(1, "palembang-damkar", CALLER, "ani")
    first = (await h.originates(1))[0]
    h.dispatcher.on_event(originate_response(first, "Success", 4, time.time()))
    await h.settle()
    return h


async def test_key_1_moves_the_caller_and_the_call_taker_then_the_agency() -> None:
    h = await answered_dispatch()
    at = time.time() + 2
    h.dispatcher.on_event(key("accept", at))
    await h.settle()
    assert h.records.states[1].accepted_at == datetime.fromtimestamp(at, UTC)
    pair, agency = h.asterisk.named("Redirect")
    assert (pair["Channel"], pair["Exten"], pair["ExtraChannel"], pair["ExtraExten"]) == (
        "PJSIP/operator-local-01", "caller-1", "PJSIP/taker-1-02", "taker-1")
    assert (agency["Channel"], agency["Exten"]) == ("PJSIP/agency-damkar-plg-0003", "bridge")
    [step] = h.call_steps
    assert (step.uniqueid, step.kind, step.detail["conference"]) == (
        CALLER, "dispatch.conference", "ntpd-dispatch-1")


async def test_key_1_after_the_caller_hung_up_releases_the_agency_with_a_notice() -> None:
    h = await answered_dispatch()
    h.asterisk.channels.clear()
    h.dispatcher.on_event(key("accept", time.time()))
    await h.settle()
    assert h.records.states[1].status == "accepted"  # it stays accepted
    [agency] = h.asterisk.named("Redirect")
    assert agency["Exten"] == dp.EXTEN_DISPATCH_CALLER_GONE
    assert h.call_steps == []


async def test_key_1_on_a_dispatch_no_longer_live_moves_nobody() -> None:
    h = await answered_dispatch()
    await h.records.timed_out(1, datetime.now(UTC))
    h.dispatcher.on_event(key("accept", time.time()))
    await h.settle()
    [agency] = h.asterisk.named("Redirect")
    assert agency["Exten"] == dp.EXTEN_DISPATCH_CLOSED


async def test_key_1_seen_by_a_controller_that_missed_the_answer() -> None:
    h = Harness()
    await h.records.dispatch(1, "palembang-damkar", "connect", "ani")  # still dialing
    h.dispatcher.on_event(key("accept", time.time()))
    await h.settle()
    assert [s[1] for s in h.records.steps] == ["answer", "accept"]
    assert h.records.steps[0][3]["trunk"] == "agency-damkar-plg"
    assert [r["Exten"] for r in h.asterisk.named("Redirect")] == ["caller-1", "bridge"]


@pytest.mark.parametrize(("result", "status", "reason"), [
    ("refuse", "refused", "refused"), ("no-input", "timed-out", "no-input"),
    ("hangup", "timed-out", "hung-up")])
async def test_a_refusal_or_no_key_tells_the_call_taker(result: str, status: str,
                                                        reason: str) -> None:
    h = await answered_dispatch()
    h.dispatcher.on_event(key(result, time.time()))
    await h.settle()
    assert h.records.states[1].status == status
    [(kind, data, user)] = h.published
    assert (kind, data["reason"], user) == ("dispatch.failed", reason, "ani")
    assert not h.asterisk.named("Redirect")


def member(channel: str, uniqueid: str, marked: bool = False) -> ConfbridgeList:
    return ConfbridgeList(name="ConfbridgeList", received_at=0.0, conference="ntpd-dispatch-1",
                          channel=channel, uniqueid=uniqueid, marked=marked)


def left(channel: str) -> ConfbridgeLeave:
    return ConfbridgeLeave(name="ConfbridgeLeave", received_at=time.time(),
                           uniqueid="1700000000.9", channel=channel,
                           conference="ntpd-dispatch-1")


async def test_a_caller_left_alone_in_the_conference_goes_back_to_a_call_taker() -> None:
    h = Harness()
    # Asterisk may still list the one who is leaving.
    h.asterisk.conference = [member("PJSIP/operator-local-01", CALLER, marked=True),
                             member("PJSIP/agency-damkar-plg-0003", "ntpd-dispatch-1-1")]
    h.dispatcher.on_event(left("PJSIP/agency-damkar-plg-0003"))
    await h.settle()
    [back] = h.asterisk.named("Redirect")
    assert (back["Channel"], back["Context"], back["Exten"], back["Priority"]) == (
        "PJSIP/operator-local-01", dp.CONTEXT_EMERGENCY, "s", "queue")
    [step] = h.call_steps
    assert (step.uniqueid, step.kind) == (CALLER, "dispatch.back-to-queue")


@pytest.mark.parametrize("members", [
    [],  # the conference is over: the caller hung up
    [member("PJSIP/operator-local-01", CALLER, marked=True),
     member("PJSIP/agency-damkar-plg-0003", "ntpd-dispatch-1-1")],  # the agency is still there
    [member("PJSIP/agency-damkar-plg-0003", "ntpd-dispatch-1-1")],  # being released
])
async def test_nobody_is_moved_while_the_caller_has_company_or_is_gone(
        members: list[ConfbridgeList]) -> None:
    h = Harness()
    h.asterisk.conference = members
    h.dispatcher.on_event(left("PJSIP/taker-1-02"))
    await h.settle()
    assert h.asterisk.named("ConfbridgeList") and not h.asterisk.named("Redirect")
    assert h.call_steps == []


async def test_an_answer_after_a_cancel_is_no_error_for_the_call_taker() -> None:
    h = Harness()
    await h.dispatcher.connect(1, "palembang-damkar", CALLER, "ani")
    first = (await h.originates(1))[0]
    h.records.states[1] = h.records.states[1].advance("cancel", datetime.now(UTC))
    h.dispatcher.on_event(originate_response(first, "Success", 4, time.time()))
    await h.settle()
    assert h.records.states[1].status == "cancelled"
    assert h.published == [] and len(h.asterisk.named("Originate")) == 1


async def test_key_1_when_the_call_taker_hung_up_brings_the_waiting_caller_alone() -> None:
    h = await answered_dispatch()
    h.asterisk.channels = {CALLER: ("PJSIP/operator-local-01", "")}  # queued again
    h.dispatcher.on_event(key("accept", time.time()))
    await h.settle()
    caller_only, agency = h.asterisk.named("Redirect")
    assert (caller_only["Channel"], caller_only["Exten"]) == ("PJSIP/operator-local-01",
                                                              "caller-1")
    assert "ExtraChannel" not in caller_only and agency["Exten"] == "bridge"
    assert h.call_steps[0].detail["taker_channel"] is None


async def test_key_1_while_the_database_is_down_still_connects_the_caller() -> None:
    h = await answered_dispatch()

    async def down(dispatch_id: int, at: datetime) -> dict[str, Any]:
        raise ConnectionRefusedError("PostgreSQL is down")
    h.records.accepted = down  # type: ignore[method-assign]
    h.dispatcher.on_event(key("accept", time.time()))
    await h.settle()
    assert [r["Exten"] for r in h.asterisk.named("Redirect")] == ["caller-1", "bridge"]
    assert [s.kind for s in h.call_steps] == ["dispatch.conference"]  # spooled: kept



async def test_after_a_restart_dispatches_nobody_dials_are_ended_and_told() -> None:
    h = Harness()
    for _ in range(3):  # 1: left dialling; 2: its agency leg is still up; 3: answered, gone
        await h.records.dispatch(1, "palembang-damkar", "connect", "ani")
    await h.records.answered(3, datetime.now(UTC), "agency-damkar-plg")
    h.asterisk.channels["ntpd-dispatch-2-1"] = ("PJSIP/agency-damkar-plg-0009", "")
    h.dispatcher.on_login()
    await h.settle()
    assert [h.records.states[i].status for i in (1, 2, 3)] == [
        "timed-out", "dialing", "timed-out"]
    assert [(d["id"], d["reason"], user) for _, d, user in h.published] == [
        (1, "interrupted", "ani"), (3, "interrupted", "ani")]


async def test_a_login_while_this_controller_dials_leaves_its_dispatch_alone() -> None:
    h = Harness()
    await h.dispatcher.connect(1, "palembang-damkar", CALLER, "ani")
    await h.originates(1)  # ringing; between attempts there may be no leg at all
    h.asterisk.channels.pop(TAKER)
    h.dispatcher.on_login()
    await h.settle("dispatch-resync")  # the check after the login is done: nothing changed
    assert h.records.states[1].status == "dialing" and h.published == []
    await h.dispatcher.stop()



async def test_a_second_agency_joins_the_conference_the_caller_is_in() -> None:
    h = await answered_dispatch()
    h.asterisk.caller_in = (dp.CONTEXT_DISPATCH_CONFERENCE, "caller-9")  # dispatch 9's
    h.dispatcher.on_event(key("accept", time.time()))
    await h.settle()
    [agency] = h.asterisk.named("Redirect")  # the caller is not moved again
    assert (agency["Channel"], agency["Exten"]) == ("PJSIP/agency-damkar-plg-0003", "bridge-9")
    assert h.call_steps[0].detail["conference"] == "ntpd-dispatch-9"


@pytest.mark.parametrize(("utc", "closed"), [
    (datetime(2026, 12, 7, 10, 0, tzinfo=UTC), True),    # 17:00 WIB: after its 16:00
    (datetime(2026, 12, 7, 0, 29, tzinfo=UTC), True),    # 07:29 WIB: not yet
    (datetime(2026, 12, 7, 0, 30, tzinfo=UTC), False),   # 07:30 WIB: open
])
async def test_an_agency_outside_its_hours_is_refused_with_a_reason_and_never_dialled(
        utc: datetime, closed: bool) -> None:
    h = Harness()
    h.records.clock = lambda: utc  # BPBD Kota Palembang: 07:30-16:00 in Asia/Jakarta
    if not closed:
        dispatch = await h.dispatcher.connect(7, "palembang-bpbd", CALLER, "ani")
        assert dispatch["status"] == "dialing"
        await h.originates(1)
        assert h.records.closed == []
        await h.dispatcher.stop()
        return
    with pytest.raises(AgencyClosed) as refused:
        await h.dispatcher.connect(7, "palembang-bpbd", CALLER, "ani")
    assert refused.value.status == 409 and refused.value.error == "agency-closed"
    local = utc.astimezone(h.config.zone)
    assert refused.value.reason == (f"BPBD Kota Palembang is closed now ({local:%H:%M} "
                                    "Asia/Jakarta); its hours are 07:30-16:00")
    assert h.records.closed == [(7, "palembang-bpbd", "ani", CALLER, utc)]  # audited
    assert h.records.states == {} and h.asterisk.named("Originate") == []
