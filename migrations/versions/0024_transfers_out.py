"""transfers_out: each transfer of one of our callers to a neighbouring 112 center, from
the neighbour taking our EIDO to its end, so that a controller started again mid-transfer
finishes it with its incident and call-taker (ntpd_ivr/transfer/persist.py).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transfers_out",
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.BigInteger()),
        sa.Column("call_uniqueid", sa.Text(), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("neighbour", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("taker_channel", sa.Text()),
        sa.Column("caller_channel", sa.Text()),
        sa.Column("neighbour_channel", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint("reference", name="pk_transfers_out"),
    )
    op.create_index("ix_transfers_out_call_uniqueid", "transfers_out", ["call_uniqueid"])
    op.create_index("ix_transfers_out_live", "transfers_out", ["state", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_transfers_out_live", table_name="transfers_out")
    op.drop_index("ix_transfers_out_call_uniqueid", table_name="transfers_out")
    op.drop_table("transfers_out")
