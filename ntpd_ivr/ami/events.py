"""Raw AMI messages become frozen dataclasses here; nothing past this module sees a dict.

Header names are Asterisk 22's (checked against apps/app_queue.c, main/manager_channels.c
and the generated AMI event documentation). Channel events carry Asterisk's channel
snapshot, so `Uniqueid` is always the channel the event is about; queue-member events add
the member's channel under a `Dest` prefix (`DestUniqueid`, `DestChannel`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.numbers import canonical_caller

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class AmiEvent:
    name: str
    received_at: float  # time.time() when the message was read off the socket
    timestamp: float | None = None  # Asterisk's own clock; only with timestampevents=yes


@dataclass(frozen=True, kw_only=True)
class Newchannel(AmiEvent):
    uniqueid: str
    linkedid: str
    channel: str
    caller_number: str
    context: str
    exten: str


@dataclass(frozen=True, kw_only=True)
class Hangup(AmiEvent):
    uniqueid: str
    linkedid: str
    channel: str
    cause: int
    cause_txt: str


@dataclass(frozen=True, kw_only=True)
class QueueCallerJoin(AmiEvent):
    uniqueid: str
    queue: str
    position: int
    caller_number: str


@dataclass(frozen=True, kw_only=True)
class QueueCallerLeave(AmiEvent):
    uniqueid: str
    queue: str
    position: int


@dataclass(frozen=True, kw_only=True)
class QueueCallerAbandon(AmiEvent):
    uniqueid: str
    queue: str
    position: int
    original_position: int
    hold_time: int  # seconds in the queue (the XML docs wrongly call it an epoch time)


@dataclass(frozen=True, kw_only=True)
class AgentCalled(AmiEvent):
    uniqueid: str  # the caller's channel
    queue: str
    interface: str
    member_name: str
    dest_channel: str  # the member's channel being rung
    caller_number: str = ""  # the caller's, canonical (for the call-taker's screen pop)


@dataclass(frozen=True, kw_only=True)
class AgentConnect(AmiEvent):
    uniqueid: str  # the caller's channel
    queue: str
    interface: str
    member_name: str
    hold_time: int  # seconds the caller waited
    ring_time: int  # seconds the member rang
    dest_uniqueid: str  # the member's channel


@dataclass(frozen=True, kw_only=True)
class AgentComplete(AmiEvent):
    # The caller's channel; "" when Asterisk had no snapshot of it left and sent only the
    # queue and member fields (seen under load: 78 of 16,200 calls at 45 calls/s, and
    # through a node kill). Consumers then take the member's current call.
    uniqueid: str
    queue: str
    interface: str
    member_name: str
    hold_time: int
    talk_time: int
    reason: str  # caller, agent or transfer


@dataclass(frozen=True, kw_only=True)
class AgentRingNoAnswer(AmiEvent):
    uniqueid: str
    queue: str
    interface: str
    member_name: str
    ring_time: int


@dataclass(frozen=True, kw_only=True)
class BridgeEnter(AmiEvent):
    uniqueid: str
    bridge_uniqueid: str
    channel: str


@dataclass(frozen=True, kw_only=True)
class BridgeLeave(AmiEvent):
    uniqueid: str
    bridge_uniqueid: str
    channel: str


@dataclass(frozen=True, kw_only=True)
class FullyBooted(AmiEvent):
    """Sent on every AMI login once Asterisk is up; `uptime` (whole seconds since its
    start, None if absent) tells a restarted node from a reconnect."""

    uptime: int | None = None


@dataclass(frozen=True, kw_only=True)
class CoreShowChannel(AmiEvent):
    """One item of a CoreShowChannels list (resync after login)."""

    uniqueid: str
    linkedid: str
    channel: str
    context: str
    exten: str
    caller_number: str
    application: str
    duration_seconds: int
    bridge_id: str = ""  # the bridge it is in, "" when none (a connect dispatch's pair)


@dataclass(frozen=True, kw_only=True)
class QueueMember(AmiEvent):
    """One member item of a QueueStatus list.

    The member's name is `member_name`, as on the Agent* events: `name` is the event's.
    """

    queue: str
    member_name: str
    interface: str
    status: int  # AST_DEVICE_*: 1 not in use, 2 in use, 5 unavailable, 6 ringing...
    paused: bool
    in_call: bool
    paused_reason: str = ""
    membership: str = ""  # static, dynamic or realtime: only a dynamic one can be removed
    state_interface: str = ""  # whose device state app_queue reads (QueueAdd's StateInterface)
    penalty: int = 0


@dataclass(frozen=True, kw_only=True)
class QueueEntry(AmiEvent):
    """One waiting-caller item of a QueueStatus list."""

    queue: str
    uniqueid: str
    position: int
    wait: int  # seconds
    caller_number: str


@dataclass(frozen=True, kw_only=True)
class QueueSummary(AmiEvent):
    """One item of a QueueSummary list: a queue's live figures."""

    queue: str
    logged_in: int
    available: int
    callers: int
    longest_hold_time: int  # seconds the longest-waiting caller has waited


