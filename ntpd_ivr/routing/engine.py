"""Where a 112 call goes: a pure function of (the call, the routing config, live queue state).

No I/O, no clock: the caller passes the time. Every input, including none at all, garbage,
or an unknown live state, gives a decision that reaches a human.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ntpd_ivr.routing.config import UNCLASSIFIED, Agency, Region, RoutingConfig


@dataclass(frozen=True)
class CallFacts:
    trunk: str        # PJSIP endpoint the call came in on
    dialed: str       # number the caller dialled (112, 110, a DID)
    caller: str       # caller's number, canonical (ntpd_ivr/numbers.py): +62711...
    digit: str | None  # menu key; "" = no input; None = no menu played (legacy number)
    at: datetime      # time of the call, timezone-aware
    english_requested: bool = False


@dataclass(frozen=True)
class QueueState:
    logged_in: int              # members not unavailable (app_queue's LoggedIn)
    available: int
    callers: int
    longest_wait_seconds: float


# Queue name -> state. A queue missing from the map is "unknown".
LiveState = Mapping[str, QueueState]


class LiveStateSource(Protocol):
    """Where the live queue state is read (routing/live.py QueueMonitor, core.queue_monitor)."""

    async def snapshot(self) -> LiveState: ...


@dataclass(frozen=True)
class Decision:
    region: str
    region_match: str        # did, caller-prefix, trunk, default
    category: str
    priority: int
    reason: str              # why this category: menu, legacy-118, no-input, ...
    queue: str               # the call-taker queue (also the fallback of an agency bridge)
    queue_reason: str        # regional, live-state-unknown, overflow-no-call-taker, ...
    agency: str = ""         # agency key: bridge to its trunks first ("" = queue only)
    agency_reason: str = ""  # direct, after-hours-..., via-call-taker, no-agency

    def as_detail(self) -> dict[str, str | int]:
        return {k: v for k, v in self.__dict__.items() if v != ""}


def identify_region(call: CallFacts, config: RoutingConfig) -> tuple[Region, str]:
    """Most specific first: the DID, the caller's area prefix (longest), the trunk."""
    regions = config.regions.values()
    for region in regions:
        if call.dialed and call.dialed in region.dids:
            return region, "did"
    best: tuple[int, Region] | None = None
    for region in regions:
        for prefix in region.caller_prefixes:
            if call.caller.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), region)
    if best is not None:
        return best[1], "caller-prefix"
    for region in regions:
        if call.trunk and call.trunk in region.trunks:
            return region, "trunk"
    return config.regions[config.default_region], "default"


def classify(call: CallFacts, config: RoutingConfig) -> tuple[str, str]:
    if call.digit is None and call.dialed in config.legacy_numbers:
        return config.legacy_numbers[call.dialed], f"legacy-{call.dialed}"
    if call.english_requested:
        return UNCLASSIFIED, "english-requested"
    if not call.digit:
        return UNCLASSIFIED, "no-input"
    if call.digit == "0":
        return UNCLASSIFIED, "operator-requested"
    if call.digit in config.menu:
        return config.menu[call.digit], "menu"
    return UNCLASSIFIED, "invalid-input"


def choose_queue(region: Region, config: RoutingConfig, live: LiveState) -> tuple[str, str]:
    """The region's queue, or its overflow center's when nobody can answer here."""
    state = live.get(region.queue)
    if state is None:
        return region.queue, "live-state-unknown"
    if state.logged_in == 0:
        why = "overflow-no-call-taker"
    elif state.longest_wait_seconds > region.max_wait_seconds:
        why = "overflow-wait"
    else:
        return region.queue, "regional"
    if not region.overflow_to:
        return region.queue, f"regional-no-overflow-target ({why})"
    target = config.regions[region.overflow_to].queue
    target_state = live.get(target)
    if target_state is not None and target_state.logged_in == 0:
        # Nobody there either: stay, the caller keeps their place in their own queue.
        return region.queue, f"regional-overflow-target-empty ({why})"
    return target, why


def _agency_for(region: Region, category: str, config: RoutingConfig) -> Agency | None:
    # The region's own agency first, then its overflow (province) region's, e.g. Basarnas.
    for key in (region.key, region.overflow_to):
        for agency in config.agencies.values():
            if key and agency.region == key and category in agency.categories:
                return agency
    return None


def choose_agency(region: Region, category: str, config: RoutingConfig,
                  at: datetime) -> tuple[str, str]:
    agency = _agency_for(region, category, config)
    if agency is None:
        return "", "no-agency"
    if agency.mode != "direct":
        return "", f"via-call-taker ({agency.key})"
    local = at.astimezone(config.zone).time()
    if agency.hours.open_at(local):
        return agency.key, "direct"
    other = config.agencies.get(agency.after_hours_agency)
    if other is not None and other.mode == "direct" and other.hours.open_at(local):
        return other.key, f"after-hours-{agency.key}"
    return "", f"after-hours-call-taker ({agency.key})"


def route(call: CallFacts, config: RoutingConfig, live: LiveState) -> Decision:
    region, region_match = identify_region(call, config)
    category, reason = classify(call, config)
    queue, queue_reason = choose_queue(region, config, live)
    agency, agency_reason = choose_agency(region, category, config, call.at)
    return Decision(region=region.key, region_match=region_match, category=category,
                    priority=config.categories[category].priority, reason=reason,
                    queue=queue, queue_reason=queue_reason, agency=agency,
                    agency_reason=agency_reason)
