"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ntpd_ivr.settings import DatabaseSettings

AuditEntry = tuple[str, str, str, str, dict[str, Any]]


@pytest.fixture
def cli_audit(monkeypatch: pytest.MonkeyPatch) -> list[AuditEntry]:
    """The command line's audit entries (ntpd_ivr/audit/cli.py), kept here instead of
    PostgreSQL: (actor, action, subject type, subject id, detail)."""
    entries: list[AuditEntry] = []

    def write(database: DatabaseSettings, actor: str, action: str, subject_type: str,
              subject_id: str, detail: Mapping[str, Any]) -> int:
        entries.append((actor, action, subject_type, subject_id, dict(detail)))
        return 0

    monkeypatch.setattr("ntpd_ivr.audit.cli.write", write)
    return entries
