"""cap_alerts: CAP 1.2 alerts received from the feeds (ntpd_ivr/alerts, docs/alerts.md).

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "cap_alerts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("sent", timestamp, nullable=False),
        sa.Column("received_at", timestamp, nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("msg_type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("urgency", sa.Text(), nullable=False),
        sa.Column("area_desc", sa.Text(), nullable=False),
        sa.Column("expires", timestamp),
        sa.Column("magnitude", sa.Double()),
        sa.Column("regions", postgresql.JSONB(), nullable=False),
        sa.Column("summary", postgresql.JSONB(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cap_alerts"),
        sa.UniqueConstraint("identifier", "sender", "sent", name="uq_cap_alerts_key"),
    )
    op.create_index("ix_cap_alerts_received_at", "cap_alerts", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_cap_alerts_received_at", table_name="cap_alerts")
    op.drop_table("cap_alerts")
