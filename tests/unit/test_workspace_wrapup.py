"""Wrap-up with fakes we own: a call-taker whose popped call ends is paused (reason
wrap-up) until the call's disposition, or the limit; and after a restart a pending wrap-up
is restored from its row, ended, or, with no row, released."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ntpd_ivr.ami.events import AgentComplete, AgentConnect, AgentRingNoAnswer
from ntpd_ivr.web.auth import Session, UserStore
from ntpd_ivr.web.hub import LiveHub
from ntpd_ivr.workspace.model import TOPIC, TOPICS, InWrapUp, PresenceChange
from ntpd_ivr.workspace.service import WorkspaceService
from ntpd_ivr.workspace.wrapup import (
    DISPOSED,
    EXPIRED,
    RELEASED,
    WrapUp,
    after_restart,
)
from tests.unit.test_workspace import NOW, Socket, called
from tests.waiting import eventually as until
from tests.workspace_fakes import FakeMember, FakeQueues, FakeStore

T0 = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
KEY = ("takers-default", "PJSIP/taker-1")


@pytest.mark.parametrize(("disposed", "paused", "now", "outcome"), [
    (True, True, T0, DISPOSED),
    (True, False, T0 + timedelta(hours=1), DISPOSED),
    (False, False, T0, RELEASED),
    (False, True, T0 + timedelta(seconds=120), EXPIRED),
    (False, True, T0 + timedelta(seconds=119), None),  # still ahead: restored
])
def test_what_a_restart_makes_of_a_pending_wrapup(disposed: bool, paused: bool, now: datetime,
                                                  outcome: str | None) -> None:
    wrapup = WrapUp("1.1", "taker-1", T0, T0 + timedelta(seconds=120))
    assert after_restart(wrapup, disposed=disposed, paused=paused, now=now) == outcome


@pytest.fixture
async def hub() -> AsyncIterator[LiveHub]:
    live = LiveHub(TOPICS)
    yield live
    await live.close_all()


def desk(tmp_path: Path, hub: LiveHub, *, limit: float = 60.0,
         store: FakeStore | None = None) -> tuple[WorkspaceService, FakeQueues, FakeStore,
                                                  Socket]:
    users = UserStore(tmp_path / "users.toml")
    users.put("ani", "calltaker", "ani-password", sip_endpoint="taker-1")
    queues, store = FakeQueues(), store or FakeStore()
    queues.static(*KEY)
    service = WorkspaceService(queues, store, users, hub, lambda: ("takers-default",),
                               lookup_seconds=0.1, wrapup_limit=lambda: limit)
    socket = Socket()
    hub.attach(socket, Session("ani", "calltaker", 2**40)).topics.add(TOPIC)
    return service, queues, store, socket


async def decided(caplog: pytest.LogCaptureFixture, words: str) -> None:
    """The wrap-up task's log line of why it leaves the call-taker as they are: the
    barrier after which its decision is made (a pause would come instead of the line)."""
    await until(lambda: any(words in r.getMessage() for r in caplog.records))


async def take_and_end(service: WorkspaceService, uniqueid: str = "1.1",
                       end_names_the_call: bool = True) -> None:
    """A call rings taker-1, pops, is answered and ends, as AMI tells it (under load,
    Asterisk may send the end without the caller's fields: `end_names_the_call`)."""
    service.on_event(called(uniqueid))
    await until(lambda: service.pops.get("taker-1", {}).get("caller_number"))
    service.on_event(AgentConnect(name="AgentConnect", received_at=NOW, uniqueid=uniqueid,
                                  queue="takers-default", interface="PJSIP/taker-1",
                                  member_name="taker-1", hold_time=3, ring_time=1,
                                  dest_uniqueid="2.2"))
    service.on_event(AgentComplete(name="AgentComplete", received_at=NOW,
                                   uniqueid=uniqueid if end_names_the_call else "",
                                   queue="takers-default", interface="PJSIP/taker-1",
                                   member_name="taker-1", hold_time=3, talk_time=20,
                                   reason="caller"))


def kinds(socket: Socket) -> list[str]:
    return [e["kind"] for e in socket.sent]


async def test_paused_in_wrapup_until_the_disposition(tmp_path: Path, hub: LiveHub) -> None:
    service, queues, store, ani = desk(tmp_path, hub)
    await take_and_end(service)
    await until(lambda: queues.members[KEY].paused)
    assert queues.members[KEY].reason == "wrap-up"
    assert service.wrapups.of("taker-1") is not None
    assert service.screen_call("taker-1") is not None  # a reloaded screen still has it
    with pytest.raises(InWrapUp, match=r"call 1\.1"):
        await service.change_presence("ani", PresenceChange("unpause"))
    assert queues.members[KEY].paused
    store.dispositions.add("1.1")
    service.on_disposition("1.1")
    await until(lambda: not queues.members[KEY].paused)
    assert service.wrapups.of("taker-1") is None
    assert [r["outcome"] for r in store.wrapups] == [DISPOSED]
    await until(lambda: "wrapup.ended" in kinds(ani))
    assert "wrapup" in kinds(ani)
    assert [a["action"] for a in store.audits if a["action"].startswith(("wrapup", "call"))] == [
        "wrapup.started", "wrapup.ended"]
    await service.stop()


async def test_an_end_without_the_callers_id_still_starts_the_wrapup_of_the_popped_call(
        tmp_path: Path, hub: LiveHub) -> None:
    service, queues, _, ani = desk(tmp_path, hub)
    await take_and_end(service, "1.1", end_names_the_call=False)
    await until(lambda: queues.members[KEY].paused)
    wrapup = service.wrapups.of("taker-1")
    assert queues.members[KEY].reason == "wrap-up" and wrapup is not None
    assert wrapup.uniqueid == "1.1"
    await until(lambda: "call.ended" in kinds(ani))
    assert [e["data"] for e in ani.sent if e["kind"] == "call.ended"] == [{"uniqueid": "1.1"}]
    await service.stop()


async def test_the_limit_unpauses_and_audits_the_missing_disposition(
        tmp_path: Path, hub: LiveHub) -> None:
    service, queues, store, ani = desk(tmp_path, hub, limit=0.3)
    await take_and_end(service)
    await until(lambda: queues.members[KEY].paused)
    await until(lambda: not queues.members[KEY].paused)
    assert [r["outcome"] for r in store.wrapups] == [EXPIRED]
    assert any(a["action"] == "call.disposition-missing" and a["target"] == "1.1"
               for a in store.audits)
    await until(lambda: "wrapup.ended" in kinds(ani))
    await service.stop()


async def test_no_wrapup_when_the_disposition_came_first_or_nobody_watched(
        tmp_path: Path, hub: LiveHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ntpd_ivr.workspace")
    service, queues, store, _ = desk(tmp_path, hub)
    store.dispositions.add("1.1")  # written during the call
    await take_and_end(service, "1.1")
    await decided(caplog, "the disposition is already set")
    assert not queues.members[KEY].paused and store.wrapups == []
    # A call that rang out pops no wrap-up either.
    service.on_event(called("1.2"))
    await until(lambda: service.pops.get("taker-1", {}).get("uniqueid") == "1.2")
    service.on_event(AgentRingNoAnswer(name="AgentRingNoAnswer", received_at=NOW,
                                       uniqueid="1.2", queue="q", interface="PJSIP/taker-1",
                                       member_name="taker-1", ring_time=15))
    # The barrier: a later call that ends, disposed. Wrap-ups of one endpoint run in turn
    # (its lock), so one the rang-out call had started would have paused before this
    # one's decision is logged.
    caplog.clear()
    store.dispositions.add("1.3")
    await take_and_end(service, "1.3")
    await decided(caplog, "the disposition is already set")
    assert not queues.members[KEY].paused and store.wrapups == []
    await service.stop()


async def test_a_call_taker_already_on_a_break_is_left_as_they_are(
        tmp_path: Path, hub: LiveHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ntpd_ivr.workspace")
    service, queues, store, _ = desk(tmp_path, hub)
    queues.members[KEY] = FakeMember(paused=True, reason="break", dynamic=False)
    await take_and_end(service)
    await decided(caplog, "already paused (break), left as it is")
    assert queues.members[KEY].reason == "break" and store.wrapups == []
    await service.stop()


async def test_a_restart_restores_ends_or_releases_wrapups(tmp_path: Path, hub: LiveHub) -> None:
    now = datetime.now(UTC)
    store = FakeStore()
    ahead = WrapUp("1.1", "taker-1", now, now + timedelta(seconds=60))
    disposed = WrapUp("2.1", "taker-2", now, now + timedelta(seconds=60))
    store.wrapups = [{"wrapup": w, "ended_at": None, "outcome": None} for w in (ahead, disposed)]
    store.dispositions.add("2.1")
    store.rows["1.1"] = {"uniqueid": "1.1", "caller_number": "+628111", "region": "palembang",
                         "category": "fire"}
    service, queues, _, _ = desk(tmp_path, hub, store=store)
    for interface in ("PJSIP/taker-1", "PJSIP/taker-2", "PJSIP/taker-3"):
        queues.members[("takers-default", interface)] = FakeMember(
            paused=True, reason="wrap-up", dynamic=False)
    await service.resync()  # what the AMI login runs
    assert service.wrapups.of("taker-1") == ahead  # restored, still paused
    shown = service.screen_call("taker-1")  # a reloaded screen: the call from its row
    assert shown is not None and (shown["caller_number"], shown["category"]) == ("+628111",
                                                                                "fire")
    assert queues.members[KEY].paused
    assert not queues.members[("takers-default", "PJSIP/taker-2")].paused  # disposed
    assert not queues.members[("takers-default", "PJSIP/taker-3")].paused  # no row: orphan
    assert [r["outcome"] for r in store.wrapups] == [None, DISPOSED]
    assert ("wrapup.released", "taker-3", "orphan") in [
        (a["action"], a["target"], a["outcome"]) for a in store.audits]
    await service.stop()


async def test_with_the_database_down_wrapup_pauses_are_released_at_a_restart(
        tmp_path: Path, hub: LiveHub) -> None:
    service, queues, store, _ = desk(tmp_path, hub)
    queues.members[KEY] = FakeMember(paused=True, reason="wrap-up", dynamic=False)
    store.down = True
    await service.resync()
    assert not queues.members[KEY].paused
    await service.stop()
