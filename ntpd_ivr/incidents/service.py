"""The only code that changes incidents, call dispositions and dispatches.

Every change names its actor and is written with its audit entry in one transaction
(ntpd_ivr/audit). The telephony side (AMI Originate to the agency trunk, the announcement,
DTMF 1, ConfBridge) drives a "connect" dispatch through `attempt`, `answered`, `accepted`,
`refused` and `timed_out` with the controller as actor; an agency user drives a "notify"
dispatch from its screen with `transition`.
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

from ntpd_ivr.audit.trail import CONTROLLER, Entry, history, record
from ntpd_ivr.clock import utcnow
from ntpd_ivr.incidents import matrix
from ntpd_ivr.incidents.exceptions import Conflict, NotFound
from ntpd_ivr.incidents.model import (
    FINAL,
    SUGGEST_WINDOW_SECONDS,
    TIME_COLUMNS,
    DispatchEvent,
    DispatchMode,
    DispatchState,
    IncidentDraft,
    kecamatan_key,
)
from ntpd_ivr.incidents.schemas import DispositionRequest
from ntpd_ivr.incidents.tables import CallDisposition, Dispatch, Incident
from ntpd_ivr.routing.config import RoutingConfig

log = logging.getLogger(__name__)

Publish = Callable[[str, Mapping[str, Any]], None]  # (kind, data): a change, for the screens
# (conn, call uniqueid, disposition, actor, at), inside the disposition's transaction: the
# prank policy's strikes (ntpd_ivr/prank). What it raises rolls the disposition back.
DispositionHook = Callable[[AsyncConnection, str, str, str, datetime], Awaitable[None]]


def jsonable(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row (RowMapping) as JSON-ready values: times in ISO 8601."""
    return {str(k): v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _state(row: Mapping[Any, Any]) -> DispatchState:
    return DispatchState(mode=row["mode"], status=row["status"], created_at=row["created_at"],
                         attempts=row["attempts"], **{c: row[c] for c in TIME_COLUMNS})


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
                              call: str | None = None) -> dict[str, Any]:
        """A new open incident; the call it was written from becomes its first genuine call."""
        at = self.clock()
        values = {**asdict(draft), "kecamatan_key": kecamatan_key(draft.kecamatan),
                  "status": "open", "created_at": at, "created_by": actor}
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa_insert(Incident).values(**values)
                                      .returning(*Incident.__table__.c))).mappings().one()
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
                await self._incident_row(conn, request.incident_id, lock=True)
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

    async def _incident_row(self, conn: AsyncConnection, incident_id: int, *,
                            lock: bool = False) -> Mapping[Any, Any]:
        query = select(Incident.__table__).where(Incident.__table__.c.id == incident_id)
        row = (await conn.execute(query.with_for_update() if lock else query)).mappings().first()
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        return row

    async def incident(self, incident_id: int, *, agency: str | None = None) -> dict[str, Any]:
        """The incident with its calls, dispatches and audit history. `agency`: an agency
        user, who sees it only if it was dispatched to that agency, and only that dispatch."""
        async with self.engine.connect() as conn:
            row = await self._incident_row(conn, incident_id)
            dispatch_query = select(Dispatch.__table__).where(
                Dispatch.__table__.c.incident_id == incident_id)
            if agency is not None:
                dispatch_query = dispatch_query.where(Dispatch.__table__.c.agency == agency)
            dispatches = [jsonable(d) for d in (await conn.execute(
                dispatch_query.order_by(Dispatch.__table__.c.id))).mappings()]
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
            row = await self._incident_row(conn, incident_id, lock=True)
            if row["status"] == "closed":
                raise Conflict(f"incident {incident_id} is already closed")
            await conn.execute(update(Incident).where(Incident.id == incident_id)
                               .values(status="closed", closed_at=at))
            await record(conn, Entry(at, actor, "incident.closed", "incident",
                                     str(incident_id), {}))
        self._changed("incident.closed", {"id": incident_id})
        return {"id": incident_id, "status": "closed", "closed_at": at.isoformat()}

    # ---- dispatch --------------------------------------------------------------------------

    async def proposal(self, incident_id: int) -> list[dict[str, Any]]:
        """The agencies the responsibility matrix proposes for this incident."""
        async with self.engine.connect() as conn:
            row = await self._incident_row(conn, incident_id)
        return [{"agency": a.key, "name": a.name, "region": a.region, "mode": a.mode}
                for a in matrix.propose(self.routing(), row["region"], row["category"])]

    async def dispatch(self, incident_id: int, agency_key: str, mode: DispatchMode,
                       actor: str, call: str | None = None) -> dict[str, Any]:
        """A new dispatch; `call`: the caller a connect dispatch brings the agency to."""
        config = self.routing()
        agency = config.agencies.get(agency_key)
        if agency is None:
            raise NotFound(f"no agency {agency_key!r} in the routing config")
        at = self.clock()
        state = DispatchState.start(mode, at)
        table = Dispatch.__table__
        async with self.engine.begin() as conn:
            incident = await self._incident_row(conn, incident_id, lock=True)
            if incident["status"] != "open":
                raise Conflict(f"incident {incident_id} is closed")
            active = (await conn.execute(select(table.c.id).where(
                table.c.incident_id == incident_id, table.c.agency == agency_key,
                table.c.status.not_in(FINAL)))
            ).first()
            if active is not None:
                raise Conflict(f"incident {incident_id} is already with {agency_key} "
                               f"(dispatch {active[0]})")
            proposed = agency in matrix.propose(config, incident["region"],
                                                incident["category"])
            row = (await conn.execute(sa_insert(Dispatch).values(
                incident_id=incident_id, agency=agency_key, region=agency.region, mode=mode,
                status=state.status, proposed=proposed, attempts=0, created_at=at,
                created_by=actor).returning(*table.c))).mappings().one()
            await record(conn, Entry(at, actor, "dispatch.created", "dispatch",
                                     str(row["id"]), {"incident_id": incident_id,
                                                      "agency": agency_key, "mode": mode,
                                                      "proposed": proposed,
                                                      **({"call": call} if call else {})}))
        result = jsonable(row)
        log.info("dispatch %d: incident %d to %s (%s) by %s", row["id"], incident_id,
                 agency_key, mode, actor)
        self._changed("dispatch.created", result)
        return result

    async def transition(self, dispatch_id: int, event: DispatchEvent, actor: str, *,
                         at: datetime | None = None, agency: str | None = None,
                         detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One step of the dispatch's state machine. `agency`: the acting agency user's
        scope; another agency's dispatch does not exist for it."""
        table = Dispatch.__table__
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(table).where(table.c.id == dispatch_id)
                                      .with_for_update())).mappings().first()
            if row is None or (agency is not None and row["agency"] != agency):
                raise NotFound(f"no dispatch {dispatch_id}")
            when = at or self.clock()
            after = _state(row).advance(event, when)
            changes = {c: getattr(after, c) for c in ("status", "attempts", *TIME_COLUMNS)
                       if getattr(after, c) != row[c]}
            await conn.execute(update(Dispatch).where(Dispatch.id == dispatch_id)
                               .values(**changes))
            await record(conn, Entry(when, actor, f"dispatch.{event}", "dispatch",
                                     str(dispatch_id), {"from": row["status"],
                                                        "to": after.status, **(detail or {})}))
        result = jsonable({**row, **changes})
        log.info("dispatch %d (%s): %s -> %s by %s", dispatch_id, row["agency"],
                 row["status"], after.status, actor)
        self._changed("dispatch.changed", result)
        return result

    # For the telephony slice: what Asterisk reports about a "connect" dispatch.
    async def attempt(self, dispatch_id: int, at: datetime, trunk: str) -> dict[str, Any]:
        return await self.transition(dispatch_id, "attempt", CONTROLLER, at=at,
                                     detail={"trunk": trunk})

    async def answered(self, dispatch_id: int, at: datetime, trunk: str) -> dict[str, Any]:
        return await self.transition(dispatch_id, "answer", CONTROLLER, at=at,
                                     detail={"trunk": trunk})

    async def accepted(self, dispatch_id: int, at: datetime) -> dict[str, Any]:
        return await self.transition(dispatch_id, "accept", CONTROLLER, at=at,
                                     detail={"by": "dtmf"})

    async def refused(self, dispatch_id: int, at: datetime) -> dict[str, Any]:
        return await self.transition(dispatch_id, "refuse", CONTROLLER, at=at,
                                     detail={"by": "dtmf"})

    async def timed_out(self, dispatch_id: int, at: datetime) -> dict[str, Any]:
        return await self.transition(dispatch_id, "time_out", CONTROLLER, at=at)

    async def live_connect_dispatches(self) -> list[dict[str, Any]]:
        """Connect dispatches still dialling or waiting for the agency's key: after a
        controller restart, those nobody dials any more are timed out (ntpd_ivr/dispatch)."""
        table = Dispatch.__table__
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(table).where(
                table.c.mode == "connect", table.c.status.in_(("dialing", "answered")))
                .order_by(table.c.id).limit(1000))
            return [jsonable(r) for r in rows.mappings()]

    async def agency_dispatches(self, agency: str | None, limit: int = 100
                                ) -> list[dict[str, Any]]:
        """Dispatches with their incident, newest first; `agency=None`: every agency's."""
        d, i = Dispatch.__table__, Incident.__table__
        query = (select(*d.c, i.c.category, i.c.kecamatan, i.c.desa, i.c.address,
                        i.c.description, i.c.severity, i.c.people_involved,
                        i.c.lat, i.c.lon, i.c.status.label("incident_status"))
                 .join(i, i.c.id == d.c.incident_id)
                 .order_by(d.c.created_at.desc(), d.c.id.desc()).limit(limit))
        if agency is not None:
            query = query.where(d.c.agency == agency)
        async with self.engine.connect() as conn:
            return [jsonable(r) for r in (await conn.execute(query)).mappings()]
