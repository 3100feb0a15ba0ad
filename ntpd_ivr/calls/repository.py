"""Every query on the `calls` table (and the call_events it needs) outside the record
keeper, which writes them (calls/store.py). The screens, the API, the reports, callbacks,
prank and the command line ask here, by what they want to know; none of them builds a
query on `calls` itself.

`CallsRepository` runs read-only queries on the engine it is given. What has to run inside
another domain's transaction takes that transaction's connection (`caller_and_region`),
and the parts another domain's own query is built around are query builders here
(`abandoned_since`, `through_since`, `period_query`), so they stay one definition.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Exists, FromClause, Select, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ntpd_ivr.calls.tables import Call, CallEvent
from ntpd_ivr.calls.values import INFORMATION_ONLY

CALLS = Call.__table__
STEPS = CallEvent.__table__
# What a report counts of each call, in the order of reports.model.CallRow.
REPORT_COLUMNS = ("arrived_at", "answered_at", "disposition", "ended_at", "category", "region")
# The columns of a caller's earlier calls on the call-taker's screen.
HISTORY_COLUMNS = ("uniqueid", "arrived_at", "disposition", "category", "region",
                   "answered_by", "medium")


class CallsRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def _mappings(self, query: Select[Any]) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """The latest calls for the web views, newest first; read-only."""
        return await self._mappings(
            select(CALLS).order_by(CALLS.c.arrived_at.desc().nulls_last()).limit(limit))

    async def row(self, uniqueid: str) -> dict[str, Any] | None:
        """The call's whole record, or None."""
        rows = await self._mappings(select(CALLS).where(CALLS.c.uniqueid == uniqueid))
        return rows[0] if rows else None

    async def latest_of_caller(self, caller_number: str) -> dict[str, Any] | None:
        """The caller's latest call (by arrival), or None."""
        rows = await self._mappings(
            select(CALLS).where(CALLS.c.caller_number == caller_number)
            .order_by(CALLS.c.arrived_at.desc()).limit(1))
        return rows[0] if rows else None

    async def caller_history(self, caller_number: str, *, before_uniqueid: str,
                             limit: int) -> list[dict[str, Any]]:
        """This caller's earlier calls, newest first (ix_calls_caller_number)."""
        return await self._mappings(
            select(*(CALLS.c[f] for f in HISTORY_COLUMNS))
            .where(CALLS.c.caller_number == caller_number,
                   CALLS.c.uniqueid != before_uniqueid)
            .order_by(CALLS.c.arrived_at.desc().nulls_last()).limit(limit))

    async def listing(self, fields: Sequence[str], *, start: datetime, end: datetime,
                      region: str | None, limit: int,
                      overflow_region: str | None = None) -> list[dict[str, Any]]:
        """`fields` of the calls that arrived in [start, end), newest first; with
        `overflow_region`, only those another center overflowed here for that region."""
        query = (select(*(CALLS.c[f] for f in fields))
                 .where(CALLS.c.arrived_at >= start, CALLS.c.arrived_at < end)
                 .order_by(CALLS.c.arrived_at.desc()).limit(limit))
        if region is not None:
            query = query.where(CALLS.c.region == region)
        if overflow_region is not None:
            query = query.where(CALLS.c.overflow_region == overflow_region)
        return await self._mappings(query)

    async def fields_of(self, uniqueid: str, fields: Sequence[str]) -> dict[str, Any] | None:
        """`fields` of one call, or None."""
        rows = await self._mappings(select(*(CALLS.c[f] for f in fields))
                                    .where(CALLS.c.uniqueid == uniqueid))
        return rows[0] if rows else None

    async def report_rows(self, start: datetime, end: datetime,
                          region: str | None = None) -> list[tuple[Any, ...]]:
        """REPORT_COLUMNS of every voice call that arrived in [start, end), abandoned ones
        included (text sessions have figures of their own)."""
        async with self.engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(period_query(start, end, region))]

    async def caller_numbers(self, prefix: str, *, open_only: bool = False) -> list[str]:
        """Caller numbers of the calls whose number starts with `prefix` (the benchmarks'
        own calls); `open_only`: those without an end."""
        query = select(CALLS.c.caller_number).where(CALLS.c.caller_number.like(prefix + "%"))
        if open_only:
            query = query.where(CALLS.c.ended_at.is_(None))
        async with self.engine.connect() as conn:
            return [str(r[0]) for r in await conn.execute(query)]

    async def calls_with_steps(self, since: datetime, numbers: Collection[str],
                               kinds: Collection[str]) -> tuple[list[dict[str, Any]],
                                                                list[tuple[str, str]]]:
        """The calls of these numbers since `since`, and their (uniqueid, kind) steps of
        these kinds: what the prank benchmark checks."""
        async with self.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(select(CALLS).where(
                CALLS.c.arrived_at >= since,
                CALLS.c.caller_number.in_(numbers)))).mappings().all()]
            steps = [(str(u), str(k)) for u, k in (await conn.execute(
                select(STEPS.c.uniqueid, STEPS.c.kind).where(
                    STEPS.c.uniqueid.in_([r["uniqueid"] for r in rows]),
                    STEPS.c.kind.in_(tuple(kinds))))).all()]
        return rows, steps


