"""Incidents, dispositions and dispatches over HTTP against a real PostgreSQL: the whole
flow, an agency's scope, and the audit rows written in the same transaction as each
change (tests/conftest.py gives the database)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.ami.events import ActionResult
from ntpd_ivr.audit.trail import AuditLog, Entry, record
from ntpd_ivr.dispatch import http as dispatch_http
from ntpd_ivr.dispatch.plugin import ACCESS
from ntpd_ivr.dispatch.records import DispatchService
from ntpd_ivr.dispatch.service import ConnectDispatcher
from ntpd_ivr.errors import AmiError
from ntpd_ivr.incidents.exceptions import Conflict
from ntpd_ivr.incidents.http import add_routes
from ntpd_ivr.incidents.model import IncidentDraft
from ntpd_ivr.incidents.rights import CallRights
from ntpd_ivr.incidents.service import IncidentService
from ntpd_ivr.routing.config import load_routing_config
from tests.protocol.webtools import Client, log_in, serving_web

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
CONFIG = load_routing_config(EXAMPLE)
T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
FIRE = {"region": "palembang", "category": "fire", "kecamatan": "Ilir Barat I",
        "desa": "Bukit Lama", "address": "Jl. Merdeka 12", "description": "Rumah terbakar",
        "severity": "high", "people_involved": 3, "lat": -2.9761, "lon": 104.7754}


@dataclass
class Clock:
    now: datetime = T0
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Center:
    client: Client
    service: IncidentService
    clock: Clock
    engine: AsyncEngine
    dispatches: DispatchService
    logged_in: dict[str, dict[str, str]] = field(default_factory=dict)

    async def as_user(self, user: str) -> dict[str, str]:
        """Log in as `user` unless already (scrypt makes each login cost ~50 ms)."""
        if user not in self.logged_in:
            self.logged_in.clear()
            self.logged_in[user] = await log_in(self.client, user)
        return self.logged_in[user]

    async def audit(self) -> list[tuple[str, str, str, str, dict[str, Any]]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT actor, action, subject_type, subject_id, detail FROM audit_events "
                "ORDER BY id"))
            return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
async def center(db_engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Center]:
    async with db_engine.begin() as conn:
        await conn.execute(text("TRUNCATE dispatches, call_dispositions, incidents, "
                                "audit_events RESTART IDENTITY"))
    clock = Clock()
    service = IncidentService(db_engine, lambda: CONFIG, clock=clock,
                              publish=lambda kind, data: clock.published.append(
                                  (kind, dict(data))))
    dispatches = DispatchService(db_engine, lambda: CONFIG, clock=clock,
                                 publish=lambda kind, data: clock.published.append(
                                     (kind, dict(data))))

    async def answered_by(call: str) -> str:
        return "taker-1"  # ani's phone answered every call of these tests

    def extend(app: web.Application) -> None:
        add_routes(app, service, rights=CallRights(answered_by, AuditLog(db_engine)))
        dispatch_http.add_routes(app, dispatches, ACCESS)

    async with serving_web(tmp_path, extend=extend) as client:
        yield Center(client, service, clock, db_engine, dispatches)


async def post(center: Center, user: str, path: str, body: dict[str, Any],
               status: int = 200) -> Any:
    headers = await center.as_user(user)
    reply = await center.client.post(path, json=body, headers=headers)
    assert reply.status == status, await reply.text()
    return await reply.json()


async def get(center: Center, user: str, path: str, status: int = 200) -> Any:
    await center.as_user(user)
    reply = await center.client.get(path)
    assert reply.status == status, await reply.text()
    return await reply.json()


async def test_call_to_incident_to_agency_on_scene_and_the_report(center: Center) -> None:
    incident = await post(center, "ani", "/api/incidents",
                          {**FIRE, "call": "1732771200.1"}, 201)
    assert (incident["id"], incident["status"], incident["created_by"]) == (1, "open", "ani")

    # A second caller about the same fire, in another spelling of the kecamatan.
    center.clock.advance(60)
    suggested = await get(center, "ani",
                          "/api/incidents/suggest?category=fire&kecamatan=ilir%20barat%20i")
    assert [i["id"] for i in suggested["incidents"]] == [1]
    await post(center, "ani", "/api/calls/1732771260.7/disposition",
               {"disposition": "duplicate", "incident_id": 1})
    await post(center, "ani", "/api/calls/1732771270.9/disposition", {"disposition": "prank"})

    proposal = await get(center, "ani", "/api/incidents/1/proposal")
    assert [a["agency"] for a in proposal["agencies"]] == ["palembang-damkar"]
    dispatch = await post(center, "ani", "/api/incidents/1/dispatches",
                          {"agency": "palembang-damkar"}, 201)
    assert (dispatch["status"], dispatch["mode"], dispatch["proposed"]) == (
        "notified", "notify", True)
    await post(center, "ani", "/api/incidents/1/dispatches", {"agency": "palembang-damkar"},
               409)  # already with them

    # The agency's screen: accept after 45 s, on scene after 15 min.
    listed = await get(center, "damkar", "/api/dispatches")
    assert [(d["id"], d["category"], d["kecamatan"]) for d in listed["dispatches"]] == [
        (1, "fire", "Ilir Barat I")]
    center.clock.advance(45)
    accepted = await post(center, "damkar", "/api/dispatches/1/accept", {})
    assert accepted["status"] == "accepted"
    await post(center, "damkar", "/api/dispatches/1/on-scene", {}, 200)
    center.clock.advance(900)
    await post(center, "damkar", "/api/dispatches/1/accept", {}, 409)  # not twice
    seen = await get(center, "damkar", "/api/incidents/1")
    assert "calls" not in seen  # the callers' numbers stay with the center
    full = await get(center, "budi", "/api/incidents/1")
    assert [(c["uniqueid"], c["disposition"]) for c in full["calls"]] == [
        ("1732771200.1", "genuine"), ("1732771260.7", "duplicate")]
    assert [h["action"] for h in full["history"]] == [
        "incident.created", "dispatch.created", "dispatch.accept", "dispatch.on_scene"]

    report = await get(center, "damkar", "/api/reports/commitments?from=2026-11-29&to=2026-11-30")
    damkar = next(x for x in report["lines"] if x["agency"] == "palembang-damkar")
    assert damkar["dispatches"] == 1
    assert (damkar["accept"]["p50_seconds"], damkar["accept"]["within_pct"]) == (45.0, 100.0)
    assert damkar["on_scene"]["reached"] == 1
    assert [k for k, _ in center.clock.published][:2] == ["incident.created", "call.disposition"]


async def test_an_agency_sees_only_its_own_dispatches(center: Center) -> None:
    await post(center, "ani", "/api/incidents", FIRE, 201)
    await post(center, "ani", "/api/incidents/1/dispatches", {"agency": "palembang-damkar"},
               201)
    # Dinkes was never dispatched: the incident and the dispatch do not exist for it.
    assert (await get(center, "dinkes", "/api/incidents/1", 404))["error"] == "not-found"
    await post(center, "dinkes", "/api/dispatches/1/accept", {}, 404)
    assert (await get(center, "dinkes", "/api/dispatches"))["dispatches"] == []
    report = await get(center, "dinkes", "/api/reports/commitments?from=2026-11-29")
    assert report["lines"] == []
    # ... even when asking for another agency by name.
    assert (await get(center, "dinkes", "/api/dispatches?agency=palembang-damkar")
            )["dispatches"] == []
    # A supervisor sees every agency's.
    assert len((await get(center, "budi", "/api/dispatches"))["dispatches"]) == 1
    actions = [a for _, a, *_ in await center.audit()]
    assert "dispatch.accept" not in actions


async def test_a_call_taker_withdraws_and_closes(center: Center) -> None:
    await post(center, "ani", "/api/incidents", FIRE, 201)
    await post(center, "ani", "/api/incidents/1/dispatches", {"agency": "palembang-bpbd"}, 201)
    cancelled = await post(center, "ani", "/api/dispatches/1/cancel", {})
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"]
    closed = await post(center, "ani", "/api/incidents/1/close", {})
    assert closed["status"] == "closed"
    await post(center, "ani", "/api/incidents/1/close", {}, 409)
    await post(center, "ani", "/api/incidents/1/dispatches", {"agency": "palembang-damkar"},
               409)  # closed
    center.clock.advance(60)
    suggested = await get(center, "ani", "/api/incidents/suggest?category=fire&kecamatan="
                                         "Ilir%20Barat%20I")
    assert suggested["incidents"] == []  # closed ones are not offered


@pytest.mark.parametrize(("minutes", "category", "kecamatan", "offered"), [
    (29, "fire", "Ilir Barat I", True),
    (31, "fire", "Ilir Barat I", False),     # older than 30 minutes
    (5, "ambulance", "Ilir Barat I", False),  # another category
    (5, "fire", "Sekayu", False),             # another kecamatan
])
async def test_suggestions_are_recent_open_same_category_same_kecamatan(
        center: Center, minutes: int, category: str, kecamatan: str, offered: bool) -> None:
    await post(center, "ani", "/api/incidents", FIRE, 201)
    center.clock.advance(minutes * 60)
    found = await center.service.suggest(category, kecamatan)
    assert bool(found) is offered


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/api/incidents/9/dispatches", {"agency": "palembang-damkar"}, 404),
    ("/api/incidents/1/dispatches", {"agency": "palembang-polisi"}, 404),
    ("/api/calls/1732771200.1/disposition", {"disposition": "genuine", "incident_id": 9}, 404),
    ("/api/incidents/9/close", {}, 404),
])
async def test_what_does_not_exist_is_a_404(center: Center, path: str, body: dict[str, Any],
                                            status: int) -> None:
    await post(center, "ani", "/api/incidents", FIRE, 201)
    await post(center, "ani", path, body, status)


async def test_every_change_is_in_the_audit_trail_with_its_actor(center: Center) -> None:
    await post(center, "ani", "/api/incidents", {**FIRE, "call": "1732771200.1"}, 201)
    await post(center, "ani", "/api/calls/1732771200.1/disposition", {"disposition": "test"})
    await post(center, "ani", "/api/incidents/1/dispatches", {"agency": "palembang-damkar"},
               201)
    await post(center, "damkar", "/api/dispatches/1/accept", {})
    await post(center, "damkar", "/api/dispatches/1/on-the-way", {})
    await post(center, "damkar", "/api/dispatches/1/resolve", {})
    await post(center, "budi", "/api/incidents/1/close", {})
    audit = await center.audit()
    assert [(actor, action, kind, sid) for actor, action, kind, sid, _ in audit] == [
        ("ani", "incident.created", "incident", "1"),
        ("ani", "call.disposition", "call", "1732771200.1"),
        ("ani", "call.disposition", "call", "1732771200.1"),
        ("ani", "dispatch.created", "dispatch", "1"),
        ("damkar", "dispatch.accept", "dispatch", "1"),
        ("damkar", "dispatch.on_the_way", "dispatch", "1"),
        ("damkar", "dispatch.resolve", "dispatch", "1"),
        ("budi", "incident.closed", "incident", "1"),
    ]
    assert audit[2][4]["before"] == {"disposition": "genuine", "incident_id": 1}
    assert audit[4][4] == {"from": "notified", "to": "accepted"}


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_a_change_and_its_audit_row_commit_or_roll_back_together(
        center: Center) -> None:
    draft = IncidentDraft("palembang", "fire", "Ilir Barat I", "Rumah terbakar", "high")
    # No actor: the audit row is refused, and the incident inserted before it goes too.
    with pytest.raises(ValueError, match="names who made it"):
        await center.service.create_incident(draft, "")
    assert (await count(center.engine, "incidents"), await count(center.engine,
                                                                  "audit_events")) == (0, 0)
    # A refused transition writes neither.
    incident = await center.service.create_incident(draft, "ani")
    dispatch = await center.dispatches.dispatch(incident["id"], "palembang-damkar", "notify",
                                             "ani")
    with pytest.raises(Conflict):
        await center.dispatches.transition(dispatch["id"], "on_scene", "damkar")
    assert await count(center.engine, "audit_events") == 2
    # An audit entry outside a transaction is refused.
    async with center.engine.connect() as conn:
        await conn.commit()
        with pytest.raises(RuntimeError, match="inside the change's transaction"):
            await record(conn, Entry(T0, "ani", "x", "incident", "1", {}))


async def test_the_telephony_drives_a_connect_dispatch(center: Center) -> None:
    """The API the AMI Originate / DTMF slice will call, with the controller as actor."""
    incident = await center.service.create_incident(
        IncidentDraft("palembang", "fire", "Ilir Barat I", "Gudang terbakar", "critical"), "ani")
    dispatch = await center.dispatches.dispatch(incident["id"], "palembang-damkar", "connect",
                                             "ani")
    assert dispatch["status"] == "dialing"
    await center.dispatches.attempt(dispatch["id"], T0 + timedelta(seconds=1), "agency-damkar-plg")
    await center.dispatches.attempt(dispatch["id"], T0 + timedelta(seconds=16),
                                 "agency-damkar-plg-backup")
    await center.dispatches.answered(dispatch["id"], T0 + timedelta(seconds=20),
                                  "agency-damkar-plg-backup")
    done = await center.dispatches.accepted(dispatch["id"], T0 + timedelta(seconds=28))
    assert (done["status"], done["attempts"]) == ("accepted", 2)
    audit = await center.audit()
    assert [(a, act) for a, act, *_ in audit][-4:] == [
        ("controller", "dispatch.attempt"), ("controller", "dispatch.attempt"),
        ("controller", "dispatch.answer"), ("controller", "dispatch.accept")]
    assert audit[-3][4]["trunk"] == "agency-damkar-plg-backup"
    other = await center.dispatches.dispatch(incident["id"], "palembang-bpbd", "connect", "ani")
    timed_out = await center.dispatches.timed_out(other["id"], T0 + timedelta(seconds=40))
    assert timed_out["status"] == "timed-out"


async def test_live_connect_dispatches_are_those_still_dialling_or_answered(
        center: Center) -> None:
    """What a controller started again checks against Asterisk (ntpd_ivr/dispatch)."""
    incident = await center.service.create_incident(
        IncidentDraft("palembang", "fire", "Ilir Barat I", "Gudang terbakar", "critical"), "ani")
    dialing = await center.dispatches.dispatch(incident["id"], "palembang-damkar", "connect",
                                            "ani", call="1795954268.0")
    answered = await center.dispatches.dispatch(incident["id"], "palembang-bpbd", "connect",
                                             "ani")
    await center.dispatches.answered(answered["id"], T0 + timedelta(seconds=5), "agency-bpbd-plg")
    await center.dispatches.dispatch(incident["id"], "palembang-dinkes", "notify", "ani")
    live = await center.dispatches.live_connect_dispatches()
    assert [(d["id"], d["status"]) for d in live] == [
        (dialing["id"], "dialing"), (answered["id"], "answered")]
    await center.dispatches.timed_out(dialing["id"], T0 + timedelta(seconds=9))
    assert [d["id"] for d in await center.dispatches.live_connect_dispatches()] == [
        answered["id"]]
    created = [a for a in await center.audit() if a[1] == "dispatch.created"]
    assert created[0][4]["call"] == "1795954268.0" and "call" not in created[1][4]


async def test_ntpd_ivr_report_prints_the_agencies_commitments(center: Center,
                                                               tmp_path: Path) -> None:
    """`ntpd-ivr report`, as a supervisor runs it, over what the service recorded."""
    incident = await center.service.create_incident(
        IncidentDraft("palembang", "fire", "Ilir Barat I", "Rumah terbakar", "high"), "ani")
    dispatch = await center.dispatches.dispatch(incident["id"], "palembang-damkar", "notify",
                                             "ani")
    await center.dispatches.transition(dispatch["id"], "accept", "damkar",
                                    at=T0 + timedelta(seconds=90))
    url = center.engine.url.render_as_string(hide_password=False)
    settings = tmp_path / "ntpd-ivr.toml"
    settings.write_text(f'[database]\nurl = "{url}"\n[ami]\nsecret = "x"\n'
                        f'[ivr]\nrouting_config = "{EXAMPLE}"\n', encoding="utf-8")
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ntpd_ivr", "report", "--config", str(settings),
        "--from", "2026-11-29", "--to", "2026-11-30", "--format", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(done.communicate(), 60)
    assert done.returncode == 0, err.decode()
    lines = json.loads(out)["agencies"]
    damkar = next(x for x in lines if x["agency"] == "palembang-damkar")
    assert (damkar["dispatches"], damkar["accept"]["p50_seconds"],
            damkar["accept"]["within_pct"]) == (1, 90.0, 0.0)  # 90 s against 60 s


class NoAsterisk:
    """The connect dispatch's AMI: a closed agency must never reach it."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    async def action(self, action: dict[str, str],
                     timeout: float | None = None) -> ActionResult:  # noqa: ASYNC109
        self.sent.append(action)
        raise AmiError("no Asterisk in this test")