@dataclass(frozen=True, kw_only=True)
class ChannelTalkingStart(AmiEvent):
    """TALK_DETECT (func_talkdetect) heard voice on the channel: ntpd_ivr/prank/signals."""

    uniqueid: str
    channel: str


@dataclass(frozen=True, kw_only=True)
class AgencyTrunkAttempt(AmiEvent):
    """The dialplan's UserEvent after each agency trunk Dial() (dialplan_contract
    USEREVENT_TRUNK_ATTEMPT): which trunk was tried for the caller, and how it went."""

    uniqueid: str  # the caller's channel
    agency: str
    attempt: str  # primary or backup
    trunk: str
    result: str  # DIALSTATUS: ANSWER, BUSY, NOANSWER, CONGESTION, CHANUNAVAIL...
    cause: str  # HANGUPCAUSE


@dataclass(frozen=True, kw_only=True)
class OriginateResponse(AmiEvent):
    """How an async Originate ended (a connect dispatch's agency trunk, a warning campaign's
    call, a callback's call-taker leg): `Success` once the callee answered, else `Failure`
    with the last control frame as `reason`."""

    action_id: str
    response: str  # Success or Failure
    reason: int  # AST_CONTROL_*: 0 none, 1 hangup, 3 rang out, 4 answer, 5 busy, 8 congestion
    channel: str = ""
    uniqueid: str = ""  # the originated channel's ("<null>" when none was made)


@dataclass(frozen=True, kw_only=True)
class DispatchKey(AmiEvent):
    """The dispatch dialplan's UserEvent (dialplan_contract USEREVENT_DISPATCH_KEY): what
    the agency answered to the announcement of a connect dispatch."""

    uniqueid: str  # the agency leg's channel
    channel: str
    dispatch: int
    caller: str  # the caller's uniqueid the dispatch is for
    result: str  # accept, refuse or no-input


@dataclass(frozen=True, kw_only=True)
class TransferKey(AmiEvent):
    """The transfer dialplan's UserEvent (dialplan_contract USEREVENT_TRANSFER_KEY): what
    the neighbouring 112 center answered to the announcement of a transfer."""

    uniqueid: str  # the neighbour leg's channel
    channel: str
    transfer: str  # the transfer's reference (32 hex digits)
    caller: str  # the caller's uniqueid the transfer is for
    result: str  # accept, refuse, no-input or hangup


@dataclass(frozen=True, kw_only=True)
class ConfbridgeLeave(AmiEvent):
    """Someone left a ConfBridge (a connect dispatch's conference: ntpd_ivr/dispatch/)."""

    uniqueid: str
    channel: str
    conference: str


@dataclass(frozen=True, kw_only=True)
class ConfbridgeList(AmiEvent):
    """One member item of a ConfbridgeList reply."""

    conference: str
    channel: str
    uniqueid: str = ""
    marked: bool = False  # MarkedUser: the dispatch's caller


@dataclass(frozen=True, kw_only=True)
class WarningOutcome(AmiEvent):
    """The warning dialplan's UserEvent (dialplan_contract USEREVENT_WARNING): the contact
    pressed 1 (confirmed) or heard the message to the end without it (answered)."""

    uniqueid: str  # the attempt's channel: the ChannelId the Originate set
    outcome: str
    plays: str


@dataclass(frozen=True, kw_only=True)
class CallbackResult(AmiEvent):
    """The callback dialplan's UserEvent after dialling the caller (dialplan_contract
    USEREVENT_CALLBACK_RESULT)."""

    callback: str  # the callback's id
    result: str  # DIALSTATUS: ANSWER, BUSY, NOANSWER, CONGESTION, CHANUNAVAIL... or REFUSED
    cause: str = ""


