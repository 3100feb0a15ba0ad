"""The strikes in PostgreSQL. Every change is written with its audit entry in the caller's
transaction (ntpd_ivr/audit); nothing here opens a transaction of its own."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ntpd_ivr.audit.trail import Entry, record
from ntpd_ivr.calls.repository import caller_and_region
from ntpd_ivr.prank.tables import CallerStrike

SUBJECT = "caller"  # audit subject_type; subject_id is the canonical number


@dataclass(frozen=True)
class Strike:
    number: str
    at: datetime
    reason: str            # policy.STRIKE_REASONS
    actor: str
    uniqueid: str | None = None
    region: str | None = None


async def add_strike(conn: AsyncConnection, strike: Strike) -> bool:
    """Add the strike (once per call); False when this call already has one."""
    inserted = (await conn.execute(
        pg_insert(CallerStrike).values(
            number=strike.number, at=strike.at, reason=strike.reason, actor=strike.actor,
            uniqueid=strike.uniqueid, region=strike.region)
        .on_conflict_do_nothing(index_elements=[CallerStrike.uniqueid])
        .returning(CallerStrike.id))).first()
    if inserted is None:
        return False
    await record(conn, Entry(strike.at, strike.actor, "prank.strike", SUBJECT, strike.number,
                             {"reason": strike.reason, "call": strike.uniqueid,
                              "region": strike.region}))
    return True


async def clear_strikes(conn: AsyncConnection, number: str, at: datetime, actor: str,
                        reason: str, call: str | None = None) -> int:
    """Clear the number's strikes (a genuine call, a supervisor's unblock); audited even
    when there was nothing to clear, so an unblock is always on record."""
    result = await conn.execute(
        update(CallerStrike).where(CallerStrike.number == number,
                                   CallerStrike.cleared_at.is_(None))
        .values(cleared_at=at, cleared_by=actor, cleared_reason=reason)
        .returning(CallerStrike.id))
    cleared = len(result.all())
    action = "prank.unblocked" if reason == "unblock" else "prank.cleared"
    await record(conn, Entry(at, actor, action, SUBJECT, number,
                             {"reason": reason, "cleared": cleared, "call": call}))
    return cleared


async def active_strikes(conn: AsyncConnection, since: datetime) -> dict[str, list[datetime]]:
    """Number -> times of its uncleared strikes since `since`: what the view holds."""
    rows = await conn.execute(
        select(CallerStrike.number, CallerStrike.at)
        .where(CallerStrike.cleared_at.is_(None), CallerStrike.at >= since))
    strikes: dict[str, list[datetime]] = defaultdict(list)
    for number, at in rows:
        strikes[number].append(at)
    return dict(strikes)


async def strike_rows(conn: AsyncConnection, number: str | None, since: datetime,
                      limit: int = 500) -> list[dict[str, Any]]:
    """Strikes since `since` (cleared ones too), newest first: for the CLI and the web."""
    table = CallerStrike.__table__
    query = select(table).where(table.c.at >= since)
    if number is not None:
        query = query.where(table.c.number == number)
    rows = await conn.execute(query.order_by(table.c.at.desc()).limit(limit))
    return [dict(row) for row in rows.mappings()]


async def caller_of_call(conn: AsyncConnection, uniqueid: str) -> tuple[str, str | None] | None:
    """The call's caller number and region, from its record."""
    row = await caller_and_region(conn, uniqueid)
    if row is None or row[0] is None:
        return None
    return str(row[0]), row[1]
