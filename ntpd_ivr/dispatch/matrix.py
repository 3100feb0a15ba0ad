"""The responsibility matrix (Perbup 71/2018 and the regent's decree): which agencies a
category goes to, read from the routing config. Pure."""

from __future__ import annotations

from ntpd_ivr.routing.config import Agency, RoutingConfig


def propose(config: RoutingConfig, region: str, category: str) -> tuple[Agency, ...]:
    """The region's agencies for the category; when it has none, those of the region it
    overflows to (the province), and so on up. Empty when nobody covers the category."""
    seen: set[str] = set()
    current = region
    while current and current in config.regions and current not in seen:
        seen.add(current)
        found = tuple(sorted((a for a in config.agencies.values()
                              if a.region == current and category in a.categories),
                             key=lambda a: a.key))
        if found:
            return found
        current = config.regions[current].overflow_to
    return ()