async def caller_and_region(conn: AsyncConnection,
                            uniqueid: str) -> tuple[str | None, str | None] | None:
    """The call's caller number and region, on the caller's connection (inside its
    transaction); None when there is no such call."""
    row = (await conn.execute(select(CALLS.c.caller_number, CALLS.c.region)
                              .where(CALLS.c.uniqueid == uniqueid))).first()
    return None if row is None else (row[0], row[1])


def period_query(start: datetime, end: datetime, region: str | None,
                 *more: str, join: tuple[FromClause, ColumnElement[Any]] | None = None,
                 joined: Sequence[ColumnElement[Any]] = (), medium: str = "voice"
                 ) -> Select[Any]:
    """REPORT_COLUMNS (then the calls columns `more`, then `joined`) of the calls that
    arrived in [start, end), in `region` if given; `join` = (table, its uniqueid column):
    an outer join on the call's uniqueid, for another domain's rows about the call.
    `medium`: voice calls (the answer-time figures are over calls), or "sms": the text
    sessions (ntpd_ivr/texts), whose figures are their own."""
    query = select(*(CALLS.c[f] for f in (*REPORT_COLUMNS, *more)), *joined)
    if join is not None:
        table, uniqueid = join
        query = query.outerjoin(table, uniqueid == CALLS.c.uniqueid)
    query = query.where(CALLS.c.arrived_at >= start, CALLS.c.arrived_at < end,
                        CALLS.c.medium == medium)
    if region is not None:
        query = query.where(CALLS.c.region == region)
    return query


def step_answered(uniqueid: ColumnElement[Any], kind: str) -> Exists:
    """A step of `kind` of the call whose detail says result ANSWER (an agency's trunk
    that answered, for trunk attempts)."""
    return exists().where(STEPS.c.uniqueid == uniqueid, STEPS.c.kind == kind,
                          STEPS.c.detail["result"].astext == "ANSWER")


def abandoned_since(dispositions: Collection[str], since: datetime, *,
                    taken: ColumnElement[Any], trunk_kind: str) -> Select[Any]:
    """(uniqueid, caller_number, ended_at) of the calls that ended with one of
    `dispositions` since `since`, oldest first, leaving out those already in the caller's
    `taken` column (a uniqueid column), those an agency's trunk answered (a
    `trunk_kind` step with result ANSWER: the caller got through) and those surge mode's
    information served (values.information_only: not abandoned)."""
    at = CALLS.c.ended_at
    # IS NOT DISTINCT FROM: a call with no category (NULL) must stay in, not vanish in
    # SQL's unknown.
    informed = and_(CALLS.c.category.is_not_distinct_from(INFORMATION_ONLY),
                    CALLS.c.disposition.is_not_distinct_from("hung-up-in-ivr"),
                    CALLS.c.answered_at.is_(None))
    return (select(CALLS.c.uniqueid, CALLS.c.caller_number, at)
            .where(CALLS.c.disposition.in_(dispositions), at.is_not(None), at >= since,
                   ~exists().where(taken == CALLS.c.uniqueid),
                   ~step_answered(CALLS.c.uniqueid, trunk_kind), ~informed)
            .order_by(at, CALLS.c.uniqueid))


def through_since(number: Any, after: Any, trunk_kind: str) -> tuple[Select[Any], Select[Any]]:
    """Later calls of `number` that got through after `after` (both columns of the
    caller's own query): (answered by a call-taker, put through to an agency's trunk that
    answered), each selecting the call's uniqueid."""
    by_taker = select(CALLS.c.uniqueid).where(
        CALLS.c.caller_number == number, CALLS.c.answered_at > after)
    by_agency = (select(CALLS.c.uniqueid).join(STEPS, STEPS.c.uniqueid == CALLS.c.uniqueid)
                 .where(CALLS.c.caller_number == number, STEPS.c.kind == trunk_kind,
                        STEPS.c.detail["result"].astext == "ANSWER", STEPS.c.at > after))
    return by_taker, by_agency
