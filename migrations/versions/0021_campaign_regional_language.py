"""warning_campaigns: the message in a regional language too (the settings'
warnings.regional_language, e.g. Javanese, Palembang Malay), beside Bahasa Indonesia; a
contact of that language hears it (ntpd_ivr/campaigns, docs/warnings.md).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("regional_language", "message_text_regional", "message_file_regional")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("warning_campaigns",
                      sa.Column(name, sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("warning_campaigns", name)
