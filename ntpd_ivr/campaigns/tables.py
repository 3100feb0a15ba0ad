"""The warning tables (migration 0009): contacts, campaigns, each campaign's frozen list,
and one row per attempt, written before the call is dialled.

An attempt's outcome is not a column here: it is a call record step (`call_events`,
kind `warning.outcome`, uniqueid = the attempt's key) written through the record
keeper's spool, so a database outage never loses one (ntpd_ivr/calls/keeper.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Double, ForeignKey, Identity, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class WarningContact(Base):
    __tablename__ = "warning_contacts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str]
    number: Mapped[str] = mapped_column(unique=True)  # canonical +62...
    role: Mapped[str] = mapped_column(server_default="")
    kecamatan: Mapped[str] = mapped_column(server_default="")
    desa: Mapped[str] = mapped_column(server_default="")
    language: Mapped[str] = mapped_column(server_default="id")
    updated_at: Mapped[datetime]
    updated_by: Mapped[str]


class WarningCampaign(Base):
    __tablename__ = "warning_campaigns"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str]
    message_text: Mapped[str] = mapped_column(server_default="")
    # The message as Asterisk plays it: a path without extension, inside its root.
    message_file: Mapped[str]
    # The message in a regional language too (migration 0021): its code, text and file;
    # "" when the campaign has none.
    regional_language: Mapped[str] = mapped_column(server_default="")
    message_text_regional: Mapped[str] = mapped_column(server_default="")
    message_file_regional: Mapped[str] = mapped_column(server_default="")
    target: Mapped[dict[str, Any]] = mapped_column(JSONB)
    trunk: Mapped[str]
    caller_id: Mapped[str]
    max_attempts: Mapped[int]
    no_answer_seconds: Mapped[float] = mapped_column(Double)
    busy_seconds: Mapped[float] = mapped_column(Double)
    failed_seconds: Mapped[float] = mapped_column(Double)
    status: Mapped[str]
    created_at: Mapped[datetime]
    created_by: Mapped[str]
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[str | None]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None]

    __table_args__ = (
        CheckConstraint("status IN ('awaiting-approval', 'running', 'finished', "
                        "'cancelled')", name="status"),
        # The second supervisor: the database itself refuses a self-approval.
        CheckConstraint("approved_by IS NULL OR approved_by <> created_by",
                        name="second_approver"),
        Index("ix_warning_campaigns_status", "status"),
    )


class WarningCampaignContact(Base):
    """The campaign's list, frozen when it is created: the only numbers it may dial."""

    __tablename__ = "warning_campaign_contacts"

    campaign_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("warning_campaigns.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str]
    number: Mapped[str]
    language: Mapped[str]


class WarningAttempt(Base):
    """One call to one contact, in PostgreSQL before it is dialled."""

    __tablename__ = "warning_attempts"

    key: Mapped[str] = mapped_column(primary_key=True)  # the channel's uniqueid (ChannelId)
    campaign_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("warning_campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigInteger)
    attempt: Mapped[int]
    number: Mapped[str]
    dialed_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_warning_attempts_contact", "campaign_id", "contact_id", "attempt",
              unique=True),
    )
