"""The callback list (migration 0011): one open callback per caller number at a time,
the abandoned calls that joined it, and every attempt with its outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class Callback(Base):
    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    caller_number: Mapped[str]
    status: Mapped[str]  # model.STATUSES
    abandoned_at: Mapped[datetime]       # the first abandoned call
    last_abandoned_at: Mapped[datetime]
    abandon_count: Mapped[int] = mapped_column(server_default="1")
    attempts: Mapped[int] = mapped_column(server_default="0")  # times the caller was dialled
    first_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]  # an automatic retry, when one is due
    last_endpoint: Mapped[str | None]  # the call-taker rung for the last attempt
    closed_at: Mapped[datetime | None]
    cleared_by: Mapped[str | None]  # the uniqueid of the call that got through

    __table_args__ = (Index("ix_callbacks_caller_number", "caller_number", "status"),
                      Index("ix_callbacks_status", "status", "next_attempt_at"),
                      Index("ix_callbacks_abandoned_at", "abandoned_at"))


class CallbackCall(Base):
    """An abandoned call taken into the list (callback_id None: no number to call)."""

    __tablename__ = "callback_calls"

    uniqueid: Mapped[str] = mapped_column(primary_key=True)
    callback_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("callbacks.id", ondelete="CASCADE"))
    abandoned_at: Mapped[datetime]

    __table_args__ = (Index("ix_callback_calls_callback_id", "callback_id"),)


class CallbackAttempt(Base):
    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    callback_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("callbacks.id", ondelete="CASCADE"))
    started_at: Mapped[datetime]
    actor: Mapped[str]
    endpoint: Mapped[str]
    outcome: Mapped[str | None]  # model.OUTCOMES; None while the attempt runs
    detail: Mapped[str] = mapped_column(server_default="")
    ended_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_callback_attempts_callback_id", "callback_id"),)
