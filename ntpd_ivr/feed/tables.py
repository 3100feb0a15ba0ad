"""The monitoring feed's outbox (migration 0007): every period's figures, kept until the
central monitoring has taken them, sent in id order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class FeedOutbox(Base):
    __tablename__ = "feed_outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(unique=True)
    period_end: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(server_default="0")
    last_error: Mapped[str | None]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_feed_outbox_pending", "delivered_at", "id"),)
