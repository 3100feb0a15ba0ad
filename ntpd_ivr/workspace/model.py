"""Presence and screen pops as values: no I/O here.

Presence is read from Asterisk (QueueStatus), never kept on our side only: Asterisk's
queue members are the truth, so a controller restart loses nothing (the state is rebuilt
after every AMI login).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ntpd_ivr.ami.events import AgentCalled, QueueMember
from ntpd_ivr.location.model import DeskFix, best_first
from ntpd_ivr.numbers import MARKERS, canonical_caller
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.transfer.model import neighbour_of

TOPIC = "workspace"  # the live-push topic of a call-taker's own screen
TOPICS = {TOPIC: "calltaker"}
PRESENCE_ACTIONS = ("login", "logout", "pause", "unpause")
PAUSE_REASONS = ("break", "wrap-up", "training", "meeting", "other")
LOGGED_OUT, AVAILABLE, PAUSED = "logged-out", "available", "paused"
MAX_HISTORY = 10


class WorkspaceError(Exception):
    """A refusal with its HTTP status and error id (wazo-calld style)."""

    status = 409
    error = "conflict"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoEndpoint(WorkspaceError):
    error = "no-endpoint"


class NotLoggedIn(WorkspaceError):
    error = "not-logged-in"


class AlreadyMember(WorkspaceError):
    error = "already-member"


class StaticMember(WorkspaceError):
    error = "static-member"


class InWrapUp(WorkspaceError):
    error = "wrap-up"


class AsteriskRefused(WorkspaceError):
    status = 502
    error = "asterisk"


@dataclass(frozen=True)
class PresenceChange:
    """What a call-taker asked for, validated (ValueError names the bad field)."""

    action: str
    queue: str | None = None
    reason: str | None = None

    @classmethod
    def parse(cls, body: Mapping[str, Any], queues: Sequence[str]) -> PresenceChange:
        action = body.get("action")
        if action not in PRESENCE_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(PRESENCE_ACTIONS)}")
        if action == "login":
            queue = body.get("queue")
            if queue not in queues:
                raise ValueError(f"queue must be one of {', '.join(queues)}")
            return cls(action, queue=str(queue))
        if action == "pause":
            reason = body.get("reason")
            if reason not in PAUSE_REASONS:
                raise ValueError(f"reason must be one of {', '.join(PAUSE_REASONS)}")
            return cls(action, reason=str(reason))
        return cls(str(action))


@dataclass(frozen=True)
class Membership:
    queue: str
    paused: bool
    reason: str
    dynamic: bool  # added by a login (QueueAdd); a static one is in queues*.conf
    status: int  # AST_DEVICE_*
    in_call: bool


@dataclass(frozen=True)
class Presence:
    endpoint: str
    memberships: tuple[Membership, ...] = ()

    @property
    def state(self) -> str:
        if not self.memberships:
            return LOGGED_OUT
        return PAUSED if all(m.paused for m in self.memberships) else AVAILABLE

    @property
    def reason(self) -> str:
        return next((m.reason for m in self.memberships if m.paused and m.reason), "")

    def to_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "state": self.state, "reason": self.reason,
                "queues": [{"queue": m.queue, "paused": m.paused, "reason": m.reason,
                            "dynamic": m.dynamic, "in_call": m.in_call}
                           for m in self.memberships]}


def interface_of(endpoint: str) -> str:
    return f"PJSIP/{endpoint}"


def endpoint_of(interface: str) -> str:
    """'PJSIP/taker-1' -> 'taker-1' (the member's interface, as queues name it)."""
    return interface.partition("/")[2] or interface


def presence_from_members(members: Iterable[QueueMember]) -> dict[str, Presence]:
    """QueueStatus's member items -> each endpoint's presence across its queues."""
    found: dict[str, list[Membership]] = {}
    for m in members:
        found.setdefault(endpoint_of(m.interface), []).append(Membership(
            m.queue, m.paused, m.paused_reason, m.membership == "dynamic", m.status,
            m.in_call))
    return {endpoint: Presence(endpoint, tuple(sorted(ms, key=lambda m: m.queue)))
            for endpoint, ms in found.items()}


def _epoch(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def location_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The calls row's location columns, or None when nothing usable was received."""
    kind = row.get("location_kind")
    if kind in (None, "none"):
        return None
    return {"kind": kind, "source": row.get("location_source"),
            "lat": row.get("location_lat"), "lon": row.get("location_lon"),
            "radius_m": row.get("location_radius_m"), "civic": row.get("location_civic"),
            "error": row.get("location_error")}


def network_fix(row: Mapping[str, Any]) -> DeskFix | None:
    """The operator's position (PIDF-LO, the calls row's location columns) as one of the
    call's fixes, taken when the call arrived; None without a point."""
    lat, lon = row.get("location_lat"), row.get("location_lon")
    if lat is None or lon is None or row.get("location_kind") not in ("point", "circle"):
        return None
    arrived = row.get("arrived_at")
    return DeskFix("network", float(lat), float(lon), row.get("location_radius_m"),
                   str(row.get("location_kind")),
                   arrived if isinstance(arrived, datetime) else None)


def fixes_json(row: Mapping[str, Any], fixes: Iterable[DeskFix] = ()) -> list[dict[str, Any]]:
    """The pop's `fixes`: the operator's position and the caller's phone's own (AML, ELS,
    location link), best first by the location model's one rule (best_first); the desk
    and the map take the first as the proposed point (static/map.js bestFix)."""
    network = network_fix(row)
    return [fix.as_json() for fix in best_first([*fixes, *([network] if network else [])])]


def history_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"uniqueid": row.get("uniqueid"), "arrived_at": _iso(row.get("arrived_at")),
            "disposition": row.get("disposition"), "category": row.get("category"),
            "region": row.get("region"), "answered_by": row.get("answered_by"),
            "medium": row.get("medium") or "voice"}


def has_history(caller_number: str) -> bool:
    """`withheld`, `unknown`, `invalid` are never one caller: no history for them."""
    return bool(caller_number) and caller_number not in MARKERS


def caller_of(called: AgentCalled, row: Mapping[str, Any] | None) -> str:
    """The caller's number as the records hold it: the calls row's, or (no row yet) the
    CallerID Asterisk sent, made canonical the same way ("0811…" is "+62811…"). The raw
    CallerID matched no fix and no earlier call of that caller."""
    return (row or {}).get("caller_number") or canonical_caller(called.caller_number)


def pop_of(called: AgentCalled, row: Mapping[str, Any] | None,
           history: Sequence[Mapping[str, Any]] | None, now: float,
           fixes: Iterable[DeskFix] = ()) -> dict[str, Any]:
    """What the call-taker's screen shows when their phone rings. `row` is the calls row
    (None if not written yet), `history` the caller's earlier calls (None if the look-up
    did not finish in time), `fixes` its phone's own (AML, ELS, location link)."""
    row = row or {}
    queued = _epoch(row.get("queued_at")) or _epoch(row.get("arrived_at"))
    return {
        **call_of(called.uniqueid, endpoint_of(called.interface), row),
        "queue": called.queue,
        "caller_number": caller_of(called, row),
        "wait_seconds": max(0, round(now - queued)) if queued is not None else None,
        "history": [history_entry(h) for h in history or ()],
        "history_complete": history is not None,
        "fixes": fixes_json(row, fixes),
    }


def call_of(uniqueid: str, endpoint: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The screen's call from its calls row alone: what a screen shows of a call whose
    pop the controller no longer has (its wrap-up was restored after a restart)."""
    return {
        "uniqueid": uniqueid,
        "queue": row.get("queue"),
        "endpoint": endpoint,
        "caller_number": row.get("caller_number"),
        "region": row.get("region"),
        "category": row.get("category"),
        "ivr_digit": row.get("ivr_digit"),
        "arrived_at": _iso(row.get("arrived_at")),
        "wait_seconds": None,
        "location": location_of(row),
        "fixes": fixes_json(row),
        "history": [],
        "history_complete": False,
    }


def overflow_note(routing: RoutingConfig, row: Mapping[str, Any] | None) -> dict[str, str] | None:
    """What the call-taker's screen pop and the supervisor's wall say of a call another
    center's edge overflowed here (docs/workspace.md; docs/ha.md, "A second site"; one rule
    for both screens): the region it was for and the dark
    center, or None for any other call. The center is named as OUR config names the
    neighbour whose trunk the call came on (the trunk proved it); the header only says the
    region, so a call on a trunk no neighbour's any more (the config was reloaded since)
    gets no note rather than a name the header made up. The region's name is ours when our
    config has that region (a province center lists its regencies), its key otherwise."""
    if not row or not row.get("overflow_region"):
        return None
    found = neighbour_of(routing, row.get("trunk") or "")
    if found is None:
        return None
    _, neighbour = found
    key = str(row["overflow_region"])
    region = routing.regions.get(key)
    return {"region": key, "region_name": region.name if region is not None else key,
            "neighbour": neighbour.key, "neighbour_name": neighbour.name}
