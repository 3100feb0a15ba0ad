"""incident_saves: the desk's key of each saved incident draft, so that a save sent again
after a lost answer (a database failover) does not make a second incident
(ntpd_ivr/incidents/service.py, docs/ha.md).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_saves",
        sa.Column("save_key", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("save_key", name=op.f("pk_incident_saves")),
    )


def downgrade() -> None:
    op.drop_table("incident_saves")
