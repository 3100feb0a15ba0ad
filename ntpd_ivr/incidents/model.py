"""Incident and disposition values. Pure. (A dispatch's values and its state machine are
ntpd_ivr/dispatch/model.py's.)"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("low", "medium", "high", "critical")
# Every call ends with one of these (issue 9): genuine emergencies and duplicates name
# their incident; the rest never do.
DISPOSITIONS = ("genuine", "information", "prank", "silent", "wrong-number", "test",
                "duplicate")
WITH_INCIDENT = frozenset({"genuine", "duplicate"})
INCIDENT_STATUSES = ("open", "closed")
SUGGEST_WINDOW_SECONDS = 30 * 60  # an open incident this recent is offered to the next caller


@dataclass(frozen=True)
class IncidentDraft:
    """What a call-taker writes (checked by schemas.incident_draft)."""

    region: str
    category: str
    kecamatan: str
    description: str
    severity: str
    people_involved: int = 0
    desa: str = ""
    address: str = ""
    lat: float | None = None
    lon: float | None = None


def kecamatan_key(name: str) -> str:
    """Two spellings of one kecamatan ("Ilir Barat I", "ilir  barat i") match."""
    return " ".join(name.split()).casefold()
