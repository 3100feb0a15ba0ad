"""CAP alerts and surge mode: pure rules, no I/O (docs/alerts.md).

A CAP 1.2 alert (OASIS) as the center needs it: who sent it, what it says, and where.
Its areas are matched to the center's regions: a geocode against the region's Kemendagri
code, a polygon or a circle against the region's boundary (the location domain's
point-in-polygon, ntpd_ivr/location/model.py) or, without one, its centre point.

CAP's coordinates are WGS 84 "lat,lon" pairs; a polygon is at least four pairs, the first
and the last the same; a circle is "lat,lon radius" with the radius in kilometres
(CAP 1.2 section 3.2.4). Degrees are treated as a plane inside a region, as the location
domain does; distances between points are great-circle.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from ntpd_ivr.location.model import Boundary, Polygon, in_polygon

EARTH_RADIUS_KM = 6371.0088
MAX_TEXT_CHARS = 2000        # one CAP text field as kept and shown
MAX_POINTS = 5000            # a polygon's vertices; more is refused, not parsed
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")


class CapError(ValueError):
    """A CAP document refused, with the reason (logged, counted, never raised further)."""


def clip(text: str | None, limit: int = MAX_TEXT_CHARS) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ---- Geometry ------------------------------------------------------------------------------

LatLon = tuple[float, float]


def _point(text: str, where: str) -> LatLon:
    try:
        lat_text, lon_text = text.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise CapError(f"{where}: {text[:40]!r} is not a lat,lon pair") from None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or math.isnan(lat + lon):
        raise CapError(f"{where}: {text[:40]!r} is off the globe")
    return lat, lon


def parse_polygon(text: str) -> tuple[LatLon, ...]:
    pairs = text.split()
    if len(pairs) > MAX_POINTS:
        raise CapError(f"polygon: more than {MAX_POINTS} points")
    points = tuple(_point(p, "polygon") for p in pairs)
    if len(points) < 4 or points[0] != points[-1]:
        raise CapError("polygon: at least 4 points, the first and the last the same")
    return points


@dataclass(frozen=True)
class Circle:
    lat: float
    lon: float
    radius_km: float


def parse_circle(text: str) -> Circle:
    parts = text.split()
    if len(parts) != 2:
        raise CapError(f"circle: {text[:40]!r} is not 'lat,lon radius'")
    lat, lon = _point(parts[0], "circle")
    try:
        radius = float(parts[1])
    except ValueError:
        raise CapError(f"circle: radius {parts[1][:20]!r} is not a number") from None
    if not 0.0 <= radius <= 20_000.0:
        raise CapError(f"circle: radius {radius} km is out of range")
    return Circle(lat, lon, radius)


def distance_km(a: LatLon, b: LatLon) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def as_location_polygon(points: Sequence[LatLon]) -> Polygon:
    """CAP's (lat, lon) ring as the location domain's GeoJSON-ordered (lon, lat) polygon."""
    return (tuple((lon, lat) for lat, lon in points),)


# ---- The alert ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CapArea:
    desc: str
    polygons: tuple[tuple[LatLon, ...], ...] = ()
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[tuple[str, str], ...] = ()  # (valueName, value)


@dataclass(frozen=True)
class CapAlert:
    """One CAP 1.2 alert, its first `info` in Bahasa Indonesia (or its first `info`)."""

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    references: str = ""
    language: str = ""
    event: str = ""
    category: str = ""
    urgency: str = "Unknown"
    severity: str = "Unknown"
    certainty: str = "Unknown"
    headline: str = ""
    description: str = ""
    instruction: str = ""
    sender_name: str = ""
    web: str = ""
    effective: datetime | None = None
    expires: datetime | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    areas: tuple[CapArea, ...] = ()

    @property
    def area_desc(self) -> str:
        return clip("; ".join(a.desc for a in self.areas if a.desc), 500)

    @property
    def source(self) -> str:
        return self.sender_name or self.sender

    def parameter(self, *names: str) -> str | None:
        wanted = {n.lower() for n in names}
        return next((v for k, v in self.parameters if k.lower() in wanted), None)

    @property
    def magnitude(self) -> float | None:
        """The earthquake's magnitude: BMKG's `magnitude` parameter, else "M5,8"/"Mag:5.8"
        in the headline (InaTEWS headlines carry it)."""
        text = self.parameter("magnitude", "mag")
        if text is None:
            match = re.search(r"\bM(?:ag)?\s*[:=]?\s*(\d{1,2}(?:[.,]\d{1,2})?)\b", self.headline)
            text = match.group(1) if match else None
        if text is None:
            return None
        try:
            value = float(text.replace(",", ".").split()[0])
        except (ValueError, IndexError):
            return None
        return value if 0.0 <= value <= 10.0 else None

    @property
    def epicentre(self) -> LatLon | None:
        """Where the event is: an `epicenter` parameter ("lat,lon" or "lat lon"), else the
        centre of the first circle (InaTEWS's area circles are centred on it)."""
        text = self.parameter("epicenter", "epicentre", "episenter", "point")
        if text:
            try:
                return _point(",".join(text.replace(",", " ").split()[:2]), "epicenter")
            except CapError:
                pass
        circle = next((c for a in self.areas for c in a.circles), None)
        return (circle.lat, circle.lon) if circle else None

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and self.expires <= now

    def summary(self) -> dict[str, Any]:
        return {"identifier": self.identifier, "sender": self.sender,
                "sent": self.sent.isoformat(), "msg_type": self.msg_type,
                "status": self.status, "event": self.event, "headline": self.headline,
                "severity": self.severity, "urgency": self.urgency,
                "certainty": self.certainty, "area": self.area_desc, "source": self.source,
                "expires": self.expires.isoformat() if self.expires else None,
                "magnitude": self.magnitude}


# ---- Matching areas to the center's regions ----------------------------------------------


class RegionShape(Protocol):
    """What matching needs of a region (routing config `regions.<r>` and `[alerts]`)."""

    @property
    def key(self) -> str: ...
    @property
    def code(self) -> str: ...
    @property
    def boundary(self) -> Boundary | None: ...


@dataclass(frozen=True)
class Place:
    """A region as the alerts see it: its key, Kemendagri code, boundary and centre."""

    key: str
    code: str = ""
    boundary: Boundary | None = None
    centre: LatLon | None = None


def places(regions: Iterable[RegionShape], centres: Mapping[str, LatLon]) -> list[Place]:
    """Each region with its centre: the one `[alerts.centres]` names, else the middle of
    its boundary's box, else none (then only a geocode can match it)."""
    found = []
    for r in regions:
        centre = centres.get(r.key)
        if centre is None and r.boundary is not None:
            areas = r.boundary.outline or r.boundary.kecamatan
            if areas:
                x0 = min(a.bbox[0] for a in areas)
                y0 = min(a.bbox[1] for a in areas)
                x1 = max(a.bbox[2] for a in areas)
                y1 = max(a.bbox[3] for a in areas)
                centre = ((y0 + y1) / 2, (x0 + x1) / 2)
        found.append(Place(r.key, r.code, r.boundary, centre))
    return found


def _outline_points(boundary: Boundary) -> list[LatLon]:
    return [(lat, lon) for area in (boundary.outline or boundary.kecamatan)
            for polygon in area.polygons for lon, lat in polygon[0]]


def _polygon_touches(points: Sequence[LatLon], place: Place) -> bool:
    polygon = as_location_polygon(points)
    if place.boundary is not None:
        # Either holds a vertex of the other (two outlines that only cross, no vertex of
        # either inside the other, are missed: a region is never that thin a sliver).
        if any(place.boundary.holds(lat, lon) for lat, lon in points):
            return True
        if any(in_polygon(polygon, lon, lat) for lat, lon in _outline_points(place.boundary)):
            return True
    return place.centre is not None and in_polygon(polygon, place.centre[1], place.centre[0])


def _circle_touches(circle: Circle, place: Place) -> bool:
    centre = (circle.lat, circle.lon)
    if place.boundary is not None:
        if place.boundary.holds(circle.lat, circle.lon):
            return True
        if any(distance_km(centre, p) <= circle.radius_km
               for p in _outline_points(place.boundary)):
            return True
    return place.centre is not None and distance_km(centre, place.centre) <= circle.radius_km


def _geocode_names(place: Place, value: str) -> bool:
    """A geocode names the region by its Kemendagri code: the kab/kota itself ("16.06") or
    a kecamatan or desa in it ("16.06.01"); a province code ("16") names its regions too."""
    if not place.code:
        return False
    value = value.strip()
    return (value == place.code or value.startswith(place.code + ".")
            or place.code.startswith(value + "."))


def matching_regions(alert: CapAlert, regions: Iterable[Place]) -> tuple[str, ...]:
    """The keys of the regions any of the alert's areas touches, in the regions' order."""
    matched = []
    for place in regions:
        for area in alert.areas:
            if (any(_geocode_names(place, v) for _, v in area.geocodes)
                    or any(_polygon_touches(p, place) for p in area.polygons)
                    or any(_circle_touches(c, place) for c in area.circles)):
                matched.append(place.key)
                break
    return tuple(matched)


# ---- Surge mode ------------------------------------------------------------------------


@dataclass(frozen=True)
class SurgeRule:
    """`[alerts.surge]` of the routing config: surge mode on by itself for an event of at
    least `min_magnitude` within `within_km` of a region's centre. Off unless `auto`."""

    auto: bool = False
    min_magnitude: float = 5.0
    within_km: float = 100.0
    minutes: int = 30  # how long an automatic surge lasts unless renewed

    def fires(self, alert: CapAlert, regions: Iterable[Place]) -> str | None:
        """The key of the first region the rule fires for, or None."""
        if not self.auto or alert.msg_type == "Cancel" or alert.status != "Actual":
            return None
        magnitude, epicentre = alert.magnitude, alert.epicentre
        if magnitude is None or epicentre is None or magnitude < self.min_magnitude:
            return None
        return next((p.key for p in regions if p.centre is not None
                     and distance_km(epicentre, p.centre) <= self.within_km), None)


def _number(value: float) -> str:
    """5.8 as Bahasa Indonesia writes it: 5,8."""
    return f"{value:.1f}".replace(".", ",")


def announcement(alert: CapAlert) -> str:
    """What the IVR plays while surge mode is on, in Bahasa Indonesia, built from the alert
    (issue 24's example: "BMKG: gempa M5,8 … tidak berpotensi tsunami. Jika Anda …")."""
    source = "BMKG" if "bmkg" in (alert.sender + alert.sender_name).lower() else clip(
        alert.source, 60)
    what = clip(alert.headline or alert.event, 240).rstrip(".")
    quake = "gempa" in (alert.event + " " + what).lower()
    if quake and alert.magnitude is not None:
        # Spoken, BMKG's "Mag:5.8, Lok:2.71 LS ..." headline reads badly: its parts instead.
        parts = [f"gempa M{_number(alert.magnitude)}"]
        if alert.area_desc:
            parts.append(f"di {clip(alert.area_desc, 120)}")
        depth = alert.parameter("depth", "kedalaman")
        if depth:
            parts.append(f"kedalaman {clip(depth, 20).lower()}")
        potential = alert.parameter("potential", "potensi")
        parts.append(clip(potential, 120) if potential else "")
        what = ", ".join(p for p in parts if p)
    topic = "gempa" if quake else "peringatan"
    return (f"{source}: {what}. Jika Anda menelepon tentang {topic} ini dan tidak ada yang "
            "terluka, tekan 8 untuk informasi; untuk keadaan darurat lain, tetap di saluran.")


def information(alert: CapAlert) -> str:
    """What a caller who pressed 8 hears: the alert's description and instruction."""
    parts = [clip(alert.description, 600), clip(alert.instruction, 400)]
    return " ".join(p.rstrip(".") + "." for p in parts if p) or announcement(alert)


@dataclass(frozen=True)
class SurgeMode:
    """Surge mode while it is on: what the IVR reads (core.services[SURGE].current())."""

    alert_id: int
    headline: str
    announcement: str   # Bahasa Indonesia, to be spoken (espeak-ng) or matched to a prompt
    information: str    # what a caller who presses 8 hears
    started_at: datetime
    ends_at: datetime
    started_by: str     # a supervisor's user name, or "rule" for the routing-config rule
    region: str = ""    # the region the alert matched, "" when none was named

    def to_json(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "headline": self.headline,
                "announcement": self.announcement, "information": self.information,
                "started_at": self.started_at.isoformat(), "ends_at": self.ends_at.isoformat(),
                "started_by": self.started_by, "region": self.region}


def surge_mode(alert_id: int, alert: CapAlert, *, started_at: datetime, ends_at: datetime,
               started_by: str, region: str = "") -> SurgeMode:
    """Surge mode from this alert between these times: its texts built from the alert."""
    return SurgeMode(alert_id=alert_id, headline=clip(alert.headline or alert.event, 240),
                     announcement=announcement(alert), information=information(alert),
                     started_at=started_at, ends_at=ends_at, started_by=started_by,
                     region=region)


@dataclass
class SurgeState:
    """Surge mode's one state: off, or on until `ends_at`. It ends by itself at that time
    (read through `current(now)`); turning it on again while on renews it."""

    mode: SurgeMode | None = None
    history: list[tuple[datetime, str, str]] = field(default_factory=list)  # at, what, who

    def current(self, now: datetime) -> SurgeMode | None:
        if self.mode is not None and self.mode.ends_at <= now:
            self.history.append((self.mode.ends_at, "expired", "controller"))
            self.mode = None
        return self.mode

    def turn_on(self, alert_id: int, alert: CapAlert, *, now: datetime, minutes: int,
                actor: str, region: str = "") -> tuple[SurgeMode, str]:
        """(the mode, "on" or "renewed")."""
        if minutes <= 0:
            raise ValueError("surge minutes must be positive")
        before = self.current(now)
        self.mode = surge_mode(alert_id, alert, started_at=before.started_at if before else now,
                               ends_at=now + timedelta(minutes=minutes), started_by=actor,
                               region=region)
        what = "renewed" if before is not None else "on"
        self.history.append((now, what, actor))
        return self.mode, what

    def become(self, mode: SurgeMode | None, *, now: datetime, actor: str) -> str | None:
        """Take the state another controller wrote (the shared row): what that was for
        this one ("on", "renewed", "off", "expired"), or None when nothing changed."""
        before = self.current(now)
        if mode is not None and mode.ends_at <= now:
            mode = None
        if mode == before:
            return None
        self.mode = mode
        if mode is None:
            what = "off" if before is not None else None
        else:
            what = "renewed" if before is not None else "on"
        if what is not None:
            self.history.append((now, what, actor))
        return what

    def turn_off(self, *, now: datetime, actor: str) -> SurgeMode | None:
        before = self.current(now)
        self.mode = None
        if before is not None:
            self.history.append((now, "off", actor))
        return before


def touched_kecamatan(alert: CapAlert, boundary: Boundary | None) -> tuple[str, ...]:
    """The kecamatan of a region's boundary that the alert's areas touch, in its order
    (a campaign from the alert calls the contacts there). None named: ()."""
    if boundary is None:
        return ()
    seen: dict[str, None] = {}
    for area in boundary.kecamatan:
        place = Place(area.kecamatan, boundary=Boundary(source="", outline=(area,)))
        if area.kecamatan and matching_regions(alert, [place]):
            seen.setdefault(area.kecamatan)
    return tuple(seen)
