"""Strikes against a real PostgreSQL: a call-taker's prank/silent disposition adds a strike
in the disposition's own transaction, genuine clears them, a supervisor's unblock clears
and is audited, the view loads them at start, and the background writer stores detected
silent calls (tests/conftest.py gives the database)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.ami.events import Hangup
from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.calls.tables import Call
from ntpd_ivr.incidents.model import IncidentDraft
from ntpd_ivr.incidents.schemas import DispositionRequest
from ntpd_ivr.incidents.service import IncidentService
from ntpd_ivr.prank.config import PrankPolicy
from ntpd_ivr.prank.service import PrankService
from ntpd_ivr.prank.store import Strike
from ntpd_ivr.prank.tables import CallerStrike
from ntpd_ivr.routing.config import RoutingConfig

NOW = datetime.now(UTC).replace(microsecond=0)
NUMBER = "+6281277700011"
ROUTING = replace(RoutingConfig.minimal("q"), prank=replace(
    RoutingConfig.minimal("q").prank, default=PrankPolicy(warn_at=1, deprioritise_at=2,
                                                           block_at=3)))


@pytest.fixture
async def clean(db_engine: AsyncEngine) -> AsyncEngine:
    async with db_engine.begin() as conn:
        await conn.execute(delete(CallerStrike))
        # audit_events is append-only (migration 0014): its owner may only empty it.
        await conn.execute(text("TRUNCATE audit_events"))
    return db_engine


async def a_call(engine: AsyncEngine, uniqueid: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(Call).values(uniqueid=uniqueid, caller_number=NUMBER,
                                               region="default", arrived_at=NOW))


async def actions(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        return [(r.action, r.actor) for r in await conn.execute(
            select(AuditEvent.action, AuditEvent.actor).where(
                AuditEvent.subject_type == "caller", AuditEvent.subject_id == NUMBER)
            .order_by(AuditEvent.id))]


async def test_dispositions_add_and_clear_strikes_in_their_transaction(
        clean: AsyncEngine) -> None:
    prank = PrankService(clean, lambda: ROUTING)
    await prank.start()
    try:
        incidents = IncidentService(clean, lambda: ROUTING, on_disposition=prank.on_disposition)
        for uniqueid in ("p.1", "p.2", "p.3"):
            await a_call(clean, uniqueid)
        await incidents.set_disposition("p.1", DispositionRequest("prank", None), "ani")
        await incidents.set_disposition("p.2", DispositionRequest("silent", None), "budi")
        # The same call again: still one strike for it.
        await incidents.set_disposition("p.2", DispositionRequest("prank", None), "budi")
        assert prank.action_for(NUMBER, "default", legacy=False).level == "deprioritise"
        async with clean.connect() as conn:
            rows = (await conn.execute(select(CallerStrike.reason, CallerStrike.actor)
                                       .order_by(CallerStrike.id))).all()
        assert [tuple(r) for r in rows] == [("prank", "ani"), ("silent", "budi")]
        # A genuine call: the incident written from it makes it genuine, in one transaction.
        await incidents.create_incident(IncidentDraft("default", "ambulance", "Sekayu",
                                                      "Sesak napas", "high"), "ani", call="p.3")
        assert prank.action_for(NUMBER, "default", legacy=False).level == "none"
        await prank.refresh()  # and the database says the same
        assert prank.view.times(NUMBER) == ()
        assert await actions(clean) == [("prank.strike", "ani"), ("prank.strike", "budi"),
                                        ("prank.cleared", "ani")]
    finally:
        await prank.stop()


async def test_unblock_the_view_at_start_and_detected_silent_calls(clean: AsyncEngine) -> None:
    seeded = PrankService(clean, lambda: ROUTING)
    await seeded.start()
    for n in range(3):
        seeded._strike(Strike(
            NUMBER, NOW - timedelta(minutes=n), "silent-detected", "controller", f"s.{n}"))
    await seeded.stop()  # drains the writer
    restarted = PrankService(clean, lambda: ROUTING)
    await restarted.start()
    try:
        assert restarted.action_for(NUMBER, "default", legacy=False).level == "block"
        # A silent call seen through AMI: stored by the background writer.
        restarted.call_started("s.9", NUMBER, "default")
        restarted.on_event(Hangup(name="Hangup", received_at=NOW.timestamp(), uniqueid="s.9",
                                  linkedid="s.9", channel="c", cause=16, cause_txt=""))
        for _ in range(300):  # a generous deadline: 30 s
            async with clean.connect() as conn:
                count = len((await conn.execute(select(CallerStrike.id))).all())
            if count == 4:
                break
            await asyncio.sleep(0.1)
        assert count == 4
        assert await restarted.unblock(NUMBER, "supervisor") == 4
        assert restarted.action_for(NUMBER, "default", legacy=False).level == "none"
        listed = await restarted.listing(NUMBER)
        assert [(e["number"], e["strikes"], e["level"]) for e in listed] == [(NUMBER, 0, "none")]
        assert (await actions(clean))[-1] == ("prank.unblocked", "supervisor")
    finally:
        await restarted.stop()
