"""Reading dispatches, for the incidents domain: an incident's view lists its dispatches."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ntpd_ivr.dispatch.tables import Dispatch
from ntpd_ivr.incidents.repository import jsonable


async def dispatches_of(conn: AsyncConnection, incident_id: int, *,
                      agency: str | None = None) -> list[dict[str, Any]]:
    """The incident's dispatches, oldest first; `agency`: only that agency's."""
    table = Dispatch.__table__
    query = select(table).where(table.c.incident_id == incident_id)
    if agency is not None:
        query = query.where(table.c.agency == agency)
    return [jsonable(d) for d in (await conn.execute(query.order_by(table.c.id))).mappings()]
