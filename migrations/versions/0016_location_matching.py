"""location_fixes.call_uniqueid (a fix matched to its call, ntpd_ivr/location/fixes.py)
and location_links (the single-use tokens of the location link by SMS).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.add_column("location_fixes", sa.Column("call_uniqueid", sa.Text()))
    op.create_index("ix_location_fixes_call_uniqueid", "location_fixes", ["call_uniqueid"])
    op.create_table(
        "location_links",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("call_uniqueid", sa.Text(), nullable=False),
        sa.Column("caller_number", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", timestamp, server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", timestamp, nullable=False),
        sa.Column("used_at", timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_location_links"),
        sa.UniqueConstraint("token_hash", name="uq_location_links_token_hash"),
    )


def downgrade() -> None:
    op.drop_table("location_links")
    op.drop_index("ix_location_fixes_call_uniqueid", table_name="location_fixes")
    op.drop_column("location_fixes", "call_uniqueid")
