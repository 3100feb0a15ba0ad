"""The transfers_out rows (migration 0024): each outgoing transfer (call.py) from the
neighbour taking our EIDO to its end, so that a controller started again mid-transfer
finishes it with its incident and call-taker, and a reloaded desk shows it.

Every read and write is bounded by `seconds` (asyncio.timeout, on top of the engine's
statement timeout). A database that fails or is slow never holds the transfer: call.py
goes on from memory and logs the row that was not written (no retry: the next state's
write carries the whole row again, so one missed write is mended by the next).
The row and the state's audit entry are one transaction: both or neither.

Each row names the controller that follows it (`node`: settings ami_peer.local_name,
"local" with one node): with two controllers (docs/ha.md) each follows its own node's
calls over AMI, so each resumes only its own transfers; the other's would never get an
event here, and a timer or a colliding channel name would end them wrongly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.audit.trail import Entry, record
from ntpd_ivr.transfer.outbound import FINAL, Transfer
from ntpd_ivr.transfer.tables import TransferOut

DB_SECONDS = 3.0   # one read or write of a transfer row, at most
# A transfer not moved on within this long is not resumed at start-up (its calls are gone).
RESUME_WINDOW = timedelta(hours=2)
ROW = TransferOut.__table__  # its columns, read on a connection
_FIELDS = ("incident_id", "actor", "neighbour", "name", "state", "reason", "taker_channel",
           "caller_channel", "neighbour_channel")


def _transfer(row: Any) -> Transfer:
    return Transfer(row.reference, row.incident_id, row.neighbour, row.name,
                    row.call_uniqueid, row.actor, state=row.state, reason=row.reason,
                    taker_channel=row.taker_channel, caller_channel=row.caller_channel,
                    neighbour_channel=row.neighbour_channel)


class TransferOutStore:
    def __init__(self, engine: AsyncEngine, *, node: str = "local",
                 seconds: float = DB_SECONDS) -> None:
        self.engine = engine
        self.node = node
        self.seconds = seconds

    async def save(self, transfer: Transfer, at: datetime, action: str | None = None,
                   detail: Mapping[str, Any] | None = None) -> None:
        """The transfer's row as it is now (created, or moved on) and, when `action` is
        given, its audit entry on the incident, in one transaction. Raises on failure."""
        values = {f: getattr(transfer, f) for f in _FIELDS}
        statement = insert(TransferOut).values(
            reference=transfer.reference, call_uniqueid=transfer.caller, node=self.node,
            created_at=at,
            updated_at=at, **values)
        statement = statement.on_conflict_do_update(
            index_elements=[TransferOut.reference],
            set_={**values, "updated_at": at})
        async with asyncio.timeout(self.seconds), self.engine.begin() as conn:
            await conn.execute(statement)
            if action is not None and transfer.incident_id is not None:
                await record(conn, Entry(at, transfer.actor, action, "incident",
                                         str(transfer.incident_id), dict(detail or {})))

    async def get(self, reference: str) -> Transfer | None:
        async with asyncio.timeout(self.seconds), self.engine.connect() as conn:
            row = (await conn.execute(
                select(ROW).where(TransferOut.reference == reference))).first()
        return _transfer(row) if row is not None else None

    async def in_progress(self, now: datetime) -> list[Transfer]:
        """This node's transfers not ended, moved on within RESUME_WINDOW, oldest first."""
        async with asyncio.timeout(self.seconds), self.engine.connect() as conn:
            rows = (await conn.execute(
                select(ROW)
                .where(TransferOut.node == self.node,
                       TransferOut.state.not_in(sorted(FINAL)),
                       TransferOut.updated_at >= now - RESUME_WINDOW)
                .order_by(TransferOut.created_at))).all()
        return [_transfer(row) for row in rows]

    async def of_call(self, uniqueid: str) -> Transfer | None:
        """The call's latest transfer (a reloaded desk's panel), ended or not."""
        async with asyncio.timeout(self.seconds), self.engine.connect() as conn:
            row = (await conn.execute(
                select(ROW).where(TransferOut.call_uniqueid == uniqueid)
                .order_by(TransferOut.created_at.desc()).limit(1))).first()
        return _transfer(row) if row is not None else None
