"""The CAP alerts received (migration 0018): one row per alert, idempotent by CAP's own
key (identifier, sender, sent), with the regions it matched and the document itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Double,
    Identity,
    Index,
    SmallInteger,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class CapAlertRow(Base):
    __tablename__ = "cap_alerts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    identifier: Mapped[str]
    sender: Mapped[str]
    sent: Mapped[datetime]
    received_at: Mapped[datetime]
    source_url: Mapped[str]
    msg_type: Mapped[str]
    status: Mapped[str]
    event: Mapped[str]
    headline: Mapped[str]
    severity: Mapped[str]
    urgency: Mapped[str]
    area_desc: Mapped[str]
    expires: Mapped[datetime | None]
    magnitude: Mapped[float | None] = mapped_column(Double)
    regions: Mapped[list[str]] = mapped_column(JSONB)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB)
    document: Mapped[str]  # the CAP XML as received (at most alerts.max_bytes)

    __table_args__ = (
        UniqueConstraint("identifier", "sender", "sent", name="uq_cap_alerts_key"),
        Index("ix_cap_alerts_received_at", "received_at"),
    )


class SurgeStateRow(Base):
    """Surge mode's one row (migration 0020), shared by the center's controllers: off when
    `alert_id` is null or `ends_at` has passed. `version` grows with every change."""

    __tablename__ = "surge_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    alert_id: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    started_by: Mapped[str]
    region: Mapped[str]
    changed_at: Mapped[datetime | None]
    changed_by: Mapped[str]

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)
