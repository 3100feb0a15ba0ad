"""The caller's location as the call record keeps it: one frozen value, whatever it came
from (the operator's PIDF-LO through Asterisk, or a call-taker typing it in). No I/O.

Kinds:
- ``point``: WGS 84 latitude/longitude (gml:Point, RFC 5491 §5.2.1);
- ``circle``: a point with an uncertainty radius in metres (gs:Circle, RFC 5491 §5.2.3);
- ``civic``: a civic address (RFC 5139 civicAddress); for Indonesia A1 is the province,
  A2 the kabupaten/kota, A3 the kecamatan, A4 the desa/kelurahan;
- ``unsupported``: well-formed, but a shape we do not reduce (Polygon, Ellipse, ArcBand,
  a location by reference): kept raw, with the centre when the shape has one;
- ``malformed``: the operator sent location and it was unusable; ``error`` says why;
- ``none``: no location was offered.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Literal, Protocol

LocationKind = Literal["point", "circle", "civic", "unsupported", "malformed", "none"]
LocationSource = Literal["network", "call-taker"]
KINDS: tuple[LocationKind, ...] = ("point", "circle", "civic", "unsupported", "malformed",
                                   "none")
SOURCES: tuple[LocationSource, ...] = ("network", "call-taker")

# RFC 5139 civicAddress elements (and RFC 6848's additions), in the RFC's order. Anything
# else in a civic address is dropped: it cannot be shown under a known label.
CIVIC_KEYS = ("country", "A1", "A2", "A3", "A4", "A5", "A6", "PRM", "PRD", "RD", "STS",
              "POD", "POM", "RDSEC", "RDBR", "RDSUBBR", "HNO", "HNS", "LMK", "LOC", "FLR",
              "NAM", "PC", "BLD", "UNIT", "ROOM", "SEAT", "PLC", "PCN", "POBOX", "ADDCODE",
              "PN", "MP", "STP", "HNP", "lang")
MAX_RADIUS_M = 1_000_000.0  # a "location" vaguer than 1000 km tells a PSAP nothing
MAX_RAW_CHARS = 4096        # what the record keeps of what was received
MAX_TEXT_CHARS = 256        # one civic field, one error


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Location:
    """A caller's location. Build it with the class methods; they never raise for bad
    input from the network (``Location.malformed`` is the answer), only for a
    programming error."""

    kind: LocationKind
    source: LocationSource = "network"
    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    civic: Mapping[str, str] = field(default_factory=dict)
    shape: str | None = None   # the GML shape or "civicAddress" / "URI" as received
    raw: str | None = None     # what was received, clipped to MAX_RAW_CHARS
    error: str | None = None   # why it is malformed or unsupported
    confidence: int | None = None  # RFC 7459, percent, when the sender stated it

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"location kind must be one of {KINDS}, not {self.kind!r}")
        if self.source not in SOURCES:
            raise ValueError(f"location source must be one of {SOURCES}, not {self.source!r}")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("latitude and longitude come together")
        if self.lat is not None and self.lon is not None:
            check_coordinates(self.lat, self.lon)
        if self.radius_m is not None and not (
                math.isfinite(self.radius_m) and 0 <= self.radius_m <= MAX_RADIUS_M):
            raise ValueError(f"radius must be 0..{MAX_RADIUS_M:.0f} m, not {self.radius_m!r}")
        if self.confidence is not None and (type(self.confidence) is not int
                                            or not 0 < self.confidence < 100):
            raise ValueError(f"confidence must be 1..99 %, not {self.confidence!r}")
        object.__setattr__(self, "civic", MappingProxyType(dict(self.civic)))
        if self.raw is not None:
            object.__setattr__(self, "raw", _clip(self.raw, MAX_RAW_CHARS))
        if self.error is not None:
            object.__setattr__(self, "error", _clip(self.error, MAX_TEXT_CHARS))

    @classmethod
    def none(cls) -> Location:
        return cls("none")

    @classmethod
    def malformed(cls, reason: str, raw: str | None = None) -> Location:
        return cls("malformed", raw=raw, error=reason)

    @classmethod
    def entered_by_call_taker(cls, *, address: str, kecamatan: str, desa: str = "",
                              lat: float | None = None, lon: float | None = None,
                              radius_m: float | None = None) -> Location:
        """What a call-taker types: an address, the kecamatan and desa picked from the
        region's list, optional coordinates. Raises ValueError for what the screen must
        refuse (no kecamatan, coordinates off the globe)."""
        if not kecamatan.strip():
            raise ValueError("a call-taker's location names its kecamatan")
        civic = {"A3": kecamatan.strip(), "A4": desa.strip(), "LOC": address.strip()}
        civic = {key: _clip(value, MAX_TEXT_CHARS) for key, value in civic.items() if value}
        return cls("civic", source="call-taker", lat=lat, lon=lon, radius_m=radius_m,
                   civic=civic)

    @property
    def usable(self) -> bool:
        """Something a dispatcher can act on."""
        return self.kind in ("point", "circle", "civic")

    def civic_json(self) -> str | None:
        """The civic fields as canonical JSON (the ``calls.location_civic`` column)."""
        if not self.civic:
            return None
        return json.dumps(dict(self.civic), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)


def check_coordinates(lat: float, lon: float) -> None:
    """Raise ValueError unless (lat, lon) is a WGS 84 position in degrees."""
    for name, value, limit in (("latitude", lat, 90.0), ("longitude", lon, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or not -limit <= value <= limit:
            raise ValueError(f"{name} must be -{limit:.0f}..{limit:.0f} degrees, "
                             f"not {value!r}")


# ---- Boundaries: where a point lies (routing config `regions.<r>.boundary`) ---------------
# Hand-written point-in-polygon rather than shapely: a region's polygons are a few thousand
# vertices at most, a ray-casting test behind a bounding box answers in microseconds, and the
# controller that serves FastAGI takes on no native GEOS library for 30 lines. Degrees are
# treated as a plane: exact enough inside one regency, and Indonesia crosses no antimeridian.

Ring = tuple[tuple[float, float], ...]  # (lon, lat) positions, GeoJSON's order, closed
Polygon = tuple[Ring, ...]              # the outer ring, then its holes


def in_ring(ring: Ring, lon: float, lat: float) -> bool:
    """Ray casting: does a ray from the point eastwards cross the ring an odd number of times."""
    inside = False
    for (x1, y1), (x2, y2) in pairwise(ring):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def in_polygon(polygon: Polygon, lon: float, lat: float) -> bool:
    outer, *holes = polygon
    return in_ring(outer, lon, lat) and not any(in_ring(hole, lon, lat) for hole in holes)


@dataclass(frozen=True)
class Area:
    """One place with its polygons: a region's outline (no names), a kecamatan, or a desa."""

    kecamatan: str
    desa: str
    polygons: tuple[Polygon, ...]
    bbox: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat

    @classmethod
    def of(cls, polygons: Sequence[Polygon], kecamatan: str = "", desa: str = "") -> Area:
        xs = [x for p in polygons for x, _ in p[0]]
        ys = [y for p in polygons for _, y in p[0]]
        return cls(kecamatan, desa, tuple(polygons), (min(xs), min(ys), max(xs), max(ys)))

    def holds(self, lat: float, lon: float) -> bool:
        x0, y0, x1, y1 = self.bbox
        return x0 <= lon <= x1 and y0 <= lat <= y1 \
            and any(in_polygon(p, lon, lat) for p in self.polygons)


