"""The prank policy's config: the routing config's `[prank]` table and each
`[regions.<r>.prank]` (which override `[prank]` key by key), read through the shared
ConfigReader so the errors name the file and the key like the rest of the config. The
policy itself (standing, action, queue priority) is prank/policy.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from ntpd_ivr.configfile import ConfigReader
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.numbers import parse_caller
from ntpd_ivr.routing.model import UNCLASSIFIED, Category


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


def _read_policy(reader: ConfigReader, base: PrankPolicy, unclassified: int) -> PrankPolicy:
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


def parse_prank(top: ConfigReader, regions: Mapping[str, ConfigReader],
                categories: Mapping[str, Category]) -> PrankConfig:
    """`[prank]` and each `[regions.<r>.prank]` (which override `[prank]` key by key)."""
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
