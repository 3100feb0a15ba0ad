"""Routing decisions: pure functions of (the call, the menu), no I/O.

Every input, including none at all or garbage, yields a decision that reaches a human.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class MenuEntry:
    category: str
    priority: int  # app_queue QUEUE_PRIO: higher is answered first


@dataclass(frozen=True)
class RouteDecision:
    queue: str
    category: str
    priority: int
    reason: str


# Life-threatening categories first (ambulance, fire), then police and disaster.
DEFAULT_MENU: Final = MappingProxyType({
    "1": MenuEntry("ambulance", 10),
    "2": MenuEntry("fire", 10),
    "3": MenuEntry("police", 8),
    "4": MenuEntry("disaster", 8),
})
UNCLASSIFIED: Final = MenuEntry("unclassified", 5)


def decide(digit: str, queue: str,
           menu: MappingProxyType[str, MenuEntry] = DEFAULT_MENU) -> RouteDecision:
    """Where the IVR sends a caller who pressed `digit` ('' when nothing was pressed)."""
    if digit == "":
        entry, reason = UNCLASSIFIED, "no-input"
    elif digit == "0":
        entry, reason = UNCLASSIFIED, "operator-requested"
    elif digit in menu:
        entry, reason = menu[digit], "menu"
    else:
        entry, reason = UNCLASSIFIED, "invalid-input"
    return RouteDecision(queue=queue, category=entry.category, priority=entry.priority,
                         reason=reason)
