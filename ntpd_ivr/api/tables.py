"""Machine-client tokens (migration 0007): only a SHA-256 of each token is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Identity, Index
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str]
    role: Mapped[str]
    agency: Mapped[str] = mapped_column(server_default="")
    # sha256 hex of the secret: the token is 256 random bits, so no salt or slow hash is
    # needed to make the stored value useless to whoever reads the table.
    token_hash: Mapped[str] = mapped_column(unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_api_tokens_name", "name"),)
