"""The wall's state as values, changed only by typed AMI events and action replies: no I/O.

Calls: in the IVR, waiting in a queue, talking (to a call-taker or an agency). Call-takers:
available, ringing, on a call, wrap-up, paused (and why), unreachable, logged out. After a
controller restart or an AMI reconnect everything is rebuilt from Asterisk's own lists
(CoreShowChannels, QueueStatus), because the events sent meanwhile are lost for good.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AmiEvent,
    BridgeEnter,
    CoreShowChannel,
    Hangup,
    Newchannel,
    QueueCallerJoin,
    QueueEntry,
    QueueMember,
)
from ntpd_ivr.calls.values import EMERGENCY_CONTEXTS
from ntpd_ivr.clock import event_time
from ntpd_ivr.workspace.model import endpoint_of

TOPIC = "wall"
TOPICS = {TOPIC: "supervisor"}

IVR, QUEUE, TALKING = "ivr", "queue", "talking"
AVAILABLE, RINGING, ON_CALL, WRAP_UP = "available", "ringing", "on-call", "wrap-up"
PAUSED, UNREACHABLE, LOGGED_OUT = "paused", "unreachable", "logged-out"
TAKER_STATES = (AVAILABLE, RINGING, ON_CALL, WRAP_UP, PAUSED, UNREACHABLE, LOGGED_OUT)
WRAP_UP_REASON = "wrap-up"  # the workspace's pause reason of that name shows as wrap-up
MAX_OVERFLOW_MARKS = 10_000  # overflow marks kept for calls whose Hangup was missed
# AST_DEVICE_* of a queue member (QueueStatus Status).
_DEVICE_RINGING = frozenset({6, 7})
_DEVICE_BUSY = frozenset({2, 3, 8})
_DEVICE_UNREACHABLE = frozenset({4, 5})

# Answered within N s over all offered calls, in %: NFPA 1225 (90 % within 10 s) and
# NENA-STA-020.1 (90 % within 15 s, 95 % within 20 s).
TARGETS: Mapping[str, float] = {"answered_within_10s_pct": 90.0,
                                "answered_within_15s_pct": 90.0,
                                "answered_within_20s_pct": 95.0}


@dataclass(frozen=True)
class LiveCall:
    uniqueid: str
    caller_number: str
    state: str  # IVR, QUEUE or TALKING
    since: float  # when it entered that state
    arrived_at: float
    queue: str = ""
    taker: str = ""  # call-taker endpoint, or "agency:<key>"
    answered: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"uniqueid": self.uniqueid, "caller_number": self.caller_number,
                "state": self.state, "since": self.since, "arrived_at": self.arrived_at,
                "queue": self.queue, "taker": self.taker}


@dataclass(frozen=True)
class EndedCall:
    """A 112 call's end as the wall saw it: the callbacks take the unanswered ones."""

    uniqueid: str
    caller_number: str
    answered: bool
    last_state: str


@dataclass(frozen=True)
class Taker:
    endpoint: str
    state: str
    since: float
    reason: str = ""
    queues: tuple[str, ...] = ()
    call: str = ""  # the caller's uniqueid while ringing or on a call

    def to_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "state": self.state, "since": self.since,
                "reason": self.reason, "queues": list(self.queues), "call": self.call}


# --- calls ------------------------------------------------------------------------------

def call_after(call: LiveCall | None, event: AmiEvent) -> LiveCall | None:
    """A 112 call's next state after one event (None: not a call the wall shows)."""
    at = event_time(event)
    if isinstance(event, Newchannel):
        if event.context not in dp.CALLER_CONTEXTS or call is not None:
            return call  # a uniqueid starts once: replayed after a rebuild, it changes nothing
        return LiveCall(event.uniqueid, event.caller_number, IVR, at, at)
    if call is None:
        return None
    if isinstance(event, QueueCallerJoin):
        return replace(call, state=QUEUE, since=at, queue=event.queue)
    if isinstance(event, AgentConnect):
        return replace(call, state=TALKING, since=at, answered=True,
                       taker=event.member_name or endpoint_of(event.interface))
    if isinstance(event, BridgeEnter) and call.state != TALKING:
        # Bridged to whoever answered: a call-taker (AgentConnect names them) or an
        # agency's trunk (direct dispatch, no queue event at all).
        return replace(call, state=TALKING, since=at, answered=True)
    return call


# --- call-takers ------------------------------------------------------------------------

