"""EIDO documents other 112 centers sent us before transferring a caller (migration 0019):
one row per POST, kept with the sending center's incident and call ids, linked to our call
when it arrives on that center's trunk with the row's reference in its Call-Info."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class TransferIn(Base):
    __tablename__ = "transfers_in"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    reference: Mapped[str] = mapped_column(unique=True)  # ours, given back to the sender
    neighbour: Mapped[str]                 # [regions.<r>.neighbours.<key>]: who proved it
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    remote_incident_id: Mapped[str]        # the sending center's incident $id
    remote_call_id: Mapped[str | None]     # the sending center's call $id (its first call)
    form: Mapped[dict[str, Any]] = mapped_column(JSONB)  # IncomingIncident.form()
    document: Mapped[str]                  # the EIDO as received (validated)
    # Our call, once it arrives on the neighbour's trunk naming this reference.
    call_uniqueid: Mapped[str | None]

    __table_args__ = (Index("ix_transfers_in_call_uniqueid", "call_uniqueid"),)
