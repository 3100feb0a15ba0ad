"""Location fixes from the caller's own phone (migration 0015): every AML SMS or ELS
HTTPS fix or location link, kept with its accuracy, method and time, and the call it was
matched to (ntpd_ivr/location/fixes.py; migration 0016); the location links' tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Double, ForeignKey, Identity, Index, func
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class LocationFixRow(Base):
    __tablename__ = "location_fixes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    source: Mapped[str]        # aml.FixSource: "aml-sms", "els-https", or "link"
    lat: Mapped[float] = mapped_column(Double)
    lon: Mapped[float] = mapped_column(Double)
    radius_m: Mapped[float | None] = mapped_column(Double)
    fix_time: Mapped[datetime | None]
    method: Mapped[str]        # aml.FixMethod
    confidence: Mapped[int | None]
    caller_number: Mapped[str | None]  # canonical +62…
    imei: Mapped[str | None]
    imsi: Mapped[str | None]
    mcc: Mapped[str | None]
    mnc: Mapped[str | None]
    sms_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("sms_inbox.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # The call it was matched to; None until a call of its number (or IMEI) arrives.
    call_uniqueid: Mapped[str | None]

    __table_args__ = (Index("ix_location_fixes_caller_number", "caller_number", "received_at"),
                      Index("ix_location_fixes_imei", "imei", "received_at"),
                      Index("ix_location_fixes_call_uniqueid", "call_uniqueid"))


class LocationLink(Base):
    """One location link sent by SMS: only the token's SHA-256 is kept; single use."""

    __tablename__ = "location_links"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    token_hash: Mapped[str] = mapped_column(unique=True)
    call_uniqueid: Mapped[str]
    caller_number: Mapped[str]
    created_by: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
