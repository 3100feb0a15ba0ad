"""transfers_in: the EIDO documents neighbouring 112 centers send before transferring a
caller (ntpd_ivr/transfer/receive.py), linked to our call when it arrives.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transfers_in",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("neighbour", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("remote_incident_id", sa.Text(), nullable=False),
        sa.Column("remote_call_id", sa.Text()),
        sa.Column("form", postgresql.JSONB(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("call_uniqueid", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_transfers_in"),
        sa.UniqueConstraint("reference", name="uq_transfers_in_reference"),
    )
    op.create_index("ix_transfers_in_call_uniqueid", "transfers_in", ["call_uniqueid"])


def downgrade() -> None:
    op.drop_index("ix_transfers_in_call_uniqueid", table_name="transfers_in")
    op.drop_table("transfers_in")
