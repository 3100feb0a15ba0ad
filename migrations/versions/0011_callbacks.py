"""callbacks, callback_calls, callback_attempts (ntpd_ivr/callbacks): the abandoned-call
callback list.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "callbacks",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("caller_number", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("abandoned_at", timestamp, nullable=False),
        sa.Column("last_abandoned_at", timestamp, nullable=False),
        sa.Column("abandon_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_attempt_at", timestamp),
        sa.Column("last_attempt_at", timestamp),
        sa.Column("next_attempt_at", timestamp),
        sa.Column("last_endpoint", sa.Text()),
        sa.Column("closed_at", timestamp),
        sa.Column("cleared_by", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_callbacks"),
    )
    op.create_index("ix_callbacks_caller_number", "callbacks", ["caller_number", "status"])
    op.create_index("ix_callbacks_status", "callbacks", ["status", "next_attempt_at"])
    op.create_index("ix_callbacks_abandoned_at", "callbacks", ["abandoned_at"])
    op.create_table(
        "callback_calls",
        sa.Column("uniqueid", sa.Text(), nullable=False),
        sa.Column("callback_id", sa.BigInteger()),
        sa.Column("abandoned_at", timestamp, nullable=False),
        sa.PrimaryKeyConstraint("uniqueid", name="pk_callback_calls"),
        sa.ForeignKeyConstraint(["callback_id"], ["callbacks.id"], ondelete="CASCADE",
                                name="fk_callback_calls_callback_id_callbacks"),
    )
    op.create_index("ix_callback_calls_callback_id", "callback_calls", ["callback_id"])
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("callback_id", sa.BigInteger(), nullable=False),
        sa.Column("started_at", timestamp, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text()),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column("ended_at", timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_callback_attempts"),
        sa.ForeignKeyConstraint(["callback_id"], ["callbacks.id"], ondelete="CASCADE",
                                name="fk_callback_attempts_callback_id_callbacks"),
    )
    op.create_index("ix_callback_attempts_callback_id", "callback_attempts", ["callback_id"])


def downgrade() -> None:
    for table in ("callback_attempts", "callback_calls", "callbacks"):
        op.drop_table(table)
