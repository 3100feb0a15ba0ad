"""calls: the caller's location (ntpd_ivr/location): kind, source, coordinates, radius,
confidence, civic address, shape, what was received, and why it was unusable.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("location_kind", sa.Text()),
    ("location_source", sa.Text()),
    ("location_lat", sa.Double()),
    ("location_lon", sa.Double()),
    ("location_radius_m", sa.Double()),
    ("location_confidence", sa.Integer()),
    ("location_civic", postgresql.JSONB()),
    ("location_shape", sa.Text()),
    ("location_raw", sa.Text()),
    ("location_error", sa.Text()),
)


def upgrade() -> None:
    # Nullable, no default: adding them rewrites nothing, whatever the table's size.
    for name, type_ in COLUMNS:
        op.add_column("calls", sa.Column(name, type_))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("calls", name)
