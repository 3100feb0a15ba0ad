"""Follows 112 calls through AMI events and turns them into call-record updates.

Only calls that arrived on an operator's (or a neighbouring 112 center's) trunk are
tracked; call-taker legs are folded into the caller's record (who answered, when). Times
are Asterisk's own event timestamps.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AmiEvent,
    BridgeEnter,
    BridgeLeave,
    CoreShowChannel,
    Hangup,
    Newchannel,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
)
from ntpd_ivr.calls.values import (
    CallStep,
    CallUpdate,
    LiveCounts,
    Record,
    arrival,
    disposition_of,
    endpoint_of,
    live_112_calls,
    live_arrival,
)
from ntpd_ivr.clock import event_time

log = logging.getLogger(__name__)

# Queue events can follow the caller's Hangup (AgentComplete does): keep that many ended
# calls in mind so their last steps are still recorded.
_ENDED_MEMORY = 1000


@dataclass
class _CallState:
    queued: bool = False
    answered: bool = False
    abandoned: bool = False
    # Picked up by a resync: what happened while AMI was away is unknown, so the hangup
    # sets no disposition of its own unless one was seen (the CDR reconciliation fills it).
    partial: bool = False
    # For /metrics (ntpd_ivr/ops/metrics.py): event times, and the queue it waits in.
    arrived: float | None = None
    queued_at: float | None = None
    queue: str | None = None


def disposition_at_hangup(state: _CallState) -> str | None:
    """The call's disposition (values.disposition_of), or None when a resync left us
    not knowing: an answer or an abandon seen settles it, anything else is the CDR's."""
    if state.partial and not (state.answered or state.abandoned):
        return None
    return disposition_of(answered=state.answered,
                          reached_queue=state.queued or state.abandoned)


# Called when a call is answered: (answer time from arrival, wait in the queue) in seconds.
AnswerObserver = Callable[[float, float | None], None]


class CallTracker:
    def __init__(self, on_answer: AnswerObserver | None = None) -> None:
        self.on_answer = on_answer
        self._calls: dict[str, _CallState] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        # Ended without a disposition (picked up by a resync, what decides it was missed):
        # Asterisk's CDR must complete them, so reconciliation does not skip them.
        self._unsettled: set[str] = set()

    @property
    def tracked(self) -> set[str]:
        return set(self._calls)

    @property
    def recently_ended(self) -> frozenset[str]:
        """Calls whose Hangup this tracker saw and whose record it could finish (the last
        few hundred): reconciliation leaves them to the controller's own records."""
        return frozenset(self._ended.keys() - self._unsettled)

    @property
    def unsettled(self) -> frozenset[str]:
        """Recently ended calls whose disposition only Asterisk's CDR can tell."""
        return frozenset(self._unsettled)

    def track(self, uniqueid: str, arrived: float | None = None) -> None:
        self._calls.setdefault(uniqueid, _CallState(arrived=arrived))

    def live_counts(self) -> LiveCounts:
        ivr = queued = talking = 0
        since: dict[str, list[float]] = {}
        for state in self._calls.values():
            if state.answered:
                talking += 1
            elif state.queued:
                queued += 1
                if state.queued_at is not None:
                    since.setdefault(state.queue or "", []).append(state.queued_at)
            else:
                ivr += 1
        return LiveCounts(ivr, queued, talking, since)

    def apply(self, event: AmiEvent) -> list[Record]:
        """What one AMI event changes in the records: call updates and call steps."""
        at = event_time(event)
        if isinstance(event, Newchannel):
            if event.context not in dp.CALLER_CONTEXTS:
                return []
            self.track(event.uniqueid, at)
            return [arrival(event)]
        uniqueid = getattr(event, "uniqueid", None)
        if not isinstance(uniqueid, str):
            return []
        state = self._calls.get(uniqueid)
        if state is None:
            if uniqueid in self._ended:
                step = _step(event, at)
                return [step] if step is not None else []
            return []
        records: list[Record] = []
        if isinstance(event, QueueCallerJoin):
            state.queued, state.queued_at, state.queue = True, at, event.queue
            records.append(CallUpdate(uniqueid=uniqueid, at=at, queue=event.queue,
                                      queued_at=at))
        elif isinstance(event, QueueCallerAbandon):
            state.abandoned = True
            records.append(CallUpdate(uniqueid=uniqueid, at=at, abandoned_at=at,
                                      disposition="abandoned-in-queue"))
        elif isinstance(event, AgentConnect):
            state.answered = True
            if self.on_answer is not None and state.arrived is not None:
                self.on_answer(max(0.0, at - state.arrived),
                               None if state.queued_at is None else max(0.0, at - state.queued_at))
            records.append(CallUpdate(uniqueid=uniqueid, at=at, answered_at=at,
                                      answered_by=event.member_name
                                      or endpoint_of(event.interface),
                                      disposition="answered"))
        elif isinstance(event, Hangup):
            del self._calls[uniqueid]
            self._ended[uniqueid] = None
            while len(self._ended) > _ENDED_MEMORY:
                self._unsettled.discard(self._ended.popitem(last=False)[0])
            disposition = disposition_at_hangup(state)
            if disposition is None:
                self._unsettled.add(uniqueid)
            records.append(CallUpdate(uniqueid=uniqueid, at=at, ended_at=at,
                                      hangup_cause=event.cause,
                                      hangup_cause_text=event.cause_txt,
                                      disposition=disposition))
        step = _step(event, at)
        if step is not None:
            records.append(step)
        return records

    def resync(self, channels: Iterable[CoreShowChannel], now: float) -> list[CallUpdate]:
        """After an AMI (re)login: follow again every live 112 call.

        Events sent while we were disconnected are lost for good (Asterisk does not replay
        them). A call first seen here gets an arrival time from the channel's age, whole
        seconds, so never earlier than the truth (the record keeps the earliest arrival).
        """
        live = live_112_calls(channels)
        gone = self.tracked - set(live)
        if gone:
            # Ended while we were away: the reconciliation from Asterisk's CDR fills them in.
            log.warning("%d tracked call(s) ended while AMI was down: %s", len(gone),
                        ", ".join(sorted(gone)))
        for uniqueid in gone:
            del self._calls[uniqueid]
        updates = []
        for uniqueid, channel in sorted(live.items()):
            if uniqueid in self._calls:
                # Still live, but its queue events may have been missed.
                self._calls[uniqueid].partial = True
                continue
            self._calls[uniqueid] = _CallState(queued=channel.application == "Queue",
                                               partial=True,
                                               arrived=now - channel.duration_seconds)
            updates.append(live_arrival(channel, now))
        return updates


