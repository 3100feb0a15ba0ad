"""wrapups: call-takers paused in wrap-up until the call's disposition (ntpd_ivr/workspace).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "wrapups",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("uniqueid", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("started_at", timestamp, nullable=False),
        sa.Column("deadline", timestamp, nullable=False),
        sa.Column("ended_at", timestamp, nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_wrapups"),
    )
    op.create_index("ix_wrapups_pending", "wrapups", ["endpoint"],
                    postgresql_where=sa.text("ended_at IS NULL"))
    op.create_index("ix_wrapups_uniqueid", "wrapups", ["uniqueid"])


def downgrade() -> None:
    op.drop_index("ix_wrapups_uniqueid", table_name="wrapups")
    op.drop_index("ix_wrapups_pending", table_name="wrapups")
    op.drop_table("wrapups")