@dataclass(frozen=True, kw_only=True)
class ActionResponse(AmiEvent):
    """The answer to an action: `Response: Success|Error|Follows`, its message, the rest
    of its headers as (name, value) pairs."""

    response: str
    message: str
    fields: tuple[tuple[str, str], ...] = ()

    def get(self, header: str, default: str = "") -> str:
        wanted = header.lower()
        return next((value for key, value in self.fields if key.lower() == wanted), default)


@dataclass(frozen=True)
class ActionResult:
    """An action's answer; for a list action (CoreShowChannels, QueueSummary,
    QueueStatus...) also its item events, typed, without the closing *Complete event."""

    response: ActionResponse
    events: tuple[AmiEvent, ...] = ()


class AmiActions(Protocol):
    """What a consumer of actions needs of the AMI client (AmiClient, or a fake)."""

    async def action(self, action: dict[str, str],
                     timeout: float | None = None) -> ActionResult: ...  # noqa: ASYNC109


@dataclass(frozen=True, kw_only=True)
class OtherEvent(AmiEvent):
    """Any event we do not type, kept whole for logging and debugging."""

    fields: tuple[tuple[str, str], ...] = ()


def _caller_number(value: str) -> str:
    # One canonical form at the edge (+62..., or a marker such as "withheld"/"unknown" for
    # Asterisk's "<unknown>"): ntpd_ivr/numbers.py.
    return canonical_caller(value)


def _flag(value: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError(f"expected 0 or 1, got {value!r}")
    return value == "1"


def _yes(value: str) -> bool:
    return value.lower() == "yes"


def _int_or_zero(value: str) -> int:
    return int(value) if value else 0


def _seconds_or_none(value: str) -> int | None:
    # Only a hint (FullyBooted's Uptime): a bad value must not drop the event.
    return int(value) if value.isdigit() else None


def _hms(value: str) -> int:
    hours, minutes, seconds = (int(part) for part in value.split(":"))
    if not (0 <= minutes < 60 and 0 <= seconds < 60 and hours >= 0):
        raise ValueError(f"expected HH:MM:SS, got {value!r}")
    return hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True)
class _Field:
    attr: str
    headers: tuple[str, ...]  # first present wins
    convert: Callable[[str], Any] = str
    # Identity and numeric fields must be present and non-empty. Descriptive text may be
    # absent: panoramisk strips a message's trailing whitespace, so an empty header that
    # happens to come last ("Exten: ") reaches us without its ": " and is dropped.
    required: bool = True

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(header.lower() for header in self.headers)


def _req(attr: str, *headers: str, convert: Callable[[str], Any] = str) -> _Field:
    return _Field(attr, headers, convert, True)


def _opt(attr: str, *headers: str, convert: Callable[[str], Any] = str) -> _Field:
    return _Field(attr, headers, convert, False)


_CALLER = _opt("caller_number", "CallerIDNum", convert=_caller_number)
_QUEUE_MEMBER = (_req("queue", "Queue"), _req("interface", "Interface"),
                 _opt("member_name", "MemberName"))

