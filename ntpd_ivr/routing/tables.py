"""The agencies table of the first schema (0001). No code writes it yet: agencies live in
the routing config (routing/config.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlalchemy.orm import Mapped, mapped_column

from ntpd_ivr.db.base import Base


class Agency(Base):
    __tablename__ = "agencies"

    name: Mapped[str] = mapped_column(primary_key=True)
    region: Mapped[str | None]
    created: Mapped[datetime] = mapped_column(server_default=func.now())
