"""Reads of the text sessions for other domains (the API): the sessions of a period and
one session with its messages. The calls row of a session is read through the calls
domain's repository, as every call's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.sms.tables import SmsOutbox
from ntpd_ivr.texts.model import message_json
from ntpd_ivr.texts.tables import TextMessage, TextSession

SESSION_FIELDS = ("uniqueid", "caller_number", "opened_at", "taken_by", "taken_at",
                  "unanswered_at", "first_reply_at", "ended_at", "ended_by")


async def sessions_between(engine: AsyncEngine, start: datetime, end: datetime,
                           limit: int) -> list[dict[str, Any]]:
    """The sessions opened in [start, end), newest first, with their message counts."""
    s, m = TextSession.__table__, TextMessage.__table__
    count = (select(func.count()).where(m.c.uniqueid == s.c.uniqueid)
             .correlate(s).scalar_subquery())
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(*(s.c[f] for f in SESSION_FIELDS), count.label("messages"))
            .where(s.c.opened_at >= start, s.c.opened_at < end)
            .order_by(s.c.opened_at.desc()).limit(limit))
        return [dict(r) for r in rows.mappings()]


async def session_with_messages(engine: AsyncEngine, uniqueid: str) -> dict[str, Any] | None:
    s, m, o = TextSession.__table__, TextMessage.__table__, SmsOutbox.__table__
    async with engine.connect() as conn:
        row = (await conn.execute(select(*(s.c[f] for f in SESSION_FIELDS))
                                  .where(s.c.uniqueid == uniqueid))).mappings().first()
        if row is None:
            return None
        messages = await conn.execute(
            select(m, o.c.status.label("outbox_status"))
            .outerjoin(o, o.c.id == m.c.sms_outbox_id)
            .where(m.c.uniqueid == uniqueid).order_by(m.c.id))
        return {**dict(row), "messages": [message_json(dict(r)) for r in messages.mappings()]}
