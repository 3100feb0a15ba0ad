"""The prank policy: a caller's standing from their strikes, the action for a call and its queue
priority. Pure: no I/O, no clock (the caller passes `now`).

Levels, from a caller's strikes within the window:
    none          strike-free (or the strike view is unavailable: a fault never hurts a caller)
    struck        strikes, under warn_at: queued behind strike-free callers of the category
    warn          a Bahasa Indonesia prompt says misuse of 112 is recorded
    deprioritise  queued at deprioritised_priority
    block         for block_hours after the strike that reached block_at: a message, then
                  the escape key (on by default) still reaches a call-taker

Priorities (app_queue QUEUE_PRIO, higher first), U = the unclassified category's priority:
    strike-free                      the category's priority
    struck, life-threatening key     U: never below strike-free unclassified callers
    struck / warn, other categories  min(category, U) - 1: behind every strike-free caller
    deprioritise / block escaped     deprioritised_priority (< U - 1)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ntpd_ivr.prank.config import PrankPolicy
from ntpd_ivr.prank.model import STRIKE_FREE, PolicyAction
from ntpd_ivr.routing.model import Category

STRIKE_REASONS = ("prank", "silent", "silent-detected")
CLEARING_DISPOSITIONS = frozenset({"genuine"})
STRIKING_DISPOSITIONS = frozenset({"prank", "silent"})


# ---- a caller's standing and the action for a call ------------------------------------------


@dataclass(frozen=True)
class Standing:
    """A caller's strikes within the window, and a block in force."""

    strikes: int = 0
    blocked_until: datetime | None = None


def standing_of(strike_times: Iterable[datetime], policy: PrankPolicy,
                now: datetime) -> Standing:
    """Strikes at or before `now` within the window; a block runs block_hours from the
    strike that made block_at strikes within one window. Both expire by themselves."""
    window = timedelta(hours=policy.window_hours)
    times = sorted(t for t in strike_times if t <= now)
    active = sum(1 for t in times if t > now - window)
    blocked_until: datetime | None = None
    start = 0
    for end, at in enumerate(times):
        while times[start] <= at - window:
            start += 1
        if end - start + 1 >= policy.block_at:
            until = at + timedelta(hours=policy.block_hours)
            if until > now and (blocked_until is None or until > blocked_until):
                blocked_until = until
    return Standing(active, blocked_until)


def decide(standing: Standing | None, policy: PrankPolicy, *, legacy: bool = False,
           exempt: bool = False) -> PolicyAction:
    """What the policy does to this call. `standing=None`: the view is unavailable, the
    caller is strike-free. A legacy number (110, 113, ...) is never warned or blocked (its
    caller skipped the menu to be fast), only queued by its strikes; an exempt number is
    never acted on."""
    if not policy.enabled:
        return PolicyAction("none", "policy-off")
    if exempt:
        return PolicyAction("none", "exempt-number")
    if standing is None:
        return PolicyAction("none", "view-unavailable")
    if standing.strikes == 0 and standing.blocked_until is None:
        return STRIKE_FREE
    if standing.blocked_until is not None:
        level = "block"
    elif standing.strikes >= policy.deprioritise_at:
        level = "deprioritise"
    elif standing.strikes >= policy.warn_at:
        level = "warn"
    else:
        level = "struck"
    reason = "strikes"
    if legacy and level in ("block", "warn"):
        level, reason = ("deprioritise" if level == "block" else "struck"), "legacy-number"
    return PolicyAction(level, reason, standing.strikes,
                        escape=policy.escape if level == "block" else False,
                        blocked_until=standing.blocked_until if level == "block" else None)


def queue_priority(category: Category, unclassified_priority: int, action: PolicyAction,
                   policy: PrankPolicy) -> tuple[int, str]:
    """QUEUE_PRIO for the call and why (see the module doc for the order)."""
    if action.level == "none":
        return category.priority, "category"
    if category.life_threatening:
        return min(category.priority, unclassified_priority), "strikes-life-threatening-floor"
    if action.level in ("struck", "warn"):
        return max(0, min(category.priority, unclassified_priority) - 1), "strikes"
    return min(category.priority, policy.deprioritised_priority), "deprioritised"