async def test_a_connect_dispatch_to_a_closed_agency_is_refused_audited_and_listed_closed(
        db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with db_engine.begin() as conn:
        await conn.execute(text("TRUNCATE dispatches, call_dispositions, incidents, "
                                "audit_events RESTART IDENTITY"))
    # 17:05 WIB: BPBD Kota Palembang keeps office hours, 07:30-16:00.
    clock = Clock(datetime(2026, 12, 7, 10, 5, tzinfo=UTC))
    service = IncidentService(db_engine, lambda: CONFIG, clock=clock)
    dispatches = DispatchService(db_engine, lambda: CONFIG, clock=clock)
    asterisk = NoAsterisk()
    dispatcher = ConnectDispatcher(asterisk, dispatches, lambda: CONFIG, lambda step: None,
                                   lambda kind, data, user: None, prompts_dir="/p")

    async def answered_by(call: str) -> str:
        return "taker-1"

    def extend(app: web.Application) -> None:
        add_routes(app, service, rights=CallRights(answered_by, AuditLog(db_engine)))
        dispatch_http.add_routes(app, dispatches, ACCESS, connect=dispatcher.connect)

    async with serving_web(tmp_path, extend=extend) as client:
        center = Center(client, service, clock, db_engine, dispatches)
        incident = await post(center, "ani", "/api/incidents",
                              {**FIRE, "category": "disaster", "call": "1765101900.4"}, 201)
        proposal = await get(center, "ani", f"/api/incidents/{incident['id']}/proposal")
        assert [(a["agency"], a["hours"], a["open"]) for a in proposal["agencies"]] == [
            ("palembang-bpbd", "07:30-16:00", False)]
        refused = await post(center, "ani", f"/api/incidents/{incident['id']}/dispatches",
                             {"agency": "palembang-bpbd", "mode": "connect",
                              "call": "1765101900.4"}, 409)
        assert refused == {"error": "agency-closed", "reason": (
            "BPBD Kota Palembang is closed now (17:05 Asia/Jakarta); its hours are "
            "07:30-16:00")}
        audit = await center.audit()
        assert audit[-1] == ("ani", "dispatch.refused-closed", "incident", str(incident["id"]),
                             {"agency": "palembang-bpbd", "call": "1765101900.4",
                              "hours": "07:30-16:00", "timezone": "Asia/Jakarta"})
        assert asterisk.sent == []  # nobody dialled
        # Notify still goes (its screen reads it when it opens); in hours, it is open again.
        await post(center, "ani", f"/api/incidents/{incident['id']}/dispatches",
                   {"agency": "palembang-bpbd"}, 201)
        clock.now = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # 08:00 WIB
        proposal = await get(center, "ani", f"/api/incidents/{incident['id']}/proposal")
        assert [a["open"] for a in proposal["agencies"]] == [True]
    await dispatcher.stop()


async def test_a_save_sent_again_with_its_key_answers_the_first_incident_and_makes_none(
        center: Center) -> None:
    """The screen sends a save again when its answer was lost (a database failover,
    docs/ha.md): with the draft's save_key, the second answers the first's incident."""
    key = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    first = await post(center, "ani", "/api/incidents",
                       {**FIRE, "call": "1732771200.5", "save_key": key}, 201)
    again = await post(center, "ani", "/api/incidents",
                       {**FIRE, "call": "1732771200.5", "save_key": key}, 201)
    assert again == first
    assert await count(center.engine, "incidents") == 1
    assert await count(center.engine, "audit_events WHERE action = 'incident.created'") == 1
    other = await post(center, "ani", "/api/incidents", {**FIRE, "save_key": "k" * 16}, 201)
    assert other["id"] != first["id"]      # another draft, another incident
    without = await post(center, "ani", "/api/incidents", FIRE, 201)
    assert without["id"] not in (first["id"], other["id"])   # no key: as before
    for bad in ("short", "x" * 65, "spaces are not ok!", 12345678901234567):
        refused = await post(center, "ani", "/api/incidents", {**FIRE, "save_key": bad}, 400)
        assert "save_key" in refused["reason"], refused
    assert await count(center.engine, "incidents") == 3
