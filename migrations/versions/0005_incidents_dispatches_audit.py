"""incidents, call_dispositions, dispatches (ntpd_ivr/incidents) and the shared audit
trail, audit_events (ntpd_ivr/audit).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DISPATCH_TIMES = ("answered_at", "accepted_at", "refused_at", "timed_out_at", "on_the_way_at",
                  "on_scene_at", "resolved_at", "cancelled_at")


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("at", timestamp, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("detail", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_subject", "audit_events",
                    ["subject_type", "subject_id", "at"])
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_table(
        "incidents",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("kecamatan", sa.Text(), nullable=False),
        sa.Column("kecamatan_key", sa.Text(), nullable=False),
        sa.Column("desa", sa.Text(), server_default="", nullable=False),
        sa.Column("address", sa.Text(), server_default="", nullable=False),
        sa.Column("lat", sa.Double()),
        sa.Column("lon", sa.Double()),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("people_involved", sa.Integer(), server_default="0", nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("created_at", timestamp, nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("closed_at", timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_incidents_status"),
    )
    op.create_index("ix_incidents_suggest", "incidents",
                    ["category", "kecamatan_key", "created_at"])
    op.create_table(
        "call_dispositions",
        sa.Column("uniqueid", sa.Text(), nullable=False),
        sa.Column("disposition", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.BigInteger()),
        sa.Column("set_at", timestamp, nullable=False),
        sa.Column("set_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("uniqueid", name="pk_call_dispositions"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="RESTRICT",
                                name="fk_call_dispositions_incident_id_incidents"),
        sa.CheckConstraint(
            "(disposition IN ('genuine', 'duplicate')) = (incident_id IS NOT NULL)",
            name="ck_call_dispositions_incident"),
    )
    op.create_index("ix_call_dispositions_incident_id", "call_dispositions", ["incident_id"])
    op.create_table(
        "dispatches",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("proposed", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", timestamp, nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        *(sa.Column(name, timestamp) for name in DISPATCH_TIMES),
        sa.PrimaryKeyConstraint("id", name="pk_dispatches"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="RESTRICT",
                                name="fk_dispatches_incident_id_incidents"),
    )
    op.create_index("ix_dispatches_incident_id", "dispatches", ["incident_id"])
    op.create_index("ix_dispatches_agency", "dispatches", ["agency", "created_at"])
    op.create_index("ix_dispatches_created_at", "dispatches", ["created_at"])


def downgrade() -> None:
    for table in ("dispatches", "call_dispositions", "incidents", "audit_events"):
        op.drop_table(table)
