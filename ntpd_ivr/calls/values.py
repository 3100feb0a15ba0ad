"""What a call record is made of: value types checked at the edge, and the one rule that
says how a call ended; what AMI shows of a 112 caller's channel (where it can be, its
arrival); the step an agency trunk attempt is. No I/O here.

A ``CallUpdate`` is a change to one ``calls`` row; a ``CallStep`` is one ``call_events``
row. Both refuse, when they are built, anything PostgreSQL would refuse later, so that
nothing spooled can be refused by the database and stall every record behind it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Protocol

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import AgencyTrunkAttempt, AmiEvent, CoreShowChannel, Newchannel
from ntpd_ivr.clock import event_time
from ntpd_ivr.numbers import canonical_caller

log = logging.getLogger(__name__)

_MAX_EPOCH = 253402300799.0  # 9999-12-31T23:59:59Z, PostgreSQL and datetime both accept it
_MAX_INT4 = 2**31 - 1
# PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate (what
# surrogateescape makes of a caller id's stray bytes): either would be refused forever.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_STEP_KIND = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
# Where a 112 caller's own channel can be while the call lives.
EMERGENCY_CONTEXTS = frozenset({dp.CONTEXT_FROM_OPERATOR, dp.CONTEXT_FROM_NEIGHBOUR,
                                dp.CONTEXT_EMERGENCY, dp.CONTEXT_FALLBACK})
_CHANNEL_SUFFIX = re.compile(r"^(?:PJSIP|SIP|IAX2)/(?P<endpoint>.+)-[0-9a-f]{8}$")

# The caller's call was up on an Asterisk node that died (kill -9, power): no Hangup and
# no CDR row will ever come; closed when the node is back (calls/reconcile.py), and the
# caller is owed a callback like an abandoned caller.
CUT_BY_NODE_FAILURE = "cut-by-node-failure"
# The same, when the whole site went dark (every node, every controller and the database):
# closed when the site is back, at the controller's start (calls/site.py).
CUT_BY_SITE_FAILURE = "cut-by-site-failure"
# A FastAGI session named a call that AMI never showed (calls/confirm.py): nothing proves
# the call existed. Not an offered call in the reports, never called back; a late AMI
# event or the CDR still completes it as any other call.
UNCONFIRMED = "unconfirmed"
DISPOSITIONS = ("answered", "abandoned-in-queue", "hung-up-in-ivr", "abandoned-ringing",
                "failed", CUT_BY_NODE_FAILURE, UNCONFIRMED, CUT_BY_SITE_FAILURE)
# In surge mode a caller about the alert who pressed 8 heard the information and was thanked
# (ivr/surge.py): the call's category, and its route_reason. Such a call that ended in the
# IVR was served, not abandoned: the reports count it apart, and nobody calls it back.
INFORMATION_ONLY = "surge-information"


def information_only(*, category: str | None, disposition: str | None, answered: bool) -> bool:
    """The call was served by surge mode's information alone (not answered, not queued)."""
    return category == INFORMATION_ONLY and disposition == "hung-up-in-ivr" and not answered


class RecordSink(Protocol):
    """Where a domain hands its call records (calls/keeper.py RecordKeeper, core.records)."""

    def submit(self, update: CallUpdate | CallStep) -> asyncio.Future[None]:
        """Queue a record for the spool, in order; the future resolves once it is durable."""


class WaitedSink(RecordSink, Protocol):
    """A RecordSink whose user sometimes waits for what it queued (the IVR, before the
    dialplan acts on its decision)."""

    def urge(self) -> None:
        """Somebody waits for what is queued: write it now, not after the gathering that
        records nobody waits for get (calls/keeper.py LAZY_GATHER_SECONDS)."""


def disposition_of(*, answered: bool, reached_queue: bool) -> str:
    """How a 112 call ended, the one rule for AMI tracking and CDR reconciliation alike:
    a call-taker (or agency) answered; or the caller gave up in the queue; or before it."""
    if answered:
        return "answered"
    if reached_queue:
        return "abandoned-in-queue"
    return "hung-up-in-ivr"


def _check_uniqueid(uniqueid: object) -> None:
    if not isinstance(uniqueid, str) or not uniqueid:
        raise ValueError(f"uniqueid must be a non-empty string, not {uniqueid!r}")
    if _UNSTORABLE.search(uniqueid):
        raise ValueError(f"uniqueid holds characters PostgreSQL cannot store: {uniqueid!r}")


