"""Pure decisions of a connect dispatch: which trunk next, what an Originate's outcome
was, what the agency hears, and which two channels are the caller and the call-taker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr import originate
from ntpd_ivr.ami.events import ConfbridgeList, CoreShowChannel, OriginateResponse
from ntpd_ivr.incidents.exceptions import Conflict
from ntpd_ivr.incidents.model import kecamatan_key
from ntpd_ivr.ivr.prompts import PROMPTS_SOURCE, list_entries, prompt_slug
from ntpd_ivr.originate import Outcome
from ntpd_ivr.routing.config import Agency

KeyResult = Literal["accept", "refuse", "no-input", "hangup"]
KEY_RESULTS: tuple[KeyResult, ...] = ("accept", "refuse", "no-input", "hangup")
LANGUAGE = "id"  # what an agency hears: Bahasa Indonesia
LEG_PREFIX = "ntpd-dispatch-"  # an agency leg's uniqueid: <prefix><dispatch>-<attempt>


class NotConnected(Conflict):
    """The call named by a connect dispatch is not in a two-party call (HTTP 409)."""


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


def conference_name(dispatch_id: int) -> str:
    return f"{dp.CONFERENCE_PREFIX}{dispatch_id}"


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
