"""The only code that changes incidents and call dispositions.

Every change names its actor and is written with its audit entry in one transaction
(ntpd_ivr/audit). Dispatches are ntpd_ivr/dispatch/records.py's; an incident's view reads
them through ntpd_ivr/dispatch/repository.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert as sa_insert
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ntpd_ivr.audit.trail import Entry, history, record
from ntpd_ivr.clock import utcnow
from ntpd_ivr.dispatch.repository import dispatches_of
from ntpd_ivr.incidents.exceptions import Conflict, NotFound
from ntpd_ivr.incidents.model import SUGGEST_WINDOW_SECONDS, IncidentDraft, kecamatan_key
from ntpd_ivr.incidents.repository import incident_row, jsonable
from ntpd_ivr.incidents.schemas import DispositionRequest
from ntpd_ivr.incidents.tables import CallDisposition, Incident, IncidentSave
from ntpd_ivr.routing.config import RoutingConfig

log = logging.getLogger(__name__)

Publish = Callable[[str, Mapping[str, Any]], None]  # (kind, data): a change, for the screens
# (conn, call uniqueid, disposition, actor, at), inside the disposition's transaction: the
# prank policy's strikes (ntpd_ivr/prank). What it raises rolls the disposition back.
DispositionHook = Callable[[AsyncConnection, str, str, str, datetime], Awaitable[None]]


class IncidentService:
    def __init__(self, engine: AsyncEngine, routing: Callable[[], RoutingConfig], *,
                 clock: Callable[[], datetime] = utcnow,
                 publish: Publish | None = None,
                 on_disposition: DispositionHook | None = None) -> None:
        self.engine = engine
        self.on_disposition = on_disposition
        self.routing = routing  # the live config: a reload applies to the next request
        self.clock = clock
        self.publish = publish

    def _changed(self, kind: str, data: Mapping[str, Any]) -> None:
        if self.publish is not None:
            self.publish(kind, data)

    # ---- incidents and dispositions ------------------------------------------------------

    async def create_incident(self, draft: IncidentDraft, actor: str,
                              call: str | None = None, *,
                              save_key: str | None = None) -> dict[str, Any]:
        """A new open incident; the call it was written from becomes its first genuine call.
        With the screen's `save_key`, a save sent again (its first answer lost in a
        database failover) answers the incident the first one made, changing nothing."""
        at = self.clock()
        values = {**asdict(draft), "kecamatan_key": kecamatan_key(draft.kecamatan),
                  "status": "open", "created_at": at, "created_by": actor}
        async with self.engine.begin() as conn:
            if save_key is not None:
                made = (await conn.execute(
                    select(Incident.__table__).join(
                        IncidentSave, IncidentSave.incident_id == Incident.id).where(
                        IncidentSave.save_key == save_key))).mappings().first()
                if made is not None:
                    log.info("incident %d: save %s sent again by %s, already saved",
                             made["id"], save_key, actor)
                    return jsonable(made)
            row = (await conn.execute(sa_insert(Incident).values(**values)
                                      .returning(*Incident.__table__.c))).mappings().one()
            if save_key is not None:
                await conn.execute(pg_insert(IncidentSave).values(
                    save_key=save_key, incident_id=row["id"]).on_conflict_do_update(
                    index_elements=[IncidentSave.save_key],
                    set_={"incident_id": row["id"]}))
            incident = jsonable(row)
            await record(conn, Entry(at, actor, "incident.created", "incident",
                                     str(row["id"]), {**asdict(draft), "call": call}))
            disposed = None if call is None else await self._dispose(
                conn, call, DispositionRequest("genuine", row["id"]), actor, at)
        log.info("incident %d (%s, %s) by %s from call %s", row["id"], draft.category,
                 draft.kecamatan, actor, call or "-")
        self._changed("incident.created", incident)
        if disposed is not None:
            self._changed("call.disposition", disposed)
        return incident

    async def suggest(self, category: str, kecamatan: str) -> list[dict[str, Any]]:
        """Open incidents of this category in this kecamatan from the last 30 minutes, the
        newest first: the call may be about one of them (a duplicate)."""
        since = self.clock() - timedelta(seconds=SUGGEST_WINDOW_SECONDS)
        table = Incident.__table__
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(table).where(table.c.category == category,
                                    table.c.kecamatan_key == kecamatan_key(kecamatan),
                                    table.c.status == "open", table.c.created_at >= since)
                .order_by(table.c.created_at.desc()).limit(10))
            return [jsonable(r) for r in rows.mappings()]

    async def set_disposition(self, call: str, request: DispositionRequest,
                              actor: str) -> dict[str, Any]:
        at = self.clock()
        async with self.engine.begin() as conn:
            if request.incident_id is not None:
                await incident_row(conn, request.incident_id, lock=True)
            result = await self._dispose(conn, call, request, actor, at)
        self._changed("call.disposition", result)
        return result

    async def _dispose(self, conn: AsyncConnection, call: str, request: DispositionRequest,
                       actor: str, at: datetime) -> dict[str, Any]:
        before = (await conn.execute(
            select(CallDisposition.disposition, CallDisposition.incident_id)
            .where(CallDisposition.uniqueid == call).with_for_update())).first()
        values = {"disposition": request.disposition, "incident_id": request.incident_id,
                  "set_at": at, "set_by": actor}
        await conn.execute(pg_insert(CallDisposition).values(uniqueid=call, **values)
                           .on_conflict_do_update(index_elements=[CallDisposition.uniqueid],
                                                  set_=values))
        await record(conn, Entry(at, actor, "call.disposition", "call", call, {
            "disposition": request.disposition, "incident_id": request.incident_id,
            "before": None if before is None else {"disposition": before[0],
                                                   "incident_id": before[1]}}))
        if self.on_disposition is not None:
            await self.on_disposition(conn, call, request.disposition, actor, at)
        return jsonable({"call": call, **values})

    async def incident(self, incident_id: int, *, agency: str | None = None) -> dict[str, Any]:
        """The incident with its calls, dispatches and audit history. `agency`: an agency
        user, who sees it only if it was dispatched to that agency, and only that dispatch."""
        async with self.engine.connect() as conn:
            row = await incident_row(conn, incident_id)
            dispatches = await dispatches_of(conn, incident_id, agency=agency)
            if agency is not None and not dispatches:
                raise NotFound(f"no incident {incident_id}")
            calls = [jsonable(c) for c in (await conn.execute(
                select(CallDisposition.__table__).where(
                    CallDisposition.__table__.c.incident_id == incident_id)
                .order_by(CallDisposition.__table__.c.set_at))).mappings()]
            trail = await history(conn, "incident", [str(incident_id)])
            trail += await history(conn, "dispatch", [str(d["id"]) for d in dispatches])
        result = jsonable(row)
        result.update(dispatches=dispatches,
                      history=[e.as_dict() for e in sorted(trail, key=lambda e: e.at)])
        if agency is None:
            result["calls"] = calls  # callers' numbers stay with the center
        return result

    async def close_incident(self, incident_id: int, actor: str) -> dict[str, Any]:
        at = self.clock()
        async with self.engine.begin() as conn:
            row = await incident_row(conn, incident_id, lock=True)
            if row["status"] == "closed":
                raise Conflict(f"incident {incident_id} is already closed")
            await conn.execute(update(Incident).where(Incident.id == incident_id)
                               .values(status="closed", closed_at=at))
            await record(conn, Entry(at, actor, "incident.closed", "incident",
                                     str(incident_id), {}))
        self._changed("incident.closed", {"id": incident_id})
        return {"id": incident_id, "status": "closed", "closed_at": at.isoformat()}
