"""The dispatches table (migration 0005): one row per incident handed to one agency."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class Dispatch(Base):
    """One incident handed to one agency; its status follows model.TRANSITIONS."""

    __tablename__ = "dispatches"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incidents.id", ondelete="RESTRICT"))
    agency: Mapped[str]           # routing config key "<region>-<agency>"
    region: Mapped[str]           # the agency's region
    mode: Mapped[str]             # connect | notify
    status: Mapped[str]
    proposed: Mapped[bool]        # the responsibility matrix proposed this agency
    attempts: Mapped[int] = mapped_column(server_default="0")
    created_at: Mapped[datetime]
    created_by: Mapped[str]
    answered_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    refused_at: Mapped[datetime | None]
    timed_out_at: Mapped[datetime | None]
    on_the_way_at: Mapped[datetime | None]
    on_scene_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_dispatches_incident_id", "incident_id"),
        Index("ix_dispatches_agency", "agency", "created_at"),
        Index("ix_dispatches_created_at", "created_at"),
    )