def taker_from_members(endpoint: str, members: Iterable[QueueMember], previous: Taker | None,
                       now: float, wrapup_seconds: float) -> Taker:
    """One endpoint's state from its QueueStatus member items (all its queues)."""
    mine = sorted((m for m in members if endpoint_of(m.interface) == endpoint),
                  key=lambda m: m.queue)
    queues = tuple(m.queue for m in mine)
    if not mine:
        state, reason = LOGGED_OUT, ""
    elif all(m.paused for m in mine):
        reason = next((m.paused_reason for m in mine if m.paused_reason), "")
        state = WRAP_UP if reason == WRAP_UP_REASON else PAUSED
    elif any(m.status in _DEVICE_RINGING for m in mine):
        state, reason = RINGING, ""
    elif any(m.in_call or m.status in _DEVICE_BUSY for m in mine):
        state, reason = ON_CALL, ""
    elif all(m.status in _DEVICE_UNREACHABLE for m in mine):
        state, reason = UNREACHABLE, ""
    else:
        state, reason = AVAILABLE, ""
    if (state == AVAILABLE and previous is not None and previous.state == WRAP_UP
            and not previous.reason and now < previous.since + wrapup_seconds):
        state = WRAP_UP  # app_queue's wrap-up time after a call: not a pause
    call = previous.call if previous is not None and state in (RINGING, ON_CALL) else ""
    since = previous.since if previous is not None and previous.state == state else now
    return Taker(endpoint, state, since, reason if state in (PAUSED, WRAP_UP) else "",
                 queues, call)


def taker_after(taker: Taker, event: AmiEvent, wrapup_seconds: float) -> Taker:
    """A call-taker's next state after one of their queue-member events."""
    at = event_time(event)
    if taker.state in (PAUSED, LOGGED_OUT) and not isinstance(event, (AgentConnect,
                                                                      AgentComplete)):
        return taker
    if isinstance(event, AgentCalled):
        return replace(taker, state=RINGING, since=at, call=event.uniqueid, reason="")
    if isinstance(event, AgentConnect):
        return replace(taker, state=ON_CALL, since=at, call=event.uniqueid, reason="")
    if isinstance(event, AgentRingNoAnswer) and taker.call == event.uniqueid:
        return replace(taker, state=AVAILABLE, since=at, call="")
    # An AgentComplete without the caller's id ends the call this member has.
    if isinstance(event, AgentComplete) and taker.call and event.uniqueid in (taker.call, ""):
        return replace(taker, state=WRAP_UP if wrapup_seconds > 0 else AVAILABLE, since=at,
                       call="", reason="")
    return taker


def taker_at(taker: Taker, now: float, wrapup_seconds: float) -> Taker:
    """The queue's wrap-up time running out (a pause with reason wrap-up does not)."""
    if taker.state == WRAP_UP and not taker.reason and now >= taker.since + wrapup_seconds:
        return replace(taker, state=AVAILABLE, since=now)
    return taker


_MEMBER_EVENTS = (AgentCalled, AgentConnect, AgentRingNoAnswer, AgentComplete)
_CALL_EVENTS = (Newchannel, QueueCallerJoin, AgentConnect, BridgeEnter, Hangup)


