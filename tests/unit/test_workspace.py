"""The workspace's pure parts and its service with fakes we own: presence from Asterisk's
queue members, the AMI actions for each change, the screen pop, the audit trail."""

from __future__ import annotations

import asyncio
import json
import string
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ntpd_ivr.ami.events import (
    AgentCalled,
    AgentConnect,
    AgentRingNoAnswer,
    QueueMember,
    parse_event,
)
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.i18n import catalogue
from ntpd_ivr.location.model import DeskFix
from ntpd_ivr.web.auth import Session, UserStore
from ntpd_ivr.web.hub import LiveHub
from ntpd_ivr.workspace.ami import presence_actions
from ntpd_ivr.workspace.model import (
    TOPIC,
    TOPICS,
    AsteriskRefused,
    NoEndpoint,
    NotLoggedIn,
    Presence,
    PresenceChange,
    StaticMember,
    has_history,
    pop_of,
    presence_from_members,
)
from ntpd_ivr.workspace.service import WorkspaceService
from tests.waiting import eventually
from tests.workspace_fakes import FakeMember, FakeQueues, FakeStore

QUEUES = ("takers-default", "takers-palembang")
NOW = 1_800_000_000.0

MESSAGES = catalogue().by_language("desk.")


def member(queue: str, interface: str, *, paused: bool = False, reason: str = "",
           membership: str = "dynamic") -> QueueMember:
    return QueueMember(name="QueueMember", received_at=NOW, queue=queue, member_name="",
                       interface=interface, status=1, paused=paused, in_call=False,
                       paused_reason=reason, membership=membership)


def called(uniqueid: str = "1.1", interface: str = "PJSIP/taker-1",
           caller: str = "+62811100001") -> AgentCalled:
    return AgentCalled(name="AgentCalled", received_at=NOW, uniqueid=uniqueid,
                       queue="takers-palembang", interface=interface, member_name="taker-1",
                       dest_channel=f"{interface}-00000001", caller_number=caller)


# --- pure -------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    ({"action": "login", "queue": "takers-default"}, PresenceChange("login", "takers-default")),
    ({"action": "logout"}, PresenceChange("logout")),
    ({"action": "pause", "reason": "break"}, PresenceChange("pause", reason="break")),
    ({"action": "unpause", "reason": "ignored"}, PresenceChange("unpause")),
])
def test_presence_changes_parse(body: dict[str, Any], expected: PresenceChange) -> None:
    assert PresenceChange.parse(body, QUEUES) == expected


@pytest.mark.parametrize(("body", "message"), [
    ({}, "action must be"), ({"action": "dance"}, "action must be"),
    ({"action": "login"}, "queue must be"), ({"action": "login", "queue": "x"}, "queue must be"),
    ({"action": "pause"}, "reason must be"), ({"action": "pause", "reason": "nap"}, "reason"),
    ({"action": ["login"]}, "action must be"),
])
def test_bad_presence_changes_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PresenceChange.parse(body, QUEUES)


def test_presence_is_read_from_queue_members() -> None:
    found = presence_from_members([
        member("takers-palembang", "PJSIP/taker-1", paused=True, reason="break"),
        member("takers-default", "PJSIP/taker-1", paused=True, reason="break"),
        member("takers-default", "PJSIP/taker-2", membership="static"),
    ])
    assert found["taker-1"].state == "paused" and found["taker-1"].reason == "break"
    assert [m.queue for m in found["taker-1"].memberships] == list(QUEUES)
    assert found["taker-2"].state == "available"
    assert not found["taker-2"].memberships[0].dynamic
    assert Presence("ani").state == "logged-out"
    half = presence_from_members([member("a", "PJSIP/x", paused=True),
                                  member("b", "PJSIP/x")])["x"]
    assert half.state == "available"  # still rung by one queue


