"""ix_calls_open: calls without an end, for closing the calls a dead node left behind
(ntpd_ivr/calls/reconcile.py).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_calls_open", "calls", ["arrived_at"],
                    postgresql_where=sa.text("ended_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_calls_open", table_name="calls")
