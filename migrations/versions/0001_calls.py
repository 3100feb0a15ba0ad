"""calls: one row per call, upserted by the record keeper.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "calls",
        sa.Column("uniqueid", sa.Text(), nullable=False),
        sa.Column("linkedid", sa.Text()),
        sa.Column("caller_number", sa.Text()),
        sa.Column("trunk", sa.Text()),
        sa.Column("dialed", sa.Text()),
        sa.Column("ivr_digit", sa.Text()),
        sa.Column("category", sa.Text()),
        sa.Column("queue", sa.Text()),
        sa.Column("route_reason", sa.Text()),
        sa.Column("arrived_at", timestamp),
        sa.Column("queued_at", timestamp),
        sa.Column("answered_at", timestamp),
        sa.Column("answered_by", sa.Text()),
        sa.Column("ended_at", timestamp),
        sa.Column("hangup_cause", sa.Integer()),
        sa.Column("hangup_cause_text", sa.Text()),
        sa.Column("created_at", timestamp, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", timestamp, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("uniqueid", name="pk_calls"),
    )
    op.create_index("ix_calls_arrived_at", "calls", ["arrived_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_arrived_at", table_name="calls")
    op.drop_table("calls")
