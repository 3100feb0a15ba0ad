"""The SMS tables (migration 0015): the outbox (every outgoing SMS until Kannel accepted
it, and after: its delivery), the delivery reports Kannel relayed, the incoming SMS."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, func
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class SmsOutbox(Base):
    __tablename__ = "sms_outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    to_number: Mapped[str]   # canonical (+62…)
    sender: Mapped[str]
    body: Mapped[str]
    purpose: Mapped[str]     # what sent it, e.g. "location-link"
    # queued -> accepted (Kannel took it) -> delivered | undelivered; queued -> failed
    # (attempts or time ran out). model.OUTBOX_STATUSES.
    status: Mapped[str]
    attempts: Mapped[int] = mapped_column(server_default="0")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    next_attempt_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None]
    # The secret part of this message's dlr-url: who knows it can report on this message
    # and no other.
    dlr_token: Mapped[str] = mapped_column(unique=True)

    __table_args__ = (Index("ix_sms_outbox_due", "status", "next_attempt_at"),)


class SmsDeliveryReport(Base):
    __tablename__ = "sms_delivery_reports"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    outbox_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("sms_outbox.id", ondelete="CASCADE"))
    dlr_type: Mapped[int]    # Kannel's %d: 1 delivered, 2 failed, 4 buffered, 8 smsc ack...
    reply: Mapped[str] = mapped_column(server_default="")  # Kannel's %A, the SMSC's words
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_sms_delivery_reports_outbox_id", "outbox_id"),)


class SmsInbox(Base):
    __tablename__ = "sms_inbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    from_number: Mapped[str]  # canonical, or a marker (ntpd_ivr/numbers.py)
    from_raw: Mapped[str]
    to_number: Mapped[str]
    body: Mapped[str]
    kannel_id: Mapped[str] = mapped_column(server_default="")
    # "text" as stored; the domain that reads it may say more (location: "aml").
    kind: Mapped[str]
    refusal: Mapped[str | None]  # a message its reader could not use: why
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_sms_inbox_from_number", "from_number", "received_at"),)