class WallState:
    """The live calls and call-takers; changed only through `apply`, `resync`,
    `set_members` and `tick`, each a pure transition of the values above."""

    def __init__(self, wrapup_seconds: float = 0.0) -> None:
        self.wrapup_seconds = wrapup_seconds
        self.calls: dict[str, LiveCall] = {}
        self.takers: dict[str, Taker] = {}
        # Calls another center's edge overflowed here (uniqueid -> overflow_note), told by
        # the IVR, which may come before the call's first AMI event: kept until its Hangup.
        self.overflowed: dict[str, Mapping[str, str]] = {}

    def mark_overflow(self, uniqueid: str, note: Mapping[str, str]) -> bool:
        """The call came from a dark center's edge (workspace/model.py `overflow_note`):
        whether a live call on the wall shows it now."""
        self.overflowed[uniqueid] = note
        while len(self.overflowed) > MAX_OVERFLOW_MARKS:  # Hangups lost with AMI: bounded
            del self.overflowed[next(iter(self.overflowed))]
        return uniqueid in self.calls

    def apply(self, event: AmiEvent) -> tuple[bool, EndedCall | None]:
        """One AMI event: whether the wall changed, and the call it ended, if any."""
        changed = False
        if isinstance(event, _MEMBER_EVENTS):
            endpoint = endpoint_of(event.interface)
            before = self.takers.get(endpoint) or Taker(endpoint, AVAILABLE, event_time(event))
            after = taker_after(before, event, self.wrapup_seconds)
            if after != before:
                self.takers[endpoint] = after
                changed = True
        if not isinstance(event, _CALL_EVENTS):
            return changed, None
        uniqueid = event.uniqueid
        before_call = self.calls.get(uniqueid)
        if isinstance(event, Hangup):
            self.overflowed.pop(uniqueid, None)
            if before_call is None:
                return changed, None
            del self.calls[uniqueid]
            return True, EndedCall(uniqueid, before_call.caller_number,
                                   before_call.answered, before_call.state)
        after_call = call_after(before_call, event)
        if after_call is None or after_call == before_call:
            return changed, None
        self.calls[uniqueid] = after_call
        return True, None

    def resync(self, channels: Iterable[CoreShowChannel], entries: Iterable[QueueEntry],
               members: Iterable[QueueMember], known: Iterable[str], now: float) -> None:
        """After an AMI login: the live 112 calls and the members as Asterisk has them.
        A caller in a Queue() who is not in its waiting list is talking to a call-taker."""
        waiting = {e.uniqueid: e for e in entries}
        calls: dict[str, LiveCall] = {}
        for c in channels:
            if c.uniqueid != c.linkedid or c.context not in EMERGENCY_CONTEXTS:
                continue
            arrived = now - c.duration_seconds
            previous = self.calls.get(c.uniqueid)
            if c.uniqueid in waiting:
                entry = waiting[c.uniqueid]
                calls[c.uniqueid] = LiveCall(c.uniqueid, c.caller_number, QUEUE,
                                             now - entry.wait, arrived, queue=entry.queue)
            elif c.application in ("Queue", "Dial"):
                calls[c.uniqueid] = LiveCall(
                    c.uniqueid, c.caller_number, TALKING,
                    previous.since if previous and previous.state == TALKING else now,
                    arrived, queue=previous.queue if previous else "",
                    taker=previous.taker if previous else "", answered=True)
            else:
                calls[c.uniqueid] = LiveCall(c.uniqueid, c.caller_number, IVR,
                                             previous.since if previous else arrived, arrived)
        self.calls = calls
        self.set_members(members, known, now)

    def set_members(self, members: Iterable[QueueMember], known: Iterable[str],
                    now: float) -> bool:
        """QueueStatus's members (and the endpoints known to be call-takers, who show as
        logged out when in no queue); whether anything changed."""
        items = list(members)
        endpoints = {endpoint_of(m.interface) for m in items} | set(known)
        takers = {e: taker_from_members(e, items, self.takers.get(e), now, self.wrapup_seconds)
                  for e in sorted(endpoints)}
        changed = takers != self.takers
        self.takers = takers
        return changed

    def tick(self, now: float) -> bool:
        takers = {e: taker_at(t, now, self.wrapup_seconds) for e, t in self.takers.items()}
        changed = takers != self.takers
        self.takers = takers
        return changed

    def _call_json(self, call: LiveCall) -> dict[str, Any]:
        """The call as pushed; `overflow` only on an overflowed call (the wall's frames go
        to every wall up to 5 times a second: nothing for the others)."""
        shown = call.to_json()
        note = self.overflowed.get(call.uniqueid)
        if note is not None:
            shown["overflow"] = dict(note)
        return shown

    def to_json(self) -> dict[str, Any]:
        calls = sorted(self.calls.values(), key=lambda c: (c.since, c.uniqueid))
        queues: dict[str, list[dict[str, Any]]] = {}
        for call in calls:
            if call.state == QUEUE:
                queues.setdefault(call.queue, []).append(self._call_json(call))
        return {"ivr": [self._call_json(c) for c in calls if c.state == IVR],
                "queues": dict(sorted(queues.items())),
                "talking": [self._call_json(c) for c in calls if c.state == TALKING],
                "takers": [t.to_json() for _, t in sorted(self.takers.items())]}


# --- what a wall is sent ----------------------------------------------------------------

CALL_LISTS = ("ivr", "queues", "talking")  # a whole state's calls, by where they are


def call_key(call: Mapping[str, Any]) -> str:
    """A pushed call's name on the wall: its node (two nodes) and its uniqueid, since two
    Asterisks can give the same uniqueid. wall.js names calls the same way."""
    return f"{call.get('node', '')}/{call['uniqueid']}"


def calls_by_key(state: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A whole state's calls (WallState.to_json(), or merged with the other node's)."""
    calls = [*state["ivr"], *state["talking"],
             *(call for queued in state["queues"].values() for call in queued)]
    return {call_key(call): call for call in calls}


def wall_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What turns the whole state `before` into `after` on a wall: every other key whose
    value changed, the calls new or changed (`calls`, each as in a whole state, with its
    `state` and `queue`), and the keys of the calls gone (`gone`). A wall draws its lists
    again from its calls: by `state`, then by queue, in order of `since`."""
    changes = {key: value for key, value in after.items()
               if key not in CALL_LISTS and (key not in before or before[key] != value)}
    old, new = calls_by_key(before), calls_by_key(after)
    changes["calls"] = [call for key, call in new.items() if old.get(key) != call]
    changes["gone"] = [key for key in old if key not in new]
    return changes
