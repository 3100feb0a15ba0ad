"""The alerts' part of the routing config: `[alerts]` (docs/alerts.md).

    [alerts]
    auto_surge = false        # surge mode on by itself for a strong, near earthquake
    min_magnitude = 5.0       # ... of at least this magnitude
    within_km = 100           # ... whose epicentre is this close to a region's centre
    surge_minutes = 30        # how long surge mode lasts (either way) unless renewed

    [alerts.centres]          # region -> [lat, lon]; else the middle of its boundary
    muba = [-2.88, 103.85]

Read with the shared reader: a bad value names the file and the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ntpd_ivr.alerts.model import LatLon, SurgeRule
from ntpd_ivr.configfile import ConfigReader


@dataclass(frozen=True)
class AlertsConfig:
    rule: SurgeRule = field(default_factory=SurgeRule)
    centres: Mapping[str, LatLon] = field(default_factory=lambda: MappingProxyType({}))


def parse_alerts(reader: ConfigReader, regions: Iterable[str]) -> AlertsConfig:
    known = set(regions)
    auto = reader.get("auto_surge", bool, False)
    magnitude = reader.get("min_magnitude", float, 5.0)
    within = reader.get("within_km", float, 100.0)
    minutes = reader.get("surge_minutes", int, 30)
    if not 0.0 < magnitude <= 10.0:
        raise reader.fail("min_magnitude", "must be more than 0 and at most 10")
    if not 0.0 < within <= 2000.0:
        raise reader.fail("within_km", "must be more than 0 and at most 2000")
    if not 1 <= minutes <= 24 * 60:
        raise reader.fail("surge_minutes", "must be 1-1440")
    table = reader.sub("centres", {})
    centres: dict[str, LatLon] = {}
    for key in table.table:
        if key not in known:
            raise table.fail(key, f"no region {key!r} (known: {', '.join(sorted(known))})")
        value = table.get(key, list)
        if (len(value) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                       for v in value)
                or not (-90 <= value[0] <= 90 and -180 <= value[1] <= 180)):
            raise table.fail(key, f"expected [lat, lon] in degrees, got {value!r}")
        centres[key] = (float(value[0]), float(value[1]))
    table.finish()
    reader.finish()
    return AlertsConfig(SurgeRule(auto, magnitude, within, minutes), MappingProxyType(centres))