@dataclass(frozen=True)
class Boundary:
    """A region's GeoJSON file, read and checked: its outline (or, without one, the union of
    its kecamatan), its kecamatan and desa polygons, and the GeoJSON itself for the maps."""

    source: str
    outline: tuple[Area, ...]
    kecamatan: tuple[Area, ...] = ()
    desa: tuple[Area, ...] = ()
    geojson: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def holds(self, lat: float, lon: float) -> bool:
        return any(a.holds(lat, lon) for a in self.outline or self.kecamatan)

    def place_of(self, lat: float, lon: float) -> tuple[str, str]:
        """(kecamatan, desa) the point lies in; "" where no polygon holds it."""
        desa = next((a for a in self.desa if a.holds(lat, lon)), None)
        if desa is not None:
            return desa.kecamatan, desa.desa
        kecamatan = next((a for a in self.kecamatan if a.holds(lat, lon)), None)
        return (kecamatan.kecamatan if kecamatan else ""), ""


class BoundedRegion(Protocol):
    """What `locate` needs of a routing config region (ntpd_ivr/routing/model.py Region)."""

    @property
    def key(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def boundary(self) -> Boundary | None: ...


@dataclass(frozen=True)
class Located:
    """Where a point lies among the regions' boundaries, seen from the call's region `home`.
    inside: None when `home` has no boundary (nothing to say); region: the most specific
    region holding the point (a kabupaten/kota before the province), or None."""

    lat: float
    lon: float
    home: str
    inside: bool | None
    region: str | None = None
    region_name: str | None = None
    kecamatan: str = ""
    desa: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"lat": self.lat, "lon": self.lon, "home": self.home, "inside": self.inside,
                "region": self.region, "region_name": self.region_name,
                "kecamatan": self.kecamatan or None, "desa": self.desa or None}


_SPECIFIC = {"kota": 0, "kabupaten": 0, "province": 1}


def locate(regions: Iterable[BoundedRegion], home: str, lat: float, lon: float) -> Located:
    """The reverse look-up of a point (kecamatan/desa, for the incident form) and the
    wrong-regency check (is it outside the call's region, and in which region then)."""
    check_coordinates(lat, lon)
    bounded = [r for r in regions if r.boundary is not None]
    holding = sorted((r for r in bounded if r.boundary and r.boundary.holds(lat, lon)),
                     key=lambda r: _SPECIFIC.get(r.level, 0))
    own = next((r for r in bounded if r.key == home), None)
    inside = None if own is None else own in holding
    if not holding:
        return Located(lat, lon, home, inside)
    # Outside its own region, the region it falls in is a regency (never the province around).
    best = holding[0] if inside is not False else next(
        (r for r in holding if r.level != "province"), holding[0])
    assert best.boundary is not None
    kecamatan, desa = best.boundary.place_of(lat, lon)
    return Located(lat, lon, home, inside, best.key, best.name, kecamatan, desa)


def map_config(regions: Iterable[BoundedRegion], tile_url: str = "", attribution: str = "",
               only: Iterable[str] | None = None) -> dict[str, Any]:
    """What a page's map is drawn from (static/map.js): the base layer (settings
    web.map_tile_url; "" is the plain offline map) and the regions' boundaries as GeoJSON
    (all of them, or those in `only`)."""
    wanted = None if only is None else set(only)
    return {"tiles": tile_url, "attribution": attribution,
            "boundaries": {r.key: {"name": r.name, "level": r.level,
                                   "geojson": dict(r.boundary.geojson)}
                           for r in regions if r.boundary is not None
                           and (wanted is None or r.key in wanted)}}
