"""The database schema. Alembic migrations in migrations/versions must match it (a test checks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, Index, MetaData, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })
    type_annotation_map: ClassVar[dict[Any, Any]] = {str: Text(), datetime: DateTime(timezone=True)}


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
    # Written by the record keeper as the event times of the first and last update, so
    # replaying the spool reproduces the row exactly; now() only for rows made by hand.
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_calls_arrived_at", "arrived_at"),)
