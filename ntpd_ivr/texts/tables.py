"""The text sessions' tables (migration 0017). A session is also a `calls` row (medium
"sms", uniqueid sms-<n>), so that dispositions, incidents, strikes, location fixes, the
caller's history, callbacks and reports take it as they take a call; these hold what only
a text session has: who took it, its messages, and which desks accept text."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, false, func, text
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base

MAX_STORED_BODY = 2000  # what sms_inbox keeps of one SMS; a reply is shorter still


class TextSession(Base):
    __tablename__ = "text_sessions"

    uniqueid: Mapped[str] = mapped_column(primary_key=True)  # calls.uniqueid, sms-<n>
    caller_number: Mapped[str]  # canonical +62…
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
    taken_by: Mapped[str | None]  # the web user who took it
    taken_at: Mapped[datetime | None]
    unanswered_at: Mapped[datetime | None]  # the offer timed out: raised on the wall
    first_reply_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None]

    __table_args__ = (
        # One open session per number: a second SMS joins it, even from another node.
        Index("uq_text_sessions_open_number", "caller_number", unique=True,
              postgresql_where=text("ended_at IS NULL")),
        Index("ix_text_sessions_opened_at", "opened_at"),
    )


class TextMessage(Base):
    __tablename__ = "text_messages"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uniqueid: Mapped[str]  # text_sessions.uniqueid
    direction: Mapped[str]  # in | out
    body: Mapped[str]  # stored as text, shown as text: never HTML
    author: Mapped[str]  # the caller's number, a web user, or "auto" (the acknowledgement)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    sms_inbox_id: Mapped[int | None] = mapped_column(BigInteger)
    sms_outbox_id: Mapped[int | None] = mapped_column(BigInteger)  # its delivery state
    flagged: Mapped[bool] = mapped_column(server_default=false())  # over the flood limit

    __table_args__ = (
        Index("ix_text_messages_uniqueid", "uniqueid", "id"),
        Index("ix_text_messages_sms_outbox_id", "sms_outbox_id"),
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
        CheckConstraint(f"char_length(body) <= {MAX_STORED_BODY}", name="body_length"),
    )


class TextDesk(Base):
    """A call-taker's desk takes text sessions or not (their toggle, kept over restarts)."""

    __tablename__ = "text_desks"

    web_user: Mapped[str] = mapped_column(primary_key=True)
    accepts: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
