"""A dispatch's values, its state machine, and the pure decisions of a connect dispatch.

A dispatch is either "connect" (the controller dials the agency's trunk, the agency hears
the incident and presses 1: the telephony part drives it through `attempt`, `answer`,
`accept`, `refuse`, `time_out`) or "notify" (the agency acknowledges on its own screen:
`accept` or `refuse` by an agency user). After acceptance the agency reports `on_the_way`,
`on_scene`, `resolve`. Each transition returns the next state, or raises InvalidTransition.

For a connect dispatch: which trunk next, what an Originate's outcome was, what the agency
hears, and which two channels are the caller and the call-taker. No I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr import originate
from ntpd_ivr.ami.events import ConfbridgeList, CoreShowChannel, OriginateResponse
from ntpd_ivr.incidents.exceptions import Conflict
from ntpd_ivr.incidents.model import kecamatan_key
from ntpd_ivr.ivr.prompts import PROMPTS_SOURCE, list_entries, prompt_slug
from ntpd_ivr.originate import Outcome
from ntpd_ivr.routing.config import Agency

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


# URL action (POST /api/dispatches/{id}/{action}) -> dispatch event. attempt, answer and
# time_out come only from the telephony.
ACTIONS: dict[str, DispatchEvent] = {"accept": "accept", "refuse": "refuse",
                                     "on-the-way": "on_the_way", "on-scene": "on_scene",
                                     "resolve": "resolve", "cancel": "cancel"}


KeyResult = Literal["accept", "refuse", "no-input", "hangup"]
KEY_RESULTS: tuple[KeyResult, ...] = ("accept", "refuse", "no-input", "hangup")
LANGUAGE = "id"  # what an agency hears: Bahasa Indonesia
LEG_PREFIX = "ntpd-dispatch-"  # an agency leg's uniqueid: <prefix><dispatch>-<attempt>


class NotConnected(Conflict):
    """The call named by a connect dispatch is not in a two-party call (HTTP 409)."""


class AgencyClosed(Conflict):
    """A connect dispatch to an agency outside its hours (HTTP 409): nobody is on its
    trunk; the call-taker notifies it or picks another."""

    error = "agency-closed"


def agency_open(agency: Agency, zone: tzinfo, at: datetime) -> bool:
    """Whether `at` (aware) is within the agency's hours, read in the center's zone (the
    routing config's `timezone`)."""
    return agency.hours.open_at(at.astimezone(zone).time())


def originate_outcome(response: OriginateResponse, cause: int | None = None) -> Outcome:
    """The attempt's outcome from its OriginateResponse and, if known, the Q.850 cause
    the dialled channel hung up with."""
    return originate.outcome(response.response, response.reason, cause)


def trunks_of(agency: Agency) -> tuple[str, ...]:
    """The agency's trunk endpoints in the order they are dialled: primary, then backup."""
    return tuple(t for t in (agency.primary_trunk, agency.backup_trunk) if t)


def dispatch_of_leg(uniqueid: str) -> int | None:
    """The dispatch id of an agency leg's uniqueid (the Originate's ChannelId,
    "ntpd-dispatch-<dispatch>-<attempt>"); None for any other channel."""
    prefix, _, rest = uniqueid.partition(LEG_PREFIX)
    dispatch, _, attempt = rest.partition("-")
    if prefix or not dispatch.isdigit() or not attempt.isdigit():
        return None
    return int(dispatch)


def trunk_of_channel(channel: str) -> str:
    """'PJSIP/agency-damkar-plg-0000002a' -> 'agency-damkar-plg'."""
    return channel.partition("/")[2].rpartition("-")[0] or channel


def next_trunk(trunks: Sequence[str], outcomes: Sequence[Outcome]) -> str | None:
    """The trunk to dial after these outcomes (one per trunk dialled so far, in order);
    None when one answered or every trunk has been tried."""
    if "answered" in outcomes or len(outcomes) >= len(trunks):
        return None
    return trunks[len(outcomes)]


# Why a connect dispatch failed, as the call-taker's screen says it (the catalogue's
# desk.dispatch.reason.*, ntpd_ivr/i18n).
FAILURE_REASONS = ("busy", "no-answer", "unreachable", "refused", "no-input", "hung-up",
                   "error", "interrupted")


def failure_reason(outcomes: Sequence[Outcome]) -> str:
    """What the call-taker's screen says when no trunk answered: "busy" if every trunk was
    busy, "no-answer" if every one rang out, else "unreachable"."""
    kinds = set(outcomes)
    if kinds == {"busy"}:
        return "busy"
    if kinds == {"no-answer"}:
        return "no-answer"
    return "unreachable"


def conference_name(room: int | str) -> str:
    """The ConfBridge of a dispatch (its id) or of a transfer (`t<reference>`)."""
    return f"{dp.CONFERENCE_PREFIX}{room}"


@dataclass(frozen=True)
class AnnouncementPrompts:
    """Which announcement prompts exist: one per category, one per listed kecamatan
    (prompts/id/dispatch-category-<category>.txt, prompts/id/kecamatan.list)."""

    categories: frozenset[str]
    kecamatan: Mapping[str, str]  # kecamatan_key(name) -> prompt slug

    @classmethod
    def load(cls, source: Path = PROMPTS_SOURCE) -> AnnouncementPrompts:
        folder = source / LANGUAGE
        prefix = "dispatch-category-"
        categories = frozenset(p.stem[len(prefix):] for p in folder.glob(f"{prefix}*.txt"))
        listed = folder / "kecamatan.list"
        entries = list_entries(listed) if listed.exists() else []
        return cls(categories, {kecamatan_key(name): prompt_slug(name) for name, _ in entries})


def announcement(category: str, kecamatan: str, prompts: AnnouncementPrompts
                 ) -> tuple[str, ...]:
    """The prompts (relative to the prompts folder) the agency hears before it presses 1.

    Every piece is rendered ahead of time, so nothing is synthesized while the agency
    listens: the category's own prompt (a generic "emergency" for a category without
    one), the kecamatan's name if it is in the list, else a phrase saying the location
    comes in the call (the call-taker and the caller say it; the agency's screen shows it).
    """
    said = [f"{LANGUAGE}/dispatch-intro",
            f"{LANGUAGE}/dispatch-category-{category}" if category in prompts.categories
            else f"{LANGUAGE}/dispatch-category"]
    slug = prompts.kecamatan.get(kecamatan_key(kecamatan))
    if slug is not None:
        said += [f"{LANGUAGE}/dispatch-kecamatan", f"{LANGUAGE}/kecamatan/{slug}"]
    else:
        said.append(f"{LANGUAGE}/dispatch-location-unknown")
    said.append(f"{LANGUAGE}/dispatch-press")
    return tuple(said)


@dataclass(frozen=True)
class BridgedPair:
    caller_channel: str
    taker_channel: str | None  # None: the caller is in no bridge now (waiting in a queue)
    taker_uniqueid: str | None
    conference: int | None = None  # the caller is in this dispatch's conference already


def _conference_of(channel: CoreShowChannel) -> int | None:
    """The dispatch whose conference the caller is in (exten caller-<id> of
    [ntpd-dispatch-conference]), if it is in one."""
    number = channel.exten.removeprefix("caller-")
    if channel.context != dp.CONTEXT_DISPATCH_CONFERENCE or not number.isdigit():
        return None
    return int(number)


def bridged_pair(channels: Sequence[CoreShowChannel], caller: str, *,
                 unbridged_ok: bool = False) -> BridgedPair:
    """The caller's channel and the one it is bridged with (the call-taker's), from
    CoreShowChannels, or the dispatch conference the caller is in already; NotConnected
    says why there is neither. `unbridged_ok`: a
    caller in no bridge at all (the call-taker hung up meanwhile, the caller waits in a
    queue again) is a pair without a call-taker."""
    mine = next((c for c in channels if c.uniqueid == caller), None)
    if mine is None:
        raise NotConnected(f"call {caller} is not up (the caller may have hung up)")
    conference = _conference_of(mine)
    if conference is not None:  # a second agency joins the agency already there
        return BridgedPair(mine.channel, None, None, conference)
    if not mine.bridge_id:
        if unbridged_ok:
            return BridgedPair(mine.channel, None, None)
        raise NotConnected(f"call {caller} is not connected to a call-taker")
    others = [c for c in channels if c.bridge_id == mine.bridge_id and c.uniqueid != caller]
    if len(others) != 1:
        raise NotConnected(f"call {caller} is in a bridge with {len(others)} others, not in "
                           "a call with one call-taker")
    return BridgedPair(mine.channel, others[0].channel, others[0].uniqueid)


def caller_left_alone(members: Sequence[ConfbridgeList], leaving: str
                      ) -> ConfbridgeList | None:
    """The caller (the conference's marked user) when nobody else is left with them: the
    agency and the call-taker have both hung up, and a call-taker must take the caller.
    `leaving`: the channel whose ConfbridgeLeave this answers; Asterisk may still list it
    (the event is sent before the member is taken off the list)."""
    staying = [m for m in members if m.channel != leaving]
    if len(staying) == 1 and staying[0].marked:
        return staying[0]
    return None


def redirect_pair(room: int | str, pair: BridgedPair) -> dict[str, str]:
    """Caller and call-taker out of their bridge, together, into the conference `room`
    (a dispatch's id; a transfer's `t<reference>`, ntpd_ivr/transfer/call.py). With
    ExtraChannel Asterisk moves both without hanging up either when the bridge breaks.
    A caller without a call-taker (waiting in a queue again) goes alone."""
    context = dp.CONTEXT_DISPATCH_CONFERENCE
    action = {"Action": "Redirect", "Channel": pair.caller_channel, "Context": context,
              "Exten": f"caller-{room}", "Priority": "1"}
    if pair.taker_channel is not None:
        action.update({"ExtraChannel": pair.taker_channel, "ExtraContext": context,
                       "ExtraExten": f"taker-{room}", "ExtraPriority": "1"})
    return action
