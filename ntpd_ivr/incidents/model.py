"""Incident, disposition and dispatch values, and the dispatch state machine. Pure.

A dispatch is either "connect" (the controller dials the agency's trunk, the agency hears
the incident and presses 1: the telephony part drives it through `attempt`, `answer`,
`accept`, `refuse`, `time_out`) or "notify" (the agency acknowledges on its own screen:
`accept` or `refuse` by an agency user). After acceptance the agency reports `on_the_way`,
`on_scene`, `resolve`. Each transition returns the next state, or raises InvalidTransition.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ntpd_ivr.incidents.exceptions import Conflict

SEVERITIES = ("low", "medium", "high", "critical")
# Every call ends with one of these (issue 9): genuine emergencies and duplicates name
# their incident; the rest never do.
DISPOSITIONS = ("genuine", "information", "prank", "silent", "wrong-number", "test",
                "duplicate")
WITH_INCIDENT = frozenset({"genuine", "duplicate"})
INCIDENT_STATUSES = ("open", "closed")
SUGGEST_WINDOW_SECONDS = 30 * 60  # an open incident this recent is offered to the next caller

DispatchMode = Literal["connect", "notify"]
MODES: tuple[DispatchMode, ...] = ("connect", "notify")
DispatchEvent = Literal["attempt", "answer", "accept", "refuse", "time_out", "on_the_way",
                        "on_scene", "resolve", "cancel"]
EVENTS: tuple[DispatchEvent, ...] = ("attempt", "answer", "accept", "refuse", "time_out",
                                     "on_the_way", "on_scene", "resolve", "cancel")
STATUSES = ("dialing", "answered", "notified", "accepted", "on-the-way", "on-scene",
            "resolved", "refused", "timed-out", "cancelled")
FINAL = frozenset({"resolved", "refused", "timed-out", "cancelled"})

# event -> (statuses it may come from, the status it leads to, the time column it sets)
TRANSITIONS: dict[DispatchEvent, tuple[frozenset[str], str, str | None]] = {
    "attempt": (frozenset({"dialing"}), "dialing", None),
    "answer": (frozenset({"dialing"}), "answered", "answered_at"),
    "accept": (frozenset({"answered", "notified"}), "accepted", "accepted_at"),
    "refuse": (frozenset({"answered", "notified"}), "refused", "refused_at"),
    "time_out": (frozenset({"dialing", "answered", "notified"}), "timed-out", "timed_out_at"),
    "on_the_way": (frozenset({"accepted"}), "on-the-way", "on_the_way_at"),
    "on_scene": (frozenset({"accepted", "on-the-way"}), "on-scene", "on_scene_at"),
    "resolve": (frozenset({"accepted", "on-the-way", "on-scene"}), "resolved", "resolved_at"),
    "cancel": (frozenset(STATUSES) - FINAL, "cancelled", "cancelled_at"),
}
# What the agency's own screen may do (the rest is the telephony's or the call-taker's).
AGENCY_EVENTS: tuple[DispatchEvent, ...] = ("accept", "refuse", "on_the_way", "on_scene",
                                            "resolve")
TIME_COLUMNS = ("answered_at", "accepted_at", "refused_at", "timed_out_at", "on_the_way_at",
                "on_scene_at", "resolved_at", "cancelled_at")


class InvalidTransition(Conflict):
    """The dispatch is not in a state where this event can happen (HTTP 409)."""


@dataclass(frozen=True)
class DispatchState:
    mode: DispatchMode
    status: str
    created_at: datetime
    attempts: int = 0
    answered_at: datetime | None = None
    accepted_at: datetime | None = None
    refused_at: datetime | None = None
    timed_out_at: datetime | None = None
    on_the_way_at: datetime | None = None
    on_scene_at: datetime | None = None
    resolved_at: datetime | None = None
    cancelled_at: datetime | None = None

    @classmethod
    def start(cls, mode: DispatchMode, at: datetime) -> DispatchState:
        if mode not in MODES:
            raise ValueError(f"dispatch mode must be one of {MODES}, not {mode!r}")
        return cls(mode=mode, status="dialing" if mode == "connect" else "notified",
                   created_at=at)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def advance(self, event: DispatchEvent, at: datetime) -> DispatchState:
        if event not in TRANSITIONS:
            raise InvalidTransition(f"no dispatch event {event!r}")
        sources, target, column = TRANSITIONS[event]
        if self.status not in sources:
            raise InvalidTransition(f"cannot {event.replace('_', ' ')} a dispatch that is "
                                    f"{self.status}")
        if at < self.created_at:
            raise InvalidTransition(f"{event} at {at.isoformat()} is before the dispatch")
        changes: dict[str, Any] = {"status": target}
        if column is not None:
            changes[column] = at
        if event == "attempt":
            changes["attempts"] = self.attempts + 1
        return dataclasses.replace(self, **changes)


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
