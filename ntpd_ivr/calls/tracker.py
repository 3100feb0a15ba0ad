"""Follows 112 calls through AMI events and turns them into call-record updates.

Only calls that arrived on an operator trunk are tracked; call-taker legs are folded into
the caller's record (who answered, when). Times are Asterisk's own event timestamps.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import (
    AgentConnect,
    AmiEvent,
    CoreShowChannel,
    Hangup,
    Newchannel,
    QueueCallerJoin,
)
from ntpd_ivr.calls.records import CallUpdate

log = logging.getLogger(__name__)

# Where a 112 caller's own channel can be while the call lives.
EMERGENCY_CONTEXTS = frozenset({dp.CONTEXT_FROM_OPERATOR, dp.CONTEXT_EMERGENCY,
                                dp.CONTEXT_FALLBACK})
_CHANNEL_SUFFIX = re.compile(r"^(?:PJSIP|SIP|IAX2)/(?P<endpoint>.+)-[0-9a-f]{8}$")


def endpoint_of(channel: str) -> str:
    """'PJSIP/operator-local-0000000a' -> 'operator-local'."""
    match = _CHANNEL_SUFFIX.match(channel)
    return match.group("endpoint") if match else channel


def _when(event: AmiEvent) -> float:
    return event.timestamp if event.timestamp is not None else event.received_at


class CallTracker:
    def __init__(self) -> None:
        self.tracked: set[str] = set()

    def track(self, uniqueid: str) -> None:
        self.tracked.add(uniqueid)

    def apply(self, event: AmiEvent) -> CallUpdate | None:
        at = _when(event)
        if isinstance(event, Newchannel):
            if event.context != dp.CONTEXT_FROM_OPERATOR:
                return None
            self.tracked.add(event.uniqueid)
            return CallUpdate(uniqueid=event.uniqueid, at=at, linkedid=event.linkedid,
                              caller_number=event.caller_number or None,
                              trunk=endpoint_of(event.channel), dialed=event.exten or None,
                              arrived_at=at)
        if isinstance(event, QueueCallerJoin) and event.uniqueid in self.tracked:
            return CallUpdate(uniqueid=event.uniqueid, at=at, queue=event.queue, queued_at=at)
        if isinstance(event, AgentConnect) and event.uniqueid in self.tracked:
            return CallUpdate(uniqueid=event.uniqueid, at=at, answered_at=at,
                              answered_by=event.member_name or endpoint_of(event.interface))
        if isinstance(event, Hangup) and event.uniqueid in self.tracked:
            self.tracked.discard(event.uniqueid)
            return CallUpdate(uniqueid=event.uniqueid, at=at, ended_at=at,
                              hangup_cause=event.cause, hangup_cause_text=event.cause_txt)
        return None

    def resync(self, channels: Iterable[CoreShowChannel], now: float) -> list[CallUpdate]:
        """After an AMI (re)login: follow again every live 112 call.

        Events sent while we were disconnected are lost for good (Asterisk does not replay
        them). A call first seen here gets an arrival time from the channel's age, whole
        seconds, so never earlier than the truth (the record keeps the earliest arrival).
        """
        live = {c.uniqueid: c for c in channels
                if c.uniqueid == c.linkedid and c.context in EMERGENCY_CONTEXTS}
        gone = self.tracked - set(live)
        if gone:
            # Ended while we were away: the reconciliation from Asterisk's CDR fills them in.
            log.warning("%d tracked call(s) ended while AMI was down: %s", len(gone),
                        ", ".join(sorted(gone)))
        self.tracked -= gone
        updates = []
        for uniqueid, channel in sorted(live.items()):
            if uniqueid in self.tracked:
                continue
            self.tracked.add(uniqueid)
            updates.append(CallUpdate(uniqueid=uniqueid, at=now, linkedid=channel.linkedid,
                                      caller_number=channel.caller_number or None,
                                      trunk=endpoint_of(channel.channel),
                                      arrived_at=now - channel.duration_seconds))
        return updates
