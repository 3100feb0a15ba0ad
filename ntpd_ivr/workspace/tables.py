"""The workspace's table (migration 0008): call-takers' wrap-ups, so that one pending
when the controller stops is restored, not forgotten (ntpd_ivr/workspace/wrapup.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Identity, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class WrapUpRow(Base):
    __tablename__ = "wrapups"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uniqueid: Mapped[str]         # the caller's channel: the call awaiting its disposition
    endpoint: Mapped[str]         # the call-taker's PJSIP endpoint, paused meanwhile
    started_at: Mapped[datetime]
    deadline: Mapped[datetime]    # started_at + [workspace] wrapup_limit_seconds
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None]   # disposition, expired, released, failed

    __table_args__ = (
        Index("ix_wrapups_pending", "endpoint", postgresql_where=text("ended_at IS NULL")),
        Index("ix_wrapups_uniqueid", "uniqueid"),
    )
