"""Location fixes from the caller's own phone (migration 0015): every AML SMS or ELS
HTTPS fix, kept with its accuracy, method and time. Matching a fix to a call (by number,
IMEI, time window) is a later slice of issue 21; the columns it needs are here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Double, ForeignKey, Identity, Index, func
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class LocationFixRow(Base):
    __tablename__ = "location_fixes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    source: Mapped[str]        # aml.FixSource: "aml-sms" or "els-https"
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

    __table_args__ = (Index("ix_location_fixes_caller_number", "caller_number", "received_at"),
                      Index("ix_location_fixes_imei", "imei", "received_at"))
