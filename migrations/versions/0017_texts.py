"""112 by text (issue 22, ntpd_ivr/texts): calls.medium, and the text sessions' own
tables: text_sessions (who took it, when it was first answered), text_messages (every
message in and out, stored as text, size-bounded) and text_desks (which call-takers'
desks accept text).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.add_column("calls", sa.Column("medium", sa.Text(), server_default="voice",
                                     nullable=False))
    op.create_table(
        "text_sessions",
        sa.Column("uniqueid", sa.Text(), nullable=False),
        sa.Column("caller_number", sa.Text(), nullable=False),
        sa.Column("opened_at", timestamp, server_default=sa.func.now(), nullable=False),
        sa.Column("taken_by", sa.Text()),
        sa.Column("taken_at", timestamp),
        sa.Column("unanswered_at", timestamp),
        sa.Column("first_reply_at", timestamp),
        sa.Column("ended_at", timestamp),
        sa.Column("ended_by", sa.Text()),
        sa.PrimaryKeyConstraint("uniqueid", name="pk_text_sessions"),
    )
    op.create_index("uq_text_sessions_open_number", "text_sessions", ["caller_number"],
                    unique=True, postgresql_where=sa.text("ended_at IS NULL"))
    op.create_index("ix_text_sessions_opened_at", "text_sessions", ["opened_at"])
    op.create_table(
        "text_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("uniqueid", sa.Text(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("at", timestamp, server_default=sa.func.now(), nullable=False),
        sa.Column("sms_inbox_id", sa.BigInteger()),
        sa.Column("sms_outbox_id", sa.BigInteger()),
        sa.Column("flagged", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_text_messages"),
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_text_messages_direction"),
        sa.CheckConstraint("char_length(body) <= 2000", name="ck_text_messages_body_length"),
    )
    op.create_index("ix_text_messages_uniqueid", "text_messages", ["uniqueid", "id"])
    op.create_index("ix_text_messages_sms_outbox_id", "text_messages", ["sms_outbox_id"])
    op.create_table(
        "text_desks",
        sa.Column("web_user", sa.Text(), nullable=False),
        sa.Column("accepts", sa.Boolean(), nullable=False),
        sa.Column("updated_at", timestamp, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("web_user", name="pk_text_desks"),
    )


def downgrade() -> None:
    op.drop_table("text_desks")
    op.drop_table("text_messages")
    op.drop_table("text_sessions")
    op.drop_column("calls", "medium")
