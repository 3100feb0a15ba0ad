"""calls.caller_number in the canonical form (ntpd_ivr/numbers.py): +62..., or a marker
(withheld, unknown, invalid), so that the calls recorded before are the same callers as the
calls recorded after, in history and reports.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ntpd_ivr.numbers import canonical_caller

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    numbers = bind.execute(sa.text(
        "SELECT DISTINCT caller_number FROM calls WHERE caller_number IS NOT NULL")).scalars()
    changed = [{"raw": raw, "canonical": canonical_caller(raw)} for raw in numbers]
    changed = [row for row in changed if row["raw"] != row["canonical"]]
    if not changed:
        return
    # One UPDATE through a mapping table, not one per number: a year of calls has
    # hundreds of thousands of callers.
    bind.execute(sa.text("CREATE TEMPORARY TABLE caller_number_map "
                         "(raw text PRIMARY KEY, canonical text NOT NULL) ON COMMIT DROP"))
    bind.execute(sa.text("INSERT INTO caller_number_map (raw, canonical) "
                         "VALUES (:raw, :canonical)"), changed)
    bind.execute(sa.text("UPDATE calls SET caller_number = m.canonical FROM caller_number_map m "
                         "WHERE calls.caller_number = m.raw"))


def downgrade() -> None:
    # The numbers as operators first sent them are not kept: canonical ones stay (every
    # earlier revision reads them as they are).
    pass
