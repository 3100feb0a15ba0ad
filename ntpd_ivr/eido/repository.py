"""What an incident's EIDO is made of, read from the incidents, dispositions, calls,
dispatches and location fixes tables (each read through its owner's table module). The
agency scope is the API's: an agency sees an incident only when it was dispatched to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ntpd_ivr.calls.tables import Call
from ntpd_ivr.dispatch.tables import Dispatch
from ntpd_ivr.eido.model import CallFacts, DispatchFacts, FixFacts, IncidentFacts
from ntpd_ivr.incidents.tables import CallDisposition, Incident
from ntpd_ivr.location.tables import LocationFixRow
from ntpd_ivr.routing.config import RoutingConfig

_DISPATCH_TIMES = ("created_at", "answered_at", "accepted_at", "refused_at", "timed_out_at",
                   "on_the_way_at", "on_scene_at", "resolved_at", "cancelled_at")


class EidoSource:
    def __init__(self, engine: AsyncEngine, routing: Callable[[], RoutingConfig]) -> None:
        self.engine, self.routing = engine, routing

    async def facts(self, incident_id: int, agency: str | None = None) -> IncidentFacts | None:
        """The incident's facts, or None when there is none (or none in `agency`'s scope)."""
        async with self.engine.connect() as conn:
            return await self.read(conn, incident_id, agency)

    async def in_scope(self, incident_id: int, agency: str) -> bool:
        d = Dispatch.__table__
        async with self.engine.connect() as conn:
            return bool((await conn.execute(select(exists().where(
                d.c.incident_id == incident_id, d.c.agency == agency)))).scalar())

    async def read(self, conn: AsyncConnection, incident_id: int,
                   agency: str | None) -> IncidentFacts | None:
        i, d = Incident.__table__, Dispatch.__table__
        query = select(i).where(i.c.id == incident_id)
        if agency is not None:
            query = query.where(exists().where(d.c.incident_id == i.c.id, d.c.agency == agency))
        row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        c, cd = Call.__table__, CallDisposition.__table__
        calls = [CallFacts(
            r.uniqueid, r.caller_number, r.queue, r.arrived_at, r.answered_at, r.answered_by,
            r.ended_at, r.abandoned_at, r.location_raw if r.location_kind in (
                "point", "circle", "civic") else None,
            r.location_lat, r.location_lon, r.location_radius_m)
            for r in await conn.execute(
                select(c).join(cd, cd.c.uniqueid == c.c.uniqueid)
                .where(cd.c.incident_id == incident_id).order_by(c.c.arrived_at, c.c.uniqueid))]
        routing = self.routing()
        dispatches = []
        for r in (await conn.execute(select(d).where(d.c.incident_id == incident_id)
                                     .order_by(d.c.id))).mappings():
            agency_config = routing.agencies.get(r["agency"])
            dispatches.append(DispatchFacts(
                r["id"], r["agency"], agency_config.name if agency_config else r["agency"],
                agency_config.categories if agency_config else (), r["status"],
                r["created_at"], r["created_by"],
                max(r[t] for t in _DISPATCH_TIMES if r[t] is not None)))
        fix = None
        if calls:
            f = LocationFixRow.__table__
            best = (await conn.execute(
                select(f).where(f.c.call_uniqueid.in_([call.uniqueid for call in calls]))
                .order_by(f.c.radius_m.asc().nulls_last(), f.c.received_at.desc()).limit(1))
                    ).mappings().first()
            if best is not None:
                fix = FixFacts(best["lat"], best["lon"], best["radius_m"],
                               best["fix_time"] or best["received_at"], best["source"],
                               best["call_uniqueid"] if len(calls) > 1 else None)
        return IncidentFacts(
            id=row["id"], region=row["region"], category=row["category"],
            kecamatan=row["kecamatan"], desa=row["desa"], address=row["address"],
            lat=row["lat"], lon=row["lon"], description=row["description"],
            people_involved=row["people_involved"], severity=row["severity"],
            status=row["status"], created_at=row["created_at"], created_by=row["created_by"],
            closed_at=row["closed_at"], calls=tuple(calls), fix=fix,
            dispatches=tuple(dispatches))


def incident_of(kind: str, data: Any) -> int | None:
    """Which incident an IncidentsChanged is about (incident.* carry `id`; dispatch.* and
    call.disposition carry `incident_id`)."""
    value = data.get("id") if kind.startswith("incident.") else data.get("incident_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