def test_each_change_becomes_its_ami_actions() -> None:
    current = presence_from_members([
        member("takers-default", "PJSIP/ani"),
        member("takers-palembang", "PJSIP/ani", membership="static")])["ani"]
    [add] = presence_actions(PresenceChange("login", "takers-muba"), "ani", Presence("ani"))
    assert add == {"Action": "QueueAdd", "Queue": "takers-muba", "Interface": "PJSIP/ani",
                   "MemberName": "ani", "StateInterface": "PJSIP/ani", "Penalty": "0",
                   "Paused": "false"}
    assert presence_actions(PresenceChange("logout"), "ani", current) == [
        {"Action": "QueueRemove", "Queue": "takers-default", "Interface": "PJSIP/ani"}]
    assert presence_actions(PresenceChange("pause", reason="break"), "ani", current) == [
        {"Action": "QueuePause", "Interface": "PJSIP/ani", "Paused": "true", "Reason": "break"}]
    assert presence_actions(PresenceChange("unpause"), "ani", current) == [
        {"Action": "QueuePause", "Interface": "PJSIP/ani", "Paused": "false"}]


def test_the_pop_shows_the_call_its_wait_location_and_history() -> None:
    row = {"uniqueid": "1.1", "caller_number": "+62811100001", "region": "palembang",
           "category": "ambulance", "ivr_digit": "1",
           "arrived_at": datetime.fromtimestamp(NOW - 20, UTC),
           "queued_at": datetime.fromtimestamp(NOW - 12, UTC),
           "location_kind": "circle", "location_source": "network", "location_lat": -2.9761,
           "location_lon": 104.7754, "location_radius_m": 50.0, "location_civic": None,
           "location_error": None}
    earlier = {"uniqueid": "0.9", "arrived_at": datetime.fromtimestamp(NOW - 86400, UTC),
               "disposition": "answered", "category": "police", "region": "palembang",
               "answered_by": "taker-2"}
    pop = pop_of(called(), row, [earlier], NOW)
    assert pop["caller_number"] == "+62811100001" and pop["region"] == "palembang"
    assert pop["category"] == "ambulance" and pop["wait_seconds"] == 12
    assert pop["location"]["lat"] == -2.9761 and pop["location"]["radius_m"] == 50.0
    assert pop["history"][0]["disposition"] == "answered" and pop["history_complete"]
    json.dumps(pop)  # it goes over the WebSocket as is


def test_a_pop_without_its_row_still_names_the_caller() -> None:
    pop = pop_of(called(), None, None, NOW)
    assert pop["caller_number"] == "+62811100001" and pop["region"] is None
    assert pop["wait_seconds"] is None and pop["location"] is None
    assert pop["history"] == [] and not pop["history_complete"]
    assert pop_of(called(), {"location_kind": "none"}, [], NOW)["location"] is None


def test_markers_have_no_history() -> None:
    assert has_history("+62811100001")
    assert not any(has_history(m) for m in ("withheld", "unknown", "invalid", ""))


def test_every_workspace_text_exists_in_both_languages() -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    assert MESSAGES["id"].keys() == MESSAGES["en"].keys()
    for key, text in MESSAGES["id"].items():
        assert fields(text) == fields(MESSAGES["en"][key]), key


def test_ami_events_carry_what_the_screen_needs() -> None:
    event = parse_event({"Event": "AgentCalled", "Uniqueid": "1.1", "Queue": "q",
                         "Interface": "PJSIP/taker-1", "MemberName": "taker-1",
                         "DestChannel": "PJSIP/taker-1-01", "CallerIDNum": "0811234567"})
    assert isinstance(event, AgentCalled) and event.caller_number == "+62811234567"
    item = parse_event({"Event": "QueueMember", "Queue": "q", "Name": "ani",
                        "Location": "PJSIP/ani", "Status": "1", "Paused": "1",
                        "PausedReason": "break", "InCall": "0", "Membership": "dynamic"})
    assert isinstance(item, QueueMember)
    assert item.paused_reason == "break" and item.membership == "dynamic"


