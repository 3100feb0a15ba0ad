"""What the wall reads from PostgreSQL: today's calls for the figures, open incidents and
dispatches still waiting for an agency's accept. Read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.clock import local_midnight
from ntpd_ivr.dispatch.tables import Dispatch
from ntpd_ivr.incidents.repository import jsonable
from ntpd_ivr.incidents.tables import Incident
from ntpd_ivr.reports.model import compute_figures
from ntpd_ivr.reports.repository import load_rows

# A dispatch the agency has not accepted (or refused) yet.
WAITING_STATUSES = ("dialing", "answered", "notified")
MAX_ROWS = 50


class WallStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def figures_today(self, now: datetime) -> dict[str, Any]:
        rows = await load_rows(self.engine, local_midnight(now), now)
        return compute_figures(rows).as_dict()

    async def open_incidents(self) -> list[dict[str, Any]]:
        i = Incident.__table__
        query = (select(i.c.id, i.c.category, i.c.kecamatan, i.c.severity, i.c.created_at,
                        i.c.created_by)
                 .where(i.c.status == "open").order_by(i.c.created_at.desc()).limit(MAX_ROWS))
        async with self.engine.connect() as conn:
            return [jsonable(r) for r in (await conn.execute(query)).mappings()]

    async def waiting_dispatches(self) -> list[dict[str, Any]]:
        d, i = Dispatch.__table__, Incident.__table__
        query = (select(d.c.id, d.c.incident_id, d.c.agency, d.c.mode, d.c.status,
                        d.c.created_at, i.c.category, i.c.kecamatan)
                 .join(i, i.c.id == d.c.incident_id)
                 .where(d.c.status.in_(WAITING_STATUSES))
                 .order_by(d.c.created_at).limit(MAX_ROWS))
        async with self.engine.connect() as conn:
            return [jsonable(r) for r in (await conn.execute(query)).mappings()]
