"""The queries on `calls` for the other domains: one place owns them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.db.models import Call


class CallsRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """The latest calls for the web views, newest first; read-only."""
        table = Call.__table__
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(table).order_by(table.c.arrived_at.desc().nulls_last())
                                      .limit(limit))
            return [dict(row) for row in rows.mappings()]