def test_a_web_user_names_its_sip_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    UserStore(path).put("ani", "calltaker", "ani-password", sip_endpoint="taker-1")
    UserStore(path).put("budi", "supervisor", "budi-password")
    again = UserStore(path)
    assert again.users["ani"].sip_endpoint == "taker-1"
    assert again.users["budi"].sip_endpoint is None
    with pytest.raises(ConfigError, match="sip endpoint"):
        again.put("cici", "calltaker", "cici-password", sip_endpoint="PJSIP/x")
    path.write_text(path.read_text().replace('"taker-1"', '"bad endpoint"'))
    with pytest.raises(ConfigError, match=r"users\.ani\.sip_endpoint"):
        UserStore(path)


# --- the service with fakes -------------------------------------------------------------

class Socket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_str(self, data: str, compress: int | None = None) -> None:
        self.sent.append(json.loads(data))

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        return True


@pytest.fixture
async def hub() -> AsyncIterator[LiveHub]:
    """Closed at the end, failed or not: no writer task outlives its test's loop."""
    live = LiveHub(TOPICS)
    yield live
    await live.close_all()


def service_with(tmp_path: Path, hub: LiveHub, store: FakeStore | None = None,
                 queues: FakeQueues | None = None) -> tuple[WorkspaceService, FakeQueues,
                                                             FakeStore, LiveHub]:
    users = UserStore(tmp_path / "users.toml")
    users.put("ani", "calltaker", "ani-password", sip_endpoint="taker-1")
    users.put("budi", "calltaker", "budi-password", sip_endpoint="taker-2")
    users.put("cici", "supervisor", "cici-password")
    queues = queues or FakeQueues()
    store = store or FakeStore()
    return WorkspaceService(queues, store, users, hub, lambda: QUEUES,
                            lookup_seconds=0.3), queues, store, hub


def watch(hub: LiveHub, user: str) -> Socket:
    socket = Socket()
    hub.attach(socket, Session(user, "calltaker", 2**40)).topics.add(TOPIC)
    return socket


async def settle() -> None:
    """Let the hub's writer tasks hand what is queued to the fake sockets."""
    await asyncio.sleep(0.05)


async def test_login_pause_unpause_logout_go_to_asterisk_and_the_audit(
        tmp_path: Path, hub: LiveHub) -> None:
    service, queues, store, _ = service_with(tmp_path, hub)
    ani = watch(hub, "ani")
    presence = await service.change_presence("ani", PresenceChange("login", "takers-default"))
    assert presence.state == "available"
    assert ("takers-default", "PJSIP/taker-1") in queues.members
    presence = await service.change_presence("ani", PresenceChange("pause", reason="break"))
    assert (presence.state, presence.reason) == ("paused", "break")
    assert queues.members[("takers-default", "PJSIP/taker-1")].paused
    assert (await service.change_presence("ani", PresenceChange("unpause"))).state == "available"
    assert (await service.change_presence("ani", PresenceChange("logout"))).state == "logged-out"
    assert not queues.members
    assert [(a["actor"], a["action"], a["target"], a["outcome"]) for a in store.audits] == [
        ("ani", "presence.login", "taker-1", "ok"), ("ani", "presence.pause", "taker-1", "ok"),
        ("ani", "presence.unpause", "taker-1", "ok"), ("ani", "presence.logout", "taker-1", "ok")]
    assert store.audits[1]["detail"] == {"reason": "break"}
    await settle()
    assert [e["data"]["state"] for e in ani.sent if e["kind"] == "presence"] == [
        "available", "paused", "available", "logged-out"]


async def test_refusals_are_audited_and_name_why(tmp_path: Path, hub: LiveHub) -> None:
    service, queues, store, _ = service_with(tmp_path, hub)
    with pytest.raises(NotLoggedIn):
        await service.change_presence("ani", PresenceChange("pause", reason="break"))
    with pytest.raises(NoEndpoint):
        await service.change_presence("cici", PresenceChange("login", "takers-default"))
    queues.static("takers-default", "PJSIP/taker-2")
    with pytest.raises(StaticMember):
        await service.change_presence("budi", PresenceChange("logout"))
    queues.fail = "not connected to Asterisk"
    with pytest.raises(AsteriskRefused, match="not connected"):
        await service.change_presence("ani", PresenceChange("login", "takers-default"))
    assert [(a["actor"], a["outcome"]) for a in store.audits] == [
        ("ani", "refused: not-logged-in"), ("budi", "refused: static-member"),
        ("ani", "failed: not connected to Asterisk")]


