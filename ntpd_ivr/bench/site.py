"""`make bench-failover`'s site fault (docs/ha.md, "A second site"): the whole first site
killed (both Asterisk nodes, both controllers, its PostgreSQL) under load through the edge,
whose dispatcher then sends new calls to the second site (stack/secondsite.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from ntpd_ivr.calls.tables import Call
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.numbers import canonical_prefix
from ntpd_ivr.settings import load_settings


async def _first_overflow(settings_file: Path, prefix: str) -> datetime | None:
    engine = make_engine(load_settings(settings_file).database)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(select(func.min(Call.arrived_at)).where(
                Call.caller_number.like(canonical_prefix(prefix) + "%"),
                Call.overflow_region.is_not(None)))).scalar_one_or_none()
    finally:
        await engine.dispose()


def first_overflow_after(settings_file: Path, prefix: str, struck_at: float) -> float | None:
    """Seconds from the fault to the first of this run's calls that the second site took
    as overflow (its arrival there); None when none arrived."""
    first = asyncio.run(_first_overflow(settings_file, prefix))
    return None if first is None else first.timestamp() - struck_at
