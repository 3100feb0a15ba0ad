"""The caller_strikes table (migration 0010): one row per strike, cleared, never deleted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Identity, Index
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class CallerStrike(Base):
    __tablename__ = "caller_strikes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    number: Mapped[str]                 # canonical caller number (ntpd_ivr/numbers.py)
    at: Mapped[datetime]
    reason: Mapped[str]                 # prank, silent (dispositions), silent-detected
    uniqueid: Mapped[str | None] = mapped_column(unique=True)  # one strike per call at most
    region: Mapped[str | None]
    actor: Mapped[str]                  # the call-taker, or "controller" for a detection
    cleared_at: Mapped[datetime | None]
    cleared_by: Mapped[str | None]
    cleared_reason: Mapped[str | None]  # genuine, unblock

    __table_args__ = (
        Index("ix_caller_strikes_number", "number", "at"),
        Index("ix_caller_strikes_active", "at", postgresql_where="cleared_at IS NULL"),
        CheckConstraint("reason IN ('prank', 'silent', 'silent-detected')", name="reason"),
    )
