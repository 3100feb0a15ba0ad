"""The incidents and call dispositions tables (migration 0005; the dispatches table is
ntpd_ivr/dispatch/tables.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Double, ForeignKey, Identity, Index
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    region: Mapped[str]
    category: Mapped[str]
    kecamatan: Mapped[str]
    kecamatan_key: Mapped[str]  # model.kecamatan_key(kecamatan): what suggestions match on
    desa: Mapped[str] = mapped_column(server_default="")
    address: Mapped[str] = mapped_column(server_default="")
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)
    description: Mapped[str]
    people_involved: Mapped[int] = mapped_column(server_default="0")
    severity: Mapped[str]
    status: Mapped[str] = mapped_column(server_default="open")
    created_at: Mapped[datetime]
    created_by: Mapped[str]
    closed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_incidents_suggest", "category", "kecamatan_key", "created_at"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
    )


class IncidentSave(Base):
    """The key the desk's screen sends with a new incident (one per draft, schemas.save_key),
    written in the incident's own transaction: a save sent again after an answer that was
    lost (a database failover, docs/ha.md) finds its incident instead of making a second.
    No foreign key: a key whose incident is gone is ignored (service.create_incident), and
    whatever empties or prunes `incidents` need not know of this table."""

    __tablename__ = "incident_saves"

    save_key: Mapped[str] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(BigInteger)


class CallDisposition(Base):
    """What each call was, set by its call-taker; a genuine or duplicate call names its
    incident (one incident, several calls)."""

    __tablename__ = "call_dispositions"

    uniqueid: Mapped[str] = mapped_column(primary_key=True)  # calls.uniqueid (may come later)
    disposition: Mapped[str]
    incident_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("incidents.id", ondelete="RESTRICT"))
    set_at: Mapped[datetime]
    set_by: Mapped[str]

    __table_args__ = (
        Index("ix_call_dispositions_incident_id", "incident_id"),
        CheckConstraint("(disposition IN ('genuine', 'duplicate')) = (incident_id IS NOT NULL)",
                        name="incident"),
    )