_SPECS: dict[str, tuple[type[AmiEvent], tuple[_Field, ...]]] = {
    "Newchannel": (Newchannel, (
        _req("uniqueid", "Uniqueid"), _req("linkedid", "Linkedid"), _req("channel", "Channel"),
        _CALLER, _opt("context", "Context"), _opt("exten", "Exten"))),
    "Hangup": (Hangup, (
        _req("uniqueid", "Uniqueid"), _req("linkedid", "Linkedid"), _req("channel", "Channel"),
        _req("cause", "Cause", convert=int), _opt("cause_txt", "Cause-txt"))),
    "QueueCallerJoin": (QueueCallerJoin, (
        _req("uniqueid", "Uniqueid"), _req("queue", "Queue"),
        _req("position", "Position", convert=int), _CALLER)),
    "QueueCallerLeave": (QueueCallerLeave, (
        _req("uniqueid", "Uniqueid"), _req("queue", "Queue"),
        _req("position", "Position", convert=int))),
    "QueueCallerAbandon": (QueueCallerAbandon, (
        _req("uniqueid", "Uniqueid"), _req("queue", "Queue"),
        _req("position", "Position", convert=int),
        _req("original_position", "OriginalPosition", convert=int),
        _req("hold_time", "HoldTime", convert=int))),
    "AgentCalled": (AgentCalled, (
        _req("uniqueid", "Uniqueid"), *_QUEUE_MEMBER, _opt("dest_channel", "DestChannel"),
        _CALLER)),
    "AgentConnect": (AgentConnect, (
        _req("uniqueid", "Uniqueid"), *_QUEUE_MEMBER,
        _req("hold_time", "HoldTime", convert=int), _req("ring_time", "RingTime", convert=int),
        _req("dest_uniqueid", "DestUniqueid"))),
    "AgentComplete": (AgentComplete, (
        _opt("uniqueid", "Uniqueid"), *_QUEUE_MEMBER,
        _req("hold_time", "HoldTime", convert=int), _req("talk_time", "TalkTime", convert=int),
        _opt("reason", "Reason"))),
    "AgentRingNoAnswer": (AgentRingNoAnswer, (
        _req("uniqueid", "Uniqueid"), *_QUEUE_MEMBER,
        _req("ring_time", "RingTime", convert=int))),
    "BridgeEnter": (BridgeEnter, (
        _req("uniqueid", "Uniqueid"), _req("bridge_uniqueid", "BridgeUniqueid"),
        _req("channel", "Channel"))),
    "BridgeLeave": (BridgeLeave, (
        _req("uniqueid", "Uniqueid"), _req("bridge_uniqueid", "BridgeUniqueid"),
        _req("channel", "Channel"))),
    "FullyBooted": (FullyBooted, (_opt("uptime", "Uptime", convert=_seconds_or_none),)),
    "ChannelTalkingStart": (ChannelTalkingStart, (
        _req("uniqueid", "Uniqueid"), _req("channel", "Channel"))),
    "CoreShowChannel": (CoreShowChannel, (
        _req("uniqueid", "Uniqueid"), _req("linkedid", "Linkedid"), _req("channel", "Channel"),
        _opt("context", "Context"), _opt("exten", "Exten"), _CALLER,
        _opt("application", "Application"),
        _req("duration_seconds", "Duration", convert=_hms), _opt("bridge_id", "BridgeId"))),
    # QueueStatus writes the member with its own header names (Name, Location), unlike the
    # QueueMember* change events (MemberName, Interface); accept either spelling.
    "QueueMember": (QueueMember, (
        _req("queue", "Queue"), _opt("member_name", "Name", "MemberName"),
        _req("interface", "Location", "Interface"), _req("status", "Status", convert=int),
        _req("paused", "Paused", convert=_flag), _req("in_call", "InCall", convert=_flag),
        _opt("paused_reason", "PausedReason"), _opt("membership", "Membership"),
        _opt("state_interface", "StateInterface"),
        _opt("penalty", "Penalty", convert=_int_or_zero))),
    "QueueSummary": (QueueSummary, (
        _req("queue", "Queue"), _req("logged_in", "LoggedIn", convert=int),
        _req("available", "Available", convert=int), _req("callers", "Callers", convert=int),
        _opt("longest_hold_time", "LongestHoldTime", convert=_int_or_zero))),
    # A UserEvent is typed by its own UserEvent header (see _spec_name).
    "UserEvent:" + dp.USEREVENT_TRUNK_ATTEMPT: (AgencyTrunkAttempt, (
        _req("uniqueid", "Uniqueid"), _opt("agency", "Agency"), _opt("attempt", "Attempt"),
        _opt("trunk", "Trunk"), _opt("result", "Result"), _opt("cause", "Cause"))),
    "OriginateResponse": (OriginateResponse, (
        _req("action_id", "ActionID"), _req("response", "Response"), _opt("channel", "Channel"),
        _req("reason", "Reason", convert=int), _opt("uniqueid", "Uniqueid"))),
    "UserEvent:" + dp.USEREVENT_DISPATCH_KEY: (DispatchKey, (
        _req("uniqueid", "Uniqueid"), _req("channel", "Channel"),
        _req("dispatch", "Dispatch", convert=int), _req("caller", "Caller"),
        _req("result", "Result"))),
    "UserEvent:" + dp.USEREVENT_TRANSFER_KEY: (TransferKey, (
        _req("uniqueid", "Uniqueid"), _req("channel", "Channel"),
        _req("transfer", "Transfer"), _req("caller", "Caller"), _req("result", "Result"))),
    "ConfbridgeLeave": (ConfbridgeLeave, (
        _req("uniqueid", "Uniqueid"), _req("channel", "Channel"),
        _req("conference", "Conference"))),
    "ConfbridgeList": (ConfbridgeList, (
        _req("conference", "Conference"), _req("channel", "Channel"),
        _opt("uniqueid", "Uniqueid"), _opt("marked", "MarkedUser", convert=_yes))),
    "UserEvent:" + dp.USEREVENT_WARNING: (WarningOutcome, (
        _req("uniqueid", "Uniqueid"), _req("outcome", "Outcome"), _opt("plays", "Plays"))),
    "UserEvent:" + dp.USEREVENT_CALLBACK_RESULT: (CallbackResult, (
        _req("callback", "Callback"), _req("result", "Result"), _opt("cause", "Cause"))),
    "QueueEntry": (QueueEntry, (
        _req("queue", "Queue"), _req("uniqueid", "Uniqueid"),
        _req("position", "Position", convert=int), _req("wait", "Wait", convert=int), _CALLER)),
}
# Event name (lowercase) -> (its name, its class, [(attr, lowercase headers, field)]):
# worked out once here, not for every event.
_SPECS_BY_LOWER = {
    name.lower(): (name.partition(":")[0], cls, tuple((f.attr, f.keys, f) for f in fields))
    for name, (cls, fields) in _SPECS.items()}


