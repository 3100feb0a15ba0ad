"""What the reports read from the database, for the reports' own pages and commands and for
the domains that show figures (the wall's, the API's, the monitoring feed's)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.calls.repository import CallsRepository
from ntpd_ivr.clock import utcnow
from ntpd_ivr.reports import grouped
from ntpd_ivr.reports.model import CallRow, GroupedReport, ReportQuery
from ntpd_ivr.routing.config import RoutingConfig


async def load_rows(engine: AsyncEngine, start: datetime, end: datetime,
                    region: str | None = None) -> list[CallRow]:
    """Every call that arrived in [start, end), abandoned ones included."""
    return [CallRow(*row) for row in
            await CallsRepository(engine).report_rows(start, end, region)]


@dataclass(frozen=True)
class ReportSource:
    """What a report is made from: the database, the routing config (zone, agencies,
    commitments) and SIP endpoint -> call-taker name."""
    engine: AsyncEngine
    routing: Callable[[], RoutingConfig]
    takers: Callable[[], Mapping[str, str]]
    clock: Callable[[], datetime] = utcnow

    async def report(self, query: ReportQuery) -> GroupedReport:
        return await grouped.build_report(
            self.engine, self.routing(), by=query.by, within=query.within,
            start=query.start, end=query.end, region=query.region, takers=self.takers())
