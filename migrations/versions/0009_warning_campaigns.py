"""Public warning campaigns: contacts, campaigns, their frozen lists and attempts
(ntpd_ivr/campaigns). Outcomes are call_events steps (kind warning.outcome).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "warning_contacts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), server_default="", nullable=False),
        sa.Column("kecamatan", sa.Text(), server_default="", nullable=False),
        sa.Column("desa", sa.Text(), server_default="", nullable=False),
        sa.Column("language", sa.Text(), server_default="id", nullable=False),
        sa.Column("updated_at", timestamp, nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_warning_contacts"),
        sa.UniqueConstraint("number", name="uq_warning_contacts_number"),
    )
    op.create_table(
        "warning_campaigns",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("message_text", sa.Text(), server_default="", nullable=False),
        sa.Column("message_file", sa.Text(), nullable=False),
        sa.Column("target", postgresql.JSONB(), nullable=False),
        sa.Column("trunk", sa.Text(), nullable=False),
        sa.Column("caller_id", sa.Text(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("no_answer_seconds", sa.Double(), nullable=False),
        sa.Column("busy_seconds", sa.Double(), nullable=False),
        sa.Column("failed_seconds", sa.Double(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", timestamp, nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("approved_at", timestamp),
        sa.Column("approved_by", sa.Text()),
        sa.Column("ended_at", timestamp),
        sa.Column("ended_by", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_warning_campaigns"),
        sa.CheckConstraint("status IN ('awaiting-approval', 'running', 'finished', "
                           "'cancelled')", name="ck_warning_campaigns_status"),
        sa.CheckConstraint("approved_by IS NULL OR approved_by <> created_by",
                           name="ck_warning_campaigns_second_approver"),
    )
    op.create_index("ix_warning_campaigns_status", "warning_campaigns", ["status"])
    op.create_table(
        "warning_campaign_contacts",
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("language", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["warning_campaigns.id"], ondelete="CASCADE",
                                name="fk_warning_campaign_contacts_campaign_id_"
                                     "warning_campaigns"),
        sa.PrimaryKeyConstraint("campaign_id", "contact_id",
                                name="pk_warning_campaign_contacts"),
    )
    op.create_table(
        "warning_attempts",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("dialed_at", timestamp, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["warning_campaigns.id"], ondelete="CASCADE",
                                name="fk_warning_attempts_campaign_id_warning_campaigns"),
        sa.PrimaryKeyConstraint("key", name="pk_warning_attempts"),
    )
    op.create_index("ix_warning_attempts_contact", "warning_attempts",
                    ["campaign_id", "contact_id", "attempt"], unique=True)


def downgrade() -> None:
    op.drop_table("warning_attempts")
    op.drop_table("warning_campaign_contacts")
    op.drop_index("ix_warning_campaigns_status", table_name="warning_campaigns")
    op.drop_table("warning_campaigns")
    op.drop_table("warning_contacts")
