"""The alerts' reads and writes in PostgreSQL (table cap_alerts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ntpd_ivr.alerts.model import CapAlert
from ntpd_ivr.alerts.tables import CapAlertRow, SurgeStateRow
from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.campaigns.tables import WarningCampaign

ALERTS = CapAlertRow.__table__


async def insert_alert(engine: AsyncEngine, alert: CapAlert, regions: Sequence[str],
                       source_url: str, document: str, now: datetime) -> tuple[int, bool]:
    """(its id, True when new). The same (identifier, sender, sent) again is the same
    alert: its first row stays."""
    values = dict(
        identifier=alert.identifier, sender=alert.sender, sent=alert.sent, received_at=now,
        source_url=source_url, msg_type=alert.msg_type, status=alert.status,
        event=alert.event, headline=alert.headline, severity=alert.severity,
        urgency=alert.urgency, area_desc=alert.area_desc, expires=alert.expires,
        magnitude=alert.magnitude, regions=list(regions), summary=alert.summary(),
        document=document)
    async with engine.begin() as conn:
        new_id = (await conn.execute(
            insert(CapAlertRow).values(**values)
            .on_conflict_do_nothing(constraint="uq_cap_alerts_key")
            .returning(ALERTS.c.id))).scalar()
        if new_id is not None:
            return int(new_id), True
        old = (await conn.execute(select(ALERTS.c.id).where(
            ALERTS.c.identifier == alert.identifier, ALERTS.c.sender == alert.sender,
            ALERTS.c.sent == alert.sent))).scalar_one()
        return int(old), False


def _row(row: Any) -> dict[str, Any]:
    summary = dict(row.summary)
    summary.update(id=row.id, regions=list(row.regions),
                   received_at=row.received_at.isoformat(), source_url=row.source_url)
    return summary


async def recent_matching(engine: AsyncEngine, now: datetime, limit: int) -> list[dict[str, Any]]:
    """The latest alerts for the center's regions that have not expired, newest first."""
    query = (select(ALERTS.c.id, ALERTS.c.summary, ALERTS.c.regions, ALERTS.c.received_at,
                    ALERTS.c.source_url)
             .where(func.jsonb_array_length(ALERTS.c.regions) > 0,
                    ALERTS.c.expires.is_(None) | (ALERTS.c.expires > now))
             .order_by(ALERTS.c.received_at.desc(), ALERTS.c.id.desc()).limit(limit))
    async with engine.connect() as conn:
        return [_row(r) for r in await conn.execute(query)]


async def document(engine: AsyncEngine, alert_id: int) -> tuple[str, list[str]] | None:
    """An alert's CAP document and its regions, or None."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(ALERTS.c.document, ALERTS.c.regions)
                                  .where(ALERTS.c.id == alert_id))).first()
    return None if row is None else (row.document, list(row.regions))


async def campaign(engine: AsyncEngine, campaign_id: int) -> dict[str, Any] | None:
    """A warning campaign's row (campaigns' public table), for its CAP export."""
    c = WarningCampaign.__table__
    async with engine.connect() as conn:
        row = (await conn.execute(
            select(c.c.id, c.c.title, c.c.message_text, c.c.target, c.c.status,
                   c.c.created_at, c.c.created_by, c.c.approved_at, c.c.regional_language,
                   c.c.message_text_regional)
            .where(c.c.id == campaign_id))).mappings().first()
    return None if row is None else dict(row)


async def last_surge_change(engine: AsyncEngine) -> dict[str, Any] | None:
    """The audit trail's latest surge-mode entry (at, actor, action, subject_id, detail)."""
    a = AuditEvent.__table__
    async with engine.connect() as conn:
        row = (await conn.execute(
            select(a.c.at, a.c.actor, a.c.action, a.c.subject_id, a.c.detail)
            .where(a.c.subject_type == "surge").order_by(a.c.id.desc()).limit(1))
        ).mappings().first()
    return None if row is None else dict(row)


# --- surge mode's shared row (migration 0020) ------------------------------------------

SURGE = SurgeStateRow.__table__


@dataclass(frozen=True)
class SurgeRow:
    """The shared row as read: on when `alert_id` is set and `ends_at` is after now."""
    version: int
    alert_id: int | None
    started_at: datetime | None
    ends_at: datetime | None
    started_by: str
    region: str

    def on(self, now: datetime) -> bool:
        return self.alert_id is not None and self.ends_at is not None and self.ends_at > now


_SURGE_COLUMNS = (SURGE.c.version, SURGE.c.alert_id, SURGE.c.started_at, SURGE.c.ends_at,
                  SURGE.c.started_by, SURGE.c.region)


async def read_surge(engine: AsyncEngine) -> SurgeRow:
    async with engine.connect() as conn:
        row = (await conn.execute(select(*_SURGE_COLUMNS).where(SURGE.c.id == 1))).one()
    return SurgeRow(*row)


async def lock_surge(conn: AsyncConnection) -> SurgeRow:
    """The row, locked until the end of the caller's transaction (two supervisors on two
    nodes at once: one after the other)."""
    row = (await conn.execute(select(*_SURGE_COLUMNS).where(SURGE.c.id == 1)
                              .with_for_update())).one()
    return SurgeRow(*row)


async def write_surge(conn: AsyncConnection, *, alert_id: int | None,
                      started_at: datetime | None, ends_at: datetime | None, started_by: str,
                      region: str, changed_at: datetime, changed_by: str) -> SurgeRow:
    """The new state, its version one more, in the caller's transaction (with its audit
    entry)."""
    row = (await conn.execute(
        update(SurgeStateRow).where(SURGE.c.id == 1)
        .values(version=SURGE.c.version + 1, alert_id=alert_id, started_at=started_at,
                ends_at=ends_at, started_by=started_by, region=region,
                changed_at=changed_at, changed_by=changed_by)
        .returning(*_SURGE_COLUMNS))).one()
    return SurgeRow(*row)
