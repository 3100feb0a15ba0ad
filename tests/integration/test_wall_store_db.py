"""What the wall reads from a real PostgreSQL: today's figures over all offered calls,
open incidents, and the dispatches still waiting for an agency's accept."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.calls.tables import Call
from ntpd_ivr.clock import local_midnight
from ntpd_ivr.dispatch.records import DispatchService
from ntpd_ivr.incidents.model import IncidentDraft
from ntpd_ivr.incidents.service import IncidentService
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.wall.store import WallStore

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"


async def test_the_walls_reads(db_engine: AsyncEngine) -> None:
    async with db_engine.begin() as conn:
        await conn.execute(text("TRUNCATE dispatches, call_dispositions, incidents, "
                                "audit_events RESTART IDENTITY"))
    now = datetime.now().astimezone().replace(hour=12, minute=0, second=0, microsecond=0)
    midnight = local_midnight(now)
    async with db_engine.begin() as conn:
        for uniqueid, arrived, answer_s, disposition in (
                ("5.1", now - timedelta(hours=1), 8, "answered"),
                ("5.2", now - timedelta(hours=2), 18, "answered"),
                ("5.3", now - timedelta(hours=3), None, "abandoned-in-queue"),
                ("5.4", midnight - timedelta(minutes=5), 3, "answered")):  # yesterday
            await conn.execute(insert(Call).values(
                uniqueid=uniqueid, arrived_at=arrived, ended_at=arrived + timedelta(minutes=1),
                disposition=disposition,
                answered_at=arrived + timedelta(seconds=answer_s) if answer_s else None))
    store = WallStore(db_engine)
    figures = await store.figures_today(now)
    assert (figures["offered"], figures["answered"], figures["abandoned"]) == (3, 2, 1)
    assert figures["answered_within_10s_pct"] == 33.33
    assert figures["answered_within_20s_pct"] == 66.67
    assert figures["abandon_rate_pct"] == 33.33

    config = load_routing_config(EXAMPLE)
    incidents = IncidentService(db_engine, lambda: config)
    dispatches = DispatchService(db_engine, lambda: config)
    draft = IncidentDraft(region="palembang", category="fire", kecamatan="Ilir Barat I",
                          desa="", address="", lat=None, lon=None, description="Kebakaran",
                          people_involved=0, severity="high")
    first = await incidents.create_incident(draft, "ani")
    second = await incidents.create_incident(draft, "ani")
    await dispatches.dispatch(first["id"], "palembang-damkar", "notify", "ani")
    await incidents.close_incident(second["id"], "budi")
    assert [i["id"] for i in await store.open_incidents()] == [first["id"]]
    waiting = await store.waiting_dispatches()
    assert [(d["incident_id"], d["agency"], d["status"]) for d in waiting] == [
        (first["id"], "palembang-damkar", "notified")]
    dispatch_id = waiting[0]["id"]
    await dispatches.transition(dispatch_id, "accept", "damkar")
    assert await store.waiting_dispatches() == []
