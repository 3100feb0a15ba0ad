"""calls.overflow_region: a call another 112 center's Kamailio edge sent here because every
node of that center was dead (docs/ha.md, "A second site"): the region the call was for,
as the edge of the neighbour (identified by its trunk, never by the header alone) named
it. And an index, so that the first center's reports read its calls from ours by region.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("overflow_region", sa.Text()))
    op.create_index("ix_calls_overflow_region", "calls", ["overflow_region", "arrived_at"],
                    postgresql_where=sa.text("overflow_region IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_calls_overflow_region", table_name="calls")
    op.drop_column("calls", "overflow_region")
