"""sms_outbox, sms_delivery_reports, sms_inbox (ntpd_ivr/sms) and location_fixes
(ntpd_ivr/location/tables.py): SMS through Kannel, and the caller's phone's own fixes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "sms_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("to_number", sa.Text(), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", timestamp, server_default=sa.func.now(), nullable=False),
        sa.Column("next_attempt_at", timestamp),
        sa.Column("accepted_at", timestamp),
        sa.Column("delivered_at", timestamp),
        sa.Column("last_error", sa.Text()),
        sa.Column("dlr_token", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_outbox"),
        sa.UniqueConstraint("dlr_token", name="uq_sms_outbox_dlr_token"),
    )
    op.create_index("ix_sms_outbox_due", "sms_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "sms_delivery_reports",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=False),
        sa.Column("dlr_type", sa.Integer(), nullable=False),
        sa.Column("reply", sa.Text(), server_default="", nullable=False),
        sa.Column("received_at", timestamp, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_delivery_reports"),
        sa.ForeignKeyConstraint(["outbox_id"], ["sms_outbox.id"], ondelete="CASCADE",
                                name="fk_sms_delivery_reports_outbox_id_sms_outbox"),
    )
    op.create_index("ix_sms_delivery_reports_outbox_id", "sms_delivery_reports",
                    ["outbox_id"])
    op.create_table(
        "sms_inbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("from_number", sa.Text(), nullable=False),
        sa.Column("from_raw", sa.Text(), nullable=False),
        sa.Column("to_number", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("kannel_id", sa.Text(), server_default="", nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("refusal", sa.Text()),
        sa.Column("received_at", timestamp, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_inbox"),
    )
    op.create_index("ix_sms_inbox_from_number", "sms_inbox", ["from_number", "received_at"])
    op.create_table(
        "location_fixes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("radius_m", sa.Double()),
        sa.Column("fix_time", timestamp),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Integer()),
        sa.Column("caller_number", sa.Text()),
        sa.Column("imei", sa.Text()),
        sa.Column("imsi", sa.Text()),
        sa.Column("mcc", sa.Text()),
        sa.Column("mnc", sa.Text()),
        sa.Column("sms_id", sa.BigInteger()),
        sa.Column("received_at", timestamp, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_location_fixes"),
        sa.ForeignKeyConstraint(["sms_id"], ["sms_inbox.id"], ondelete="SET NULL",
                                name="fk_location_fixes_sms_id_sms_inbox"),
    )
    op.create_index("ix_location_fixes_caller_number", "location_fixes",
                    ["caller_number", "received_at"])
    op.create_index("ix_location_fixes_imei", "location_fixes", ["imei", "received_at"])


def downgrade() -> None:
    for table in ("location_fixes", "sms_inbox", "sms_delivery_reports", "sms_outbox"):
        op.drop_table(table)
