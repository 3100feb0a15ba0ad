"""Web sessions (migration 0013): one row per logged-in browser. Only a SHA-256 of the
session id is stored, so whoever reads the table cannot use a row as a cookie."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class WebSession(Base):
    __tablename__ = "web_sessions"

    # sha256 hex of the cookie's value: 256 random bits, so no salt or slow hash is needed.
    id_hash: Mapped[str] = mapped_column(primary_key=True)
    user_name: Mapped[str]
    # A digest of the user's password hash at login: a new password ends older sessions.
    password_stamp: Mapped[str]
    address: Mapped[str]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    __table_args__ = (Index("ix_web_sessions_user_name", "user_name"),
                      Index("ix_web_sessions_expires_at", "expires_at"))
