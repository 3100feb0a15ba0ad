"""Reading incidents, for this domain and for dispatch (ntpd_ivr/dispatch/records.py):
rows as JSON-ready values, and one incident's row."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ntpd_ivr.incidents.exceptions import NotFound
from ntpd_ivr.incidents.tables import Incident


def jsonable(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row (RowMapping) as JSON-ready values: times in ISO 8601."""
    return {str(k): v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


async def incident_row(conn: AsyncConnection, incident_id: int, *,
                       lock: bool = False) -> Mapping[Any, Any]:
    """The incident's row, or NotFound; `lock`: FOR UPDATE, until the transaction ends."""
    query = select(Incident.__table__).where(Incident.__table__.c.id == incident_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).mappings().first()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    return row