def _timestamp(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def parse_event(message: Mapping[str, str], received_at: float | None = None) -> AmiEvent | None:
    """Type one AMI event. Malformed messages give None and one warning; never raises."""
    headers = {key.lower(): value for key, value in message.items()}
    return parse_headers(headers, lambda: tuple(message.items()), received_at)


def parse_headers(headers: Mapping[str, str],
                  original: Callable[[], tuple[tuple[str, str], ...]],
                  received_at: float | None = None) -> AmiEvent | None:
    """parse_event for headers already keyed in lowercase; `original` gives the headers
    as sent, only needed for an event we do not type (OtherEvent keeps them whole)."""
    raw_name = headers.get("event", "")
    uniqueid = headers.get("uniqueid", "")
    received = time.time() if received_at is None else received_at
    timestamp = _timestamp(headers.get("timestamp"))
    if not raw_name:
        log.warning("dropping AMI message without an Event header (headers: %s)",
                    ", ".join(key for key, _ in original()), extra={"call_id": uniqueid or "-"})
        return None
    spec_name = raw_name.lower()
    if spec_name == "userevent":
        spec_name = f"userevent:{headers.get('userevent', '').lower()}"
    known = _SPECS_BY_LOWER.get(spec_name)
    if known is None:
        fields = tuple((key, value) for key, value in original()
                       if key.lower() not in ("event", "timestamp"))
        return OtherEvent(name=raw_name, received_at=received, timestamp=timestamp,
                          fields=fields)
    name, cls, specs = known
    values: dict[str, Any] = {}
    for attr, keys, spec in specs:
        raw = None
        for key in keys:
            raw = headers.get(key)
            if raw is not None:
                break
        if raw is None or (spec.required and not raw.strip()):
            if spec.required:
                _malformed(name, uniqueid, f"missing {spec.headers[0]}")
                return None
            raw = ""
        try:
            values[attr] = spec.convert(raw.strip())
        except ValueError:
            _malformed(name, uniqueid, f"bad {spec.headers[0]} {raw!r}")
            return None
    return cls(name=name, received_at=received, timestamp=timestamp, **values)


def parse_response(message: Mapping[str, str], received_at: float | None = None
                   ) -> ActionResponse:
    """Type an action's Response message; never raises."""
    return ActionResponse(
        name="Response", received_at=time.time() if received_at is None else received_at,
        response=message.get("Response", ""), message=message.get("Message", ""),
        fields=tuple((key, value) for key, value in message.items()
                     if key not in ("Response", "Message")))


def _malformed(name: str, uniqueid: str, problem: str) -> None:
    log.warning("dropping malformed AMI %s event: %s", name, problem,
                extra={"call_id": uniqueid or "-"})