async def test_presence_is_rebuilt_from_asterisk_after_a_login(
        tmp_path: Path, hub: LiveHub) -> None:
    queues = FakeQueues()
    queues.members[("takers-default", "PJSIP/taker-1")] = FakeMember(paused=True,
                                                                     reason="break")
    service, _, _, _ = service_with(tmp_path, hub, queues=queues)
    ani = watch(hub, "ani")
    assert service.presence_of("taker-1").state == "logged-out"  # before: nothing known
    service.on_login()
    await settle()
    assert service.presence_of("taker-1").state == "paused"
    assert any(e["kind"] == "presence" and e["data"]["reason"] == "break" for e in ani.sent)


async def test_a_ringing_call_pops_on_that_call_takers_screen_only(
        tmp_path: Path, hub: LiveHub) -> None:
    store = FakeStore(rows={"1.1": {"uniqueid": "1.1", "caller_number": "+62811100001",
                                    "region": "palembang", "category": "ambulance",
                                    "queued_at": datetime.fromtimestamp(time.time() - 5, UTC)}},
                      history=[{"uniqueid": "0.5", "caller_number": "+62811100001",
                                "disposition": "answered", "arrived_at": None}])
    service, _, _, _ = service_with(tmp_path, hub, store=store)
    ani, budi = watch(hub, "ani"), watch(hub, "budi")
    service.on_event(called())
    # The 1 s budget is measured end to end (tests/e2e/test_workspace.py); here, with a
    # store that answers at once, the pop only has to come (a loaded machine may be slow).
    for _ in range(500):
        await asyncio.sleep(0.01)
        if ani.sent:
            break
    [pop] = ani.sent
    assert pop["kind"] == "call.ringing" and pop["data"]["category"] == "ambulance"
    assert pop["data"]["region"] == "palembang" and 4 <= pop["data"]["wait_seconds"] <= 6
    assert [h["uniqueid"] for h in pop["data"]["history"]] == ["0.5"]
    assert budi.sent == []
    service.on_event(AgentConnect(name="AgentConnect", received_at=NOW, uniqueid="1.1",
                                  queue="q", interface="PJSIP/taker-1", member_name="taker-1",
                                  hold_time=6, ring_time=1, dest_uniqueid="2.2"))
    await settle()
    assert ani.sent[-1]["kind"] == "call.connected" and ani.sent[-1]["data"]["wait_seconds"] == 6


async def test_no_lookup_for_a_phone_nobody_watches(tmp_path: Path, hub: LiveHub) -> None:
    service, _, store, _ = service_with(tmp_path, hub)
    service.on_event(called(interface="PJSIP/nobody"))
    service.on_event(called())  # taker-1 is ani's, but her screen is not open
    await settle()
    assert store.lookups == 0


async def test_a_slow_database_does_not_hold_the_pop_back(tmp_path: Path, hub: LiveHub) -> None:
    # A database slower (2 min) than every wait here: a pop that waited for it would not
    # come; it comes after the 0.3 s look-up bound, without the history.
    service, _, _, _ = service_with(tmp_path, hub, store=FakeStore(delay=120.0))
    ani = watch(hub, "ani")
    service.on_event(called())
    for _ in range(750):
        if ani.sent:
            break
        await asyncio.sleep(0.02)
    assert ani.sent[0]["data"]["caller_number"] == "+62811100001"
    assert not ani.sent[0]["data"]["history_complete"]
    service.on_event(AgentRingNoAnswer(name="AgentRingNoAnswer", received_at=NOW,
                                       uniqueid="1.1", queue="q", interface="PJSIP/taker-1",
                                       member_name="taker-1", ring_time=15))
    await settle()
    assert ani.sent[-1]["kind"] == "call.missed"
    await service.stop()


