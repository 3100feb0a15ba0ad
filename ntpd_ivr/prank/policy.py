"""The prank policy: its settings (the routing config's `[prank]` and `[regions.<r>.prank]`
tables), a caller's standing from their strikes, the action for a call and its queue
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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ntpd_ivr.errors import ConfigError

if TYPE_CHECKING:
    from ntpd_ivr.routing.config import Category, _Reader

LEVELS = ("none", "struck", "warn", "deprioritise", "block")
STRIKE_REASONS = ("prank", "silent", "silent-detected")
CLEARING_DISPOSITIONS = frozenset({"genuine"})
STRIKING_DISPOSITIONS = frozenset({"prank", "silent"})


@dataclass(frozen=True)
class PrankPolicy:
    """One region's policy. Thresholds count strikes within `window_hours`."""

    enabled: bool = True
    window_hours: float = 7 * 24.0
    warn_at: int = 2
    deprioritise_at: int = 3
    block_at: int = 5
    block_hours: float = 24.0
    escape: bool = True           # a blocked caller can press escape_key for a call-taker
    escape_key: str = "0"
    escape_wait_ms: int = 3000    # after the block message (both fit the AGI call budget)
    deprioritised_priority: int = 1
    detect_silent: bool = True    # a detected silent call adds a strike
    silent_after_answer_s: float = 15.0  # ended this soon after answer, silent: a strike


@dataclass(frozen=True)
class PrankConfig:
    """`[prank]`: the default policy, the view's refresh, numbers never acted on."""

    default: PrankPolicy = field(default_factory=PrankPolicy)
    regions: Mapping[str, PrankPolicy] = field(default_factory=lambda: MappingProxyType({}))
    refresh_seconds: float = 10.0
    # The center's own lines (a call-taker testing, a callback returning): never acted on.
    exempt_numbers: frozenset[str] = frozenset()

    def policy(self, region: str) -> PrankPolicy:
        return self.regions.get(region, self.default)

    def warnings(self, origin: str) -> list[str]:
        """What `config check` warns about: a region that turned the escape key off."""
        return [f"{origin}: regions.{key}.prank.escape: false: a blocked caller there cannot "
                f"reach a call-taker, even in a real emergency"
                for key, p in sorted(self.regions.items()) if p.enabled and not p.escape] + (
            [f"{origin}: prank.escape: false: blocked callers cannot reach a call-taker"]
            if self.default.enabled and not self.default.escape else [])


_POLICY_FIELDS = {f.name: f for f in fields(PrankPolicy)}
_TOP_ONLY = ("refresh_seconds", "exempt_numbers")


def _read_policy(reader: _Reader, base: PrankPolicy, unclassified: int) -> PrankPolicy:
    values: dict[str, Any] = {}
    for name in _POLICY_FIELDS:
        default = getattr(base, name)
        values[name] = reader.get(name, type(default), default)
    policy = PrankPolicy(**values)
    if policy.window_hours <= 0:
        raise reader.fail("window_hours", "must be positive")
    if policy.block_hours <= 0:
        raise reader.fail("block_hours", "must be positive")
    if not 1 <= policy.warn_at <= policy.deprioritise_at <= policy.block_at:
        raise reader.fail("warn_at", f"need 1 <= warn_at ({policy.warn_at}) <= "
                          f"deprioritise_at ({policy.deprioritise_at}) <= block_at "
                          f"({policy.block_at})")
    if policy.escape_key not in tuple("0123456789*#"):
        raise reader.fail("escape_key", f"one key 0-9, * or #, got {policy.escape_key!r}")
    if not 1000 <= policy.escape_wait_ms <= 5000:
        # The block message, the escape prompt and this wait stay within the IVR's time.
        raise reader.fail("escape_wait_ms", "must be 1000-5000")
    if policy.silent_after_answer_s < 0:
        raise reader.fail("silent_after_answer_s", "must be 0 or more")
    if policy.enabled and not 0 <= policy.deprioritised_priority < unclassified - 1:
        raise reader.fail("deprioritised_priority", f"must be 0 to {unclassified - 2}: "
                          f"under the priority of callers with fewer strikes "
                          f"(categories.unclassified.priority - 1 = {unclassified - 1})")
    return policy


def parse_prank(top: _Reader, regions: Mapping[str, _Reader],
                categories: Mapping[str, Category]) -> PrankConfig:
    """`[prank]` and each `[regions.<r>.prank]` (which override `[prank]` key by key)."""
    from ntpd_ivr.numbers import parse_caller
    from ntpd_ivr.routing.config import UNCLASSIFIED

    unclassified = categories[UNCLASSIFIED].priority
    refresh = top.get("refresh_seconds", float, 10.0)
    if not 0.2 <= refresh <= 3600:
        raise top.fail("refresh_seconds", "must be 0.2-3600")
    exempt = set()
    for raw in top.strings("exempt_numbers"):
        caller = parse_caller(raw)
        if not caller.is_number:
            raise top.fail("exempt_numbers", f"{raw!r} is not a number")
        exempt.add(caller.value)
    default = _read_policy(top, PrankPolicy(), unclassified)
    if default.enabled and unclassified < 2:
        raise ConfigError(f"{top.where('enabled')}: the prank policy needs "
                          f"categories.unclassified.priority >= 2 (it is {unclassified}): "
                          "callers with strikes are queued below it")
    top.finish()
    per_region: dict[str, PrankPolicy] = {}
    for key, reader in regions.items():
        if not reader.table:
            continue
        for name in _TOP_ONLY:
            if name in reader.table:
                raise reader.fail(name, "set in [prank] only")
        per_region[key] = _read_policy(reader, default, unclassified)
        reader.finish()
    return PrankConfig(default=default, regions=MappingProxyType(per_region),
                       refresh_seconds=refresh, exempt_numbers=frozenset(exempt))


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


@dataclass(frozen=True)
class PolicyAction:
    level: str                # one of LEVELS
    reason: str               # strike-free, strikes, view-unavailable, policy-off, ...
    strikes: int = 0
    escape: bool = False      # block: the escape key reaches a call-taker
    blocked_until: datetime | None = None

    def as_detail(self) -> dict[str, str | int | bool]:
        detail: dict[str, str | int | bool] = {"level": self.level, "reason": self.reason,
                                               "strikes": self.strikes}
        if self.level == "block":
            detail["escape"] = self.escape
        if self.blocked_until is not None:
            detail["blocked_until"] = self.blocked_until.isoformat()
        return detail


STRIKE_FREE = PolicyAction("none", "strike-free")


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