def _epoch(name: str, value: object) -> float:
    # The comparison also refuses NaN and infinity.
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0 <= value <= _MAX_EPOCH:
        raise ValueError(f"{name} must be epoch seconds, not {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class CallUpdate:
    """A change to one call's record. ``None`` means "unchanged"; times are epoch seconds."""

    uniqueid: str
    at: float
    linkedid: str | None = None
    caller_number: str | None = None
    trunk: str | None = None
    dialed: str | None = None
    ivr_digit: str | None = None
    category: str | None = None
    queue: str | None = None
    route_reason: str | None = None
    arrived_at: float | None = None
    queued_at: float | None = None
    answered_at: float | None = None
    answered_by: str | None = None
    ended_at: float | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    region: str | None = None
    priority: int | None = None
    disposition: str | None = None  # one of DISPOSITIONS
    abandoned_at: float | None = None
    reconciled: bool | None = None  # True: filled from Asterisk's CDR, AMI events missed
    # The caller's location (ntpd_ivr.location.service.record_fields); civic is JSON text.
    location_kind: str | None = None
    location_source: str | None = None
    location_lat: float | None = None
    location_lon: float | None = None
    location_radius_m: float | None = None
    location_confidence: int | None = None
    location_civic: str | None = None
    location_shape: str | None = None
    location_raw: str | None = None
    location_error: str | None = None
    # Overflow from another center's edge: the region the call was for (docs/ha.md).
    overflow_region: str | None = None

    def __post_init__(self) -> None:
        _check_uniqueid(self.uniqueid)
        object.__setattr__(self, "at", _epoch("at", self.at))
        if self.disposition is not None and self.disposition not in DISPOSITIONS:
            raise ValueError(f"disposition must be one of {', '.join(DISPOSITIONS)}, "
                             f"not {self.disposition!r}")
        if self.reconciled is not None and type(self.reconciled) is not bool:
            raise ValueError(f"reconciled must be true or false, not {self.reconciled!r}")
        priority = self.priority
        if priority is not None and (type(priority) is not int
                                     or not -_MAX_INT4 <= priority <= _MAX_INT4):
            raise ValueError(f"priority must be a whole number, not {priority!r}")
        for name in TIME_FIELDS:
            if (value := getattr(self, name)) is not None:
                object.__setattr__(self, name, _epoch(name, value))
        for name in TEXT_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a string, not {value!r}")
            if _UNSTORABLE.search(value):
                object.__setattr__(self, name, _UNSTORABLE.sub("\ufffd", value))
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, not {value!r}")
            object.__setattr__(self, name, float(value))
        confidence = self.location_confidence
        if confidence is not None and (type(confidence) is not int or not 0 <= confidence <= 100):
            raise ValueError(f"location_confidence must be 0..100, not {confidence!r}")
        cause = self.hangup_cause
        if cause is not None and (type(cause) is not int or not 0 <= cause <= _MAX_INT4):
            raise ValueError(f"hangup_cause must be a whole number >= 0, not {cause!r}")

    def changes(self) -> dict[str, Any]:
        """The fields this update sets."""
        return {name: value for name in CHANGE_FIELDS
                if (value := getattr(self, name)) is not None}


FIELD_NAMES = tuple(f.name for f in fields(CallUpdate))
CHANGE_FIELDS = FIELD_NAMES[2:]  # every column an update can set (not uniqueid, at)
TIME_FIELDS = ("arrived_at", "queued_at", "answered_at", "ended_at", "abandoned_at")
FLOAT_FIELDS = ("location_lat", "location_lon", "location_radius_m")
TEXT_FIELDS = tuple(name for name in CHANGE_FIELDS
                    if name not in TIME_FIELDS and name not in FLOAT_FIELDS
                    and name not in ("hangup_cause", "priority", "reconciled",
                                     "location_confidence"))

StepValue = str | int | float | bool | None


@dataclass(frozen=True)
class CallStep:
    """Something that happened to a call, kept as a row of ``call_events``: an IVR step,
    an agency-dispatch attempt, a queue or bridge event. ``at`` is epoch seconds.

    Recording the same step twice (a spool replay) stores it once: rows are unique by
    (uniqueid, kind, at, detail). ``detail`` is copied into a read-only mapping.
    """

    uniqueid: str
    at: float
    kind: str
    detail: Mapping[str, StepValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_uniqueid(self.uniqueid)
        object.__setattr__(self, "at", _epoch("at", self.at))
        if not isinstance(self.kind, str) or not _STEP_KIND.match(self.kind):
            raise ValueError(f"kind must be 1-64 of a-z 0-9 _ . : - starting with a letter, "
                             f"not {self.kind!r}")
        if not isinstance(self.detail, Mapping):
            raise ValueError(f"detail must be a mapping, not {self.detail!r}")
        clean: dict[str, StepValue] = {}
        for key, value in self.detail.items():
            if not isinstance(key, str) or _UNSTORABLE.search(key):
                raise ValueError(f"detail key must be a storable string, not {key!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"detail[{key!r}] must be a finite number, not {value!r}")
            if isinstance(value, str):
                value = _UNSTORABLE.sub("\ufffd", value)
            elif value is not None and not isinstance(value, bool | int | float):
                raise ValueError(f"detail[{key!r}] must be a string, number, boolean or "
                                 f"None, not {value!r}")
            clean[key] = value
        object.__setattr__(self, "detail", MappingProxyType(clean))

    def __hash__(self) -> int:
        return hash((self.uniqueid, self.at, self.kind, self.detail_json()))

    def detail_json(self) -> str:
        """Canonical JSON of the detail: the same detail always gives the same text."""
        return json.dumps(dict(self.detail), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)


Record = CallUpdate | CallStep


# ---- a 112 caller's channel, as AMI shows it (the tracker, the wall, the other node) ----


def endpoint_of(channel: str) -> str:
    """'PJSIP/operator-local-0000000a' -> 'operator-local'."""
    match = _CHANNEL_SUFFIX.match(channel)
    return match.group("endpoint") if match else channel


def live_112_calls(channels: Iterable[CoreShowChannel]) -> dict[str, CoreShowChannel]:
    """The 112 callers' own channels in a CoreShowChannels list, by uniqueid."""
    return {c.uniqueid: c for c in channels
            if c.uniqueid == c.linkedid and c.context in EMERGENCY_CONTEXTS}


def arrival(event: Newchannel) -> CallUpdate:
    """Who the caller is and when the call arrived, from its Newchannel. The caller number
    is canonical, as the CDR reconciliation stores it: AMI alone says who the caller is (a
    FastAGI session may not, calls/confirm.py)."""
    at = event_time(event)
    return CallUpdate(uniqueid=event.uniqueid, at=at, linkedid=event.linkedid,
                      caller_number=canonical_caller(event.caller_number),
                      trunk=endpoint_of(event.channel), dialed=event.exten or None,
                      arrived_at=at)


def live_arrival(channel: CoreShowChannel, now: float) -> CallUpdate:
    """The same from a resync's list: an arrival time from the channel's age (whole
    seconds, so never earlier than the truth; the record keeps the earliest)."""
    return CallUpdate(uniqueid=channel.uniqueid, at=now, linkedid=channel.linkedid,
                      caller_number=canonical_caller(channel.caller_number),
                      trunk=endpoint_of(channel.channel),
                      arrived_at=now - channel.duration_seconds)


@dataclass(frozen=True)
class LiveCounts:
    """The calls being followed, for /metrics: how many in the IVR, queued and talking,
    and since when each queued call has waited (event time), by queue."""
    ivr: int
    queued: int
    talking: int
    queued_since: dict[str, list[float]]


# ---- agency trunk attempts: the AMI UserEvent the dialplan sends after each Dial() in
# [ntpd-agency-dial] (dialplan/ntpd-agency.conf). A UserEvent costs the caller nothing (no
# round trip to the controller between the primary and the backup trunk) and arrives with
# Asterisk's own timestamp.

KIND_TRUNK_ATTEMPT = "agency.attempt"


def trunk_attempt_step(event: AmiEvent) -> CallStep | None:
    """The CallStep for an agency trunk attempt event; None for any other event."""
    if not isinstance(event, AgencyTrunkAttempt):
        return None
    try:
        return CallStep(event.uniqueid, event_time(event),
                        KIND_TRUNK_ATTEMPT,
                        {"agency": event.agency, "attempt": event.attempt,
                         "trunk": event.trunk, "result": event.result,
                         "hangup_cause": event.cause})
    except ValueError as exc:
        log.warning("unreadable agency trunk attempt event: %s", exc,
                    extra={"call_id": event.uniqueid})
        return None
