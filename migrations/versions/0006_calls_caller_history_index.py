"""calls: an index for the caller's history on the call-taker's screen (ntpd_ivr/workspace).
Presence changes are audited in audit_events (0005).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_calls_caller_number", "calls", ["caller_number", "arrived_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_caller_number", table_name="calls")
