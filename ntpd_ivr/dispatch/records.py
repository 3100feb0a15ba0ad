"""The only code that changes dispatches: each incident handed to an agency, and each step
of its state machine (ntpd_ivr/dispatch/model.py).

Every change names its actor and is written with its audit entry in one transaction
(ntpd_ivr/audit). The telephony side (ConnectDispatcher, service.py: AMI Originate to the
agency trunk, the announcement, DTMF 1, ConfBridge) drives a "connect" dispatch through
`attempt`, `answered`, `accepted`, `refused` and `timed_out` with the controller as actor;
an agency user drives a "notify" dispatch from its screen with `transition`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert as sa_insert
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.audit.trail import CONTROLLER, Entry, record
from ntpd_ivr.clock import utcnow
from ntpd_ivr.dispatch import matrix
from ntpd_ivr.dispatch.model import (
    FINAL,
    TIME_COLUMNS,
    DispatchEvent,
    DispatchMode,
    DispatchState,
    agency_open,
)
from ntpd_ivr.dispatch.tables import Dispatch
from ntpd_ivr.incidents.exceptions import Conflict, NotFound
from ntpd_ivr.incidents.repository import incident_row, jsonable
from ntpd_ivr.incidents.tables import Incident
from ntpd_ivr.routing.config import Agency, RoutingConfig

log = logging.getLogger(__name__)

Publish = Callable[[str, Mapping[str, Any]], None]  # (kind, data): a change, for the screens


def _state(row: Mapping[Any, Any]) -> DispatchState:
    return DispatchState(mode=row["mode"], status=row["status"], created_at=row["created_at"],
                         attempts=row["attempts"], **{c: row[c] for c in TIME_COLUMNS})


class DispatchService:
    def __init__(self, engine: AsyncEngine, routing: Callable[[], RoutingConfig], *,
                 clock: Callable[[], datetime] = utcnow,
                 publish: Publish | None = None) -> None:
        self.engine, self.clock = engine, clock
        self.routing = routing  # the live config: a reload applies to the next request
        self._changed: Publish = publish or (lambda kind, data: None)

    async def incident(self, incident_id: int) -> dict[str, Any]:
        """The incident a dispatch is for (what the agency hears of it), or NotFound."""
        async with self.engine.connect() as conn:
            return jsonable(await incident_row(conn, incident_id))

    async def proposal(self, incident_id: int) -> list[dict[str, Any]]:
        """The agencies the responsibility matrix proposes for this incident; `open`: within
        its hours now, in the center's zone (a connect dispatch to a closed one is refused)."""
        async with self.engine.connect() as conn:
            row = await incident_row(conn, incident_id)
        config, now = self.routing(), self.clock()
        return [{"agency": a.key, "name": a.name, "region": a.region, "mode": a.mode,
                 "hours": a.hours.label, "open": agency_open(a, config.zone, now)}
                for a in matrix.propose(config, row["region"], row["category"])]

    async def refused_closed(self, incident_id: int, agency: Agency, actor: str, call: str,
                             at: datetime) -> None:
        """A connect dispatch refused because the agency is outside its hours: audited on
        the incident (no dispatch is written)."""
        async with self.engine.begin() as conn:
            await record(conn, Entry(at, actor, "dispatch.refused-closed", "incident",
                                     str(incident_id), {"agency": agency.key, "call": call,
                                                        "hours": agency.hours.label,
                                                        "timezone": self.routing().timezone}))

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
            incident = await incident_row(conn, incident_id, lock=True)
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
