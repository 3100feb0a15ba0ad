"""calls: region, priority, disposition, abandoned_at, reconciled; call_events (CallStep),
call_takers, agencies; indexes for the answer-time reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.add_column("calls", sa.Column("region", sa.Text()))
    op.add_column("calls", sa.Column("priority", sa.Integer()))
    op.add_column("calls", sa.Column("disposition", sa.Text()))
    op.add_column("calls", sa.Column("abandoned_at", timestamp))
    op.add_column("calls", sa.Column("reconciled", sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    op.create_index("ix_calls_region", "calls", ["region", "arrived_at"])
    op.create_index("ix_calls_category", "calls", ["category", "arrived_at"])
    op.create_table(
        "call_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("uniqueid", sa.Text(), nullable=False),
        sa.Column("at", timestamp, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("detail", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("detail_digest", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_call_events"),
        sa.UniqueConstraint("uniqueid", "kind", "at", "detail_digest",
                            name="uq_call_events_step"),
    )
    op.create_index("ix_call_events_at", "call_events", ["at"])
    for name in ("call_takers", "agencies"):
        op.create_table(
            name,
            sa.Column("name", sa.Text(), nullable=False),
            sa.Column("region", sa.Text()),
            sa.Column("created", timestamp, server_default=sa.func.now(), nullable=False),
            sa.PrimaryKeyConstraint("name", name=f"pk_{name}"),
        )


def downgrade() -> None:
    op.drop_table("agencies")
    op.drop_table("call_takers")
    op.drop_index("ix_call_events_at", table_name="call_events")
    op.drop_table("call_events")
    op.drop_index("ix_calls_category", table_name="calls")
    op.drop_index("ix_calls_region", table_name="calls")
    for column in ("reconciled", "abandoned_at", "disposition", "priority", "region"):
        op.drop_column("calls", column)