def _step(event: AmiEvent, at: float) -> CallStep | None:
    """The call_events row for a queue, agent, bridge or hangup event on the caller."""
    uniqueid: str = getattr(event, "uniqueid", "")
    detail: dict[str, str | int | float | bool | None]
    if isinstance(event, QueueCallerJoin):
        kind, detail = "queue.join", {"queue": event.queue, "position": event.position}
    elif isinstance(event, QueueCallerLeave):
        kind, detail = "queue.leave", {"queue": event.queue, "position": event.position}
    elif isinstance(event, QueueCallerAbandon):
        kind, detail = "queue.abandon", {"queue": event.queue, "position": event.position,
                                         "original_position": event.original_position,
                                         "hold_time": event.hold_time}
    elif isinstance(event, AgentCalled):
        kind, detail = "agent.called", {"queue": event.queue, "member": event.member_name,
                                        "interface": event.interface,
                                        "channel": event.dest_channel}
    elif isinstance(event, AgentRingNoAnswer):
        kind, detail = "agent.ring_no_answer", {"queue": event.queue,
                                                "member": event.member_name,
                                                "interface": event.interface,
                                                "ring_time": event.ring_time}
    elif isinstance(event, AgentConnect):
        kind, detail = "agent.connect", {"queue": event.queue, "member": event.member_name,
                                         "interface": event.interface,
                                         "hold_time": event.hold_time,
                                         "ring_time": event.ring_time,
                                         "member_uniqueid": event.dest_uniqueid}
    elif isinstance(event, AgentComplete):
        kind, detail = "agent.complete", {"queue": event.queue, "member": event.member_name,
                                          "interface": event.interface,
                                          "hold_time": event.hold_time,
                                          "talk_time": event.talk_time,
                                          "reason": event.reason}
    elif isinstance(event, BridgeEnter):
        kind, detail = "bridge.enter", {"bridge": event.bridge_uniqueid}
    elif isinstance(event, BridgeLeave):
        kind, detail = "bridge.leave", {"bridge": event.bridge_uniqueid}
    elif isinstance(event, Hangup):
        kind, detail = "hangup", {"cause": event.cause, "cause_txt": event.cause_txt}
    else:
        return None
    try:
        return CallStep(uniqueid, at, kind, detail)
    except ValueError as exc:
        log.warning("not recording %s step: %s", kind, exc, extra={"call_id": uniqueid})
        return None

