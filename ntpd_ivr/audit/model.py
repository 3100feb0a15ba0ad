"""The `audit_events` table: one row per change, shared by every domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str]           # web user name, or "controller" for what Asterisk reported
    action: Mapped[str]          # "<subject>.<verb>", e.g. incident.created, dispatch.accepted
    subject_type: Mapped[str]    # incident, dispatch, call, presence, ...
    subject_id: Mapped[str]
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")

    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id", "at"),
                      Index("ix_audit_events_at", "at"))