async def test_an_answer_during_the_lookup_is_not_lost(tmp_path: Path, hub: LiveHub) -> None:
    service, _, _, _ = service_with(tmp_path, hub, store=FakeStore(delay=0.1))
    ani = watch(hub, "ani")
    service.on_event(called())
    service.on_event(AgentConnect(name="AgentConnect", received_at=NOW, uniqueid="1.1",
                                  queue="q", interface="PJSIP/taker-1", member_name="taker-1",
                                  hold_time=7, ring_time=1, dest_uniqueid="2.2"))
    for _ in range(100):
        if any(e["kind"] == "call.ringing" for e in ani.sent):
            break
        await asyncio.sleep(0.02)
    [pop] = [e["data"] for e in ani.sent if e["kind"] == "call.ringing"]
    assert (pop["state"], pop["wait_seconds"]) == ("connected", 7)
    assert service.pops["taker-1"]["state"] == "connected"


async def test_a_pop_before_its_row_finds_the_fixes_of_the_callers_canonical_number(
        tmp_path: Path, hub: LiveHub) -> None:
    # The calls row can still be in the spool when the phone rings: the CallerID Asterisk
    # sent ("0811…") is all there is, and fixes (like calls) are stored under "+62811…".
    asked: list[str | None] = []
    fix = DeskFix("aml", -2.9761, 104.7754, 35.0, "gnss", None)

    async def fixes_of(uniqueid: str, number: str | None, arrived_at: Any) -> list[DeskFix]:
        asked.append(number)
        return [fix] if number == "+628111234567" else []

    users = UserStore(tmp_path / "users.toml")
    users.put("ani", "calltaker", "ani-password", sip_endpoint="taker-1")
    service = WorkspaceService(FakeQueues(), FakeStore(), users, hub, lambda: QUEUES,
                               lookup_seconds=0.3, fixes=fixes_of)
    ani = watch(hub, "ani")
    service.on_event(called(caller="08111234567"))
    await eventually(lambda: bool(ani.sent), "the pop", within=10)
    [pop] = [e["data"] for e in ani.sent if e["kind"] == "call.ringing"]
    assert asked == ["+628111234567"]
    assert pop["caller_number"] == "+628111234567"
    assert pop["fixes"] == [fix.as_json()]
    await service.stop()


async def test_a_transferred_calls_pop_carries_the_incident_its_first_center_sent(
        tmp_path: Path, hub: LiveHub) -> None:
    """Only a call whose row says route_reason "transfer" is looked up (ntpd_ivr/transfer);
    any other pops without asking."""
    asked: list[str] = []
    sent = {"neighbour": "banyuasin", "form": {"category": "fire", "remote_call_id": "c1"}}

    async def transfer_of(uniqueid: str) -> dict[str, Any] | None:
        asked.append(uniqueid)
        return sent

    users = UserStore(tmp_path / "users.toml")
    users.put("ani", "calltaker", "ani-password", sip_endpoint="taker-1")
    store = FakeStore(rows={
        "9.1": {"uniqueid": "9.1", "category": "fire", "route_reason": "transfer"},
        "9.2": {"uniqueid": "9.2", "category": "police", "route_reason": "menu"}})
    service = WorkspaceService(FakeQueues(), store, users, hub, lambda: QUEUES,
                               lookup_seconds=0.3, transfer=transfer_of)
    ani = watch(hub, "ani")
    service.on_event(called(uniqueid="9.1"))
    await eventually(lambda: any(e["kind"] == "call.ringing" for e in ani.sent), "the pop",
                     within=10)
    [pop] = [e["data"] for e in ani.sent if e["kind"] == "call.ringing"]
    assert pop["transfer"] == sent and asked == ["9.1"]
    ani.sent.clear()
    service.on_event(called(uniqueid="9.2", interface="PJSIP/taker-1"))
    await eventually(lambda: any(e["kind"] == "call.ringing" for e in ani.sent),
                     "the second pop", within=10)
    [pop] = [e["data"] for e in ani.sent if e["kind"] == "call.ringing"]
    assert "transfer" not in pop and asked == ["9.1"]
    await service.stop()
