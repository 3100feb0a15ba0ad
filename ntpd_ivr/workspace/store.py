"""The workspace's database side: one call and its caller's history for a screen pop
(read-only, off the call path), and the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.audit.trail import CONTROLLER, Entry, record
from ntpd_ivr.calls.repository import CallsRepository
from ntpd_ivr.clock import utcnow
from ntpd_ivr.incidents.tables import CallDisposition
from ntpd_ivr.workspace.tables import WrapUpRow
from ntpd_ivr.workspace.wrapup import WITHOUT_DISPOSITION, WrapUp

# Presence changes go into the one audit trail (ntpd_ivr/audit) as subject "presence",
# the call-taker's SIP endpoint as its id, and how it went as detail["outcome"].
SUBJECT = "presence"


async def write_audit(conn: AsyncConnection, *, actor: str, action: str, target: str,
                      detail: Mapping[str, Any], outcome: str) -> None:
    """One audit row, on the caller's connection: inside the transaction of the change."""
    await record(conn, Entry(utcnow(), actor, action, SUBJECT, target,
                             {**detail, "outcome": outcome}))


async def audit_rows(engine: AsyncEngine, target: str, limit: int = 50) -> list[dict[str, Any]]:
    """This endpoint's presence entries, newest first, as (actor, action, target, detail,
    outcome) rows."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(AuditEvent.actor, AuditEvent.action, AuditEvent.subject_id,
                   AuditEvent.detail)
            .where(AuditEvent.subject_type == SUBJECT, AuditEvent.subject_id == target)
            .order_by(AuditEvent.id.desc()).limit(limit))
        return [{"actor": actor, "action": action, "target": subject_id,
                 "detail": {k: v for k, v in detail.items() if k != "outcome"},
                 "outcome": detail.get("outcome", "")}
                for actor, action, subject_id, detail in rows]


class DbStore:
    """The workspace's store on the service's engine (tests use a fake with these methods)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.calls = CallsRepository(engine)

    async def call_row(self, uniqueid: str) -> dict[str, Any] | None:
        return await self.calls.row(uniqueid)

    async def caller_history(self, caller_number: str, *, before_uniqueid: str,
                             limit: int) -> list[dict[str, Any]]:
        return await self.calls.caller_history(caller_number, before_uniqueid=before_uniqueid,
                                               limit=limit)

    async def audit(self, *, actor: str, action: str, target: str,
                    detail: Mapping[str, Any], outcome: str) -> None:
        # A presence change lives in Asterisk only: the audit row is the one DB write.
        # Changes with rows of their own write them in this same transaction.
        async with self.engine.begin() as conn:
            await write_audit(conn, actor=actor, action=action, target=target,
                              detail=detail, outcome=outcome)

    # --- wrap-ups (ntpd_ivr/workspace/wrapup.py), each change with its audit entry --------

    async def disposed(self, uniqueid: str) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.execute(select(CallDisposition.uniqueid)
                                       .where(CallDisposition.uniqueid == uniqueid))
            return found.first() is not None

    async def start_wrapup(self, wrapup: WrapUp) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(WrapUpRow).values(
                uniqueid=wrapup.uniqueid, endpoint=wrapup.endpoint,
                started_at=wrapup.started_at, deadline=wrapup.deadline))
            await write_audit(conn, actor=CONTROLLER, action="wrapup.started",
                              target=wrapup.endpoint,
                              detail={"call": wrapup.uniqueid,
                                      "deadline": wrapup.deadline.isoformat()},
                              outcome="ok")

    async def end_wrapup(self, wrapup: WrapUp, outcome: str, at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(WrapUpRow).where(
                WrapUpRow.uniqueid == wrapup.uniqueid, WrapUpRow.endpoint == wrapup.endpoint,
                WrapUpRow.ended_at.is_(None)).values(ended_at=at, outcome=outcome))
            await write_audit(conn, actor=CONTROLLER, action="wrapup.ended",
                              target=wrapup.endpoint, detail={"call": wrapup.uniqueid},
                              outcome=outcome)
            if outcome in WITHOUT_DISPOSITION:
                await record(conn, Entry(at, CONTROLLER, "call.disposition-missing", "call",
                                         wrapup.uniqueid,
                                         {"endpoint": wrapup.endpoint, "wrapup": outcome,
                                          "deadline": wrapup.deadline.isoformat()}))

    async def pending_wrapups(self) -> list[WrapUp]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(WrapUpRow.uniqueid, WrapUpRow.endpoint, WrapUpRow.started_at,
                       WrapUpRow.deadline)
                .where(WrapUpRow.ended_at.is_(None)).order_by(WrapUpRow.id))
            latest = {row.endpoint: WrapUp(row.uniqueid, row.endpoint, row.started_at,
                                           row.deadline) for row in rows}
        return list(latest.values())
