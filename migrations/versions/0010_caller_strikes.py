"""caller_strikes: prank and silent-call strikes per caller number (ntpd_ivr/prank).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "caller_strikes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("at", timestamp, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("uniqueid", sa.Text()),
        sa.Column("region", sa.Text()),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("cleared_at", timestamp),
        sa.Column("cleared_by", sa.Text()),
        sa.Column("cleared_reason", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_caller_strikes"),
        sa.UniqueConstraint("uniqueid", name="uq_caller_strikes_uniqueid"),
        sa.CheckConstraint("reason IN ('prank', 'silent', 'silent-detected')",
                           name="ck_caller_strikes_reason"),
    )
    op.create_index("ix_caller_strikes_number", "caller_strikes", ["number", "at"])
    op.create_index("ix_caller_strikes_active", "caller_strikes", ["at"],
                    postgresql_where=sa.text("cleared_at IS NULL"))


def downgrade() -> None:
    op.drop_table("caller_strikes")
