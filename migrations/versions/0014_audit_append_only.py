"""audit_events is append-only: a trigger refuses every UPDATE and DELETE of its rows.

The controller's own role cannot UPDATE or DELETE the table at all (its rights, from
ntpd_ivr.db.migrate.grant_runtime); this trigger is the second line, and the only one in
a deployment where one role both owns the tables and runs the controller. The table's
owner can still drop or disable the trigger, or TRUNCATE (row triggers do not fire on
it): docs/security.md says so.

Revision ID: 0014
Revises: 0012 (0013 comes from another branch of issue 19; the lead chains them)
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION audit_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
    """)
    op.execute("""
        CREATE TRIGGER audit_events_append_only
        BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
    op.execute("DROP FUNCTION audit_events_append_only()")
