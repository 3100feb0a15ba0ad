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


class TransferOut(Base):
    """A transfer of one of our callers to a neighbouring center (migration 0024): written
    when the neighbour took our EIDO, updated at each state (transfer/outbound.py), read
    back at start-up so that a controller started again mid-transfer finishes it with its
    incident and call-taker (transfer/persist.py)."""

    __tablename__ = "transfers_out"

    reference: Mapped[str] = mapped_column(primary_key=True)  # the neighbour's, 32 hex
    incident_id: Mapped[int | None] = mapped_column(BigInteger)
    call_uniqueid: Mapped[str]             # the caller's
    node: Mapped[str]                      # the controller following it (ami_peer.local_name)
    actor: Mapped[str]                     # the call-taker who started it
    neighbour: Mapped[str]                 # its key in the routing config
    name: Mapped[str]                      # its name, as the desk showed it
    state: Mapped[str]                     # outbound.NEXT's
    reason: Mapped[str | None]             # a failure's (model.CALL_REASONS)
    taker_channel: Mapped[str | None]
    caller_channel: Mapped[str | None]
    neighbour_channel: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_transfers_out_call_uniqueid", "call_uniqueid"),
                      Index("ix_transfers_out_live", "state", "updated_at"))
