"""surge_state: surge mode's one row, shared by every controller of the center (two nodes
in `make run-ha`): each change bumps `version` in the transaction that writes its audit
entry; each controller reads the row every few seconds (ntpd_ivr/alerts/service.py).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "surge_state",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("alert_id", sa.BigInteger()),
        sa.Column("started_at", timestamp),
        sa.Column("ends_at", timestamp),
        sa.Column("started_by", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("changed_at", timestamp),
        sa.Column("changed_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_surge_state"),
        sa.CheckConstraint("id = 1", name="ck_surge_state_one_row"),
    )
    # Version 0: never changed since this migration (a controller then takes surge mode
    # back from the audit trail, as before).
    op.execute("INSERT INTO surge_state (id, version, started_by, region, changed_by) "
               "VALUES (1, 0, '', '', '')")


def downgrade() -> None:
    op.drop_table("surge_state")
