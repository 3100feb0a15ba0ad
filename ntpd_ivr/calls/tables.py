"""The calls domain's tables: one row per call as Asterisk saw it, and its steps. Written
by the record keeper (calls/store.py), read through calls/repository.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Double,
    Identity,
    Index,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class Call(Base):
    """One call as Asterisk saw it, keyed by the channel's unique id."""

    __tablename__ = "calls"

    uniqueid: Mapped[str] = mapped_column(primary_key=True)
    linkedid: Mapped[str | None]
    caller_number: Mapped[str | None]
    trunk: Mapped[str | None]
    dialed: Mapped[str | None]
    ivr_digit: Mapped[str | None]
    category: Mapped[str | None]
    queue: Mapped[str | None]
    route_reason: Mapped[str | None]
    arrived_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[str | None]
    ended_at: Mapped[datetime | None]
    hangup_cause: Mapped[int | None]
    hangup_cause_text: Mapped[str | None]
    region: Mapped[str | None]
    priority: Mapped[int | None]
    # answered | abandoned-in-queue | hung-up-in-ivr | ... (records.DISPOSITIONS)
    disposition: Mapped[str | None]
    abandoned_at: Mapped[datetime | None]
    # True when the row was filled from Asterisk's CDR because the controller missed
    # the call's AMI events (down, crashed, AMI cut).
    reconciled: Mapped[bool] = mapped_column(server_default=false())
    # "voice" (a call through Asterisk) or "sms" (a text session, ntpd_ivr/texts: uniqueid
    # sms-<n>, no AMI event, no CDR; the record keeper never writes one).
    medium: Mapped[str] = mapped_column(server_default="voice")
    # The caller's location (ntpd_ivr/location): point | circle | civic | unsupported |
    # malformed | none, from the network (the operator's PIDF-LO) or a call-taker.
    location_kind: Mapped[str | None]
    location_source: Mapped[str | None]
    location_lat: Mapped[float | None] = mapped_column(Double)
    location_lon: Mapped[float | None] = mapped_column(Double)
    location_radius_m: Mapped[float | None] = mapped_column(Double)
    location_confidence: Mapped[int | None]
    location_civic: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    location_shape: Mapped[str | None]
    location_raw: Mapped[str | None]
    location_error: Mapped[str | None]
    # A call another center's edge overflowed here (every node there dead): the region it
    # was for, as named by that center's trunk (docs/ha.md, "A second site").
    overflow_region: Mapped[str | None]
    # Written by the record keeper as the event times of the first and last update, so
    # replaying the spool reproduces the row exactly; now() only for rows made by hand.
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_calls_arrived_at", "arrived_at"),
                      Index("ix_calls_region", "region", "arrived_at"),
                      Index("ix_calls_category", "category", "arrived_at"),
                      # The caller's history on the call-taker's screen (workspace).
                      Index("ix_calls_caller_number", "caller_number", "arrived_at"),
                      # Calls without an end: what a node that died leaves behind
                      # (calls/reconcile.py closes them when it is back); stays small.
                      Index("ix_calls_open", "arrived_at",
                            postgresql_where=text("ended_at IS NULL")),
                      Index("ix_calls_overflow_region", "overflow_region", "arrived_at",
                            postgresql_where=text("overflow_region IS NOT NULL")))


class CallEvent(Base):
    """A step in a call's life (IVR, queue, agent, bridge, agency dispatch): CallStep."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uniqueid: Mapped[str]
    at: Mapped[datetime]
    kind: Mapped[str]
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # sha256 of the canonical detail JSON: with (uniqueid, kind, at) it makes a replayed
    # step a no-op while two different steps at the same instant are both kept.
    detail_digest: Mapped[str]

    __table_args__ = (
        UniqueConstraint("uniqueid", "kind", "at", "detail_digest",
                         name="uq_call_events_step"),
        Index("ix_call_events_at", "at"),
    )
