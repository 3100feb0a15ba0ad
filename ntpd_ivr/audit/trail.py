"""Writing and reading the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.clock import utcnow

CONTROLLER = "controller"  # the actor of changes Asterisk reported (trunk answered, DTMF 1)


@dataclass(frozen=True)
class Entry:
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    detail: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "actor": self.actor, "action": self.action,
                "subject_type": self.subject_type, "subject_id": self.subject_id,
                "detail": dict(self.detail)}


async def record(connection: AsyncConnection, entry: Entry) -> None:
    """Add the entry inside the caller's transaction: it commits or rolls back with it."""
    if not connection.in_transaction():
        raise RuntimeError("an audit entry is written inside the change's transaction")
    if not entry.actor:
        raise ValueError("every change names who made it")
    await connection.execute(insert(AuditEvent).values(
        at=entry.at, actor=entry.actor, action=entry.action, subject_type=entry.subject_type,
        subject_id=entry.subject_id, detail=dict(entry.detail)))


async def history(connection: AsyncConnection, subject_type: str,
                  subject_ids: list[str]) -> list[Entry]:
    """The entries about these subjects, oldest first."""
    if not subject_ids:
        return []
    rows = await connection.execute(
        select(AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.subject_type,
               AuditEvent.subject_id, AuditEvent.detail)
        .where(AuditEvent.subject_type == subject_type,
               AuditEvent.subject_id.in_(subject_ids))
        .order_by(AuditEvent.at, AuditEvent.id))
    return [Entry(*row) for row in rows]


class AuditWriter(Protocol):
    async def write(self, actor: str, action: str, subject_type: str, subject_id: str,
                    detail: Mapping[str, Any]) -> None: ...


class AuditLog:
    """Entries that are a change of their own (a playback, a notice, a supervisor acting
    on another's call, a command-line change of a file): one short transaction each.
    Raises when the entry was not stored: the caller decides whether the act goes on."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def write(self, actor: str, action: str, subject_type: str, subject_id: str,
                    detail: Mapping[str, Any]) -> None:
        async with self.engine.begin() as connection:
            await record(connection, Entry(utcnow(), actor, action, subject_type,
                                           subject_id, detail))
