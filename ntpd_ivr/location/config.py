"""A region's boundary file (routing config `regions.<r>.boundary`): GeoJSON (RFC 7946), read
and checked once when the routing config is loaded, so that `ntpd-ivr config check` names
the file and the feature that is wrong.

The file is a FeatureCollection of Polygon or MultiPolygon features (or one such Feature
or geometry). A feature's properties say what it is:

    {}                                          the region's outline
    {"kecamatan": "Sekayu"}                     a kecamatan
    {"kecamatan": "Sekayu", "desa": "Kayuara"}  a desa/kelurahan

Without an outline feature the region is the union of its kecamatan. Other properties
(BIG's WADMKC, KDEPUM, ...) are kept for the map and otherwise ignored.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ntpd_ivr.location.model import Area, Boundary, Polygon, Ring

MAX_FILE_BYTES = 20_000_000  # a province's desa at BIG's 1:50 000, simplified, fits easily
GEOMETRIES = ("Polygon", "MultiPolygon")


class BoundaryError(ValueError):
    """What is wrong, and where in the file (``features[2].geometry.coordinates[0]: ...``)."""


def load_boundary(path: Path) -> Boundary:
    """Read and check one boundary file; BoundaryError says what is wrong and where."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise BoundaryError(f"{path}: over {MAX_FILE_BYTES // 1_000_000} MB; "
                                "simplify it (docs/workspace.md)")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BoundaryError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BoundaryError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BoundaryError(f"{path}: not JSON: {exc}") from None
    try:
        return parse_boundary(data, str(path))
    except BoundaryError as exc:
        raise BoundaryError(f"{path}: {exc}") from None


def parse_boundary(data: Any, source: str = "") -> Boundary:
    features = _features(data)
    outline: list[Area] = []
    kecamatan: list[Area] = []
    desa: list[Area] = []
    for index, feature in enumerate(features):
        where = f"features[{index}]"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise BoundaryError(f"{where}: not a GeoJSON Feature")
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            raise BoundaryError(f"{where}.properties: not an object")
        kec, des = (_name(properties, key, where) for key in ("kecamatan", "desa"))
        if des and not kec:
            raise BoundaryError(f"{where}.properties: a desa names its kecamatan")
        polygons = _geometry(feature.get("geometry"), f"{where}.geometry")
        (desa if des else kecamatan if kec else outline).append(Area.of(polygons, kec, des))
    if not outline and not kecamatan:
        raise BoundaryError("no outline and no kecamatan polygon: nothing to draw or test")
    geojson = {"type": "FeatureCollection", "features": features}
    return Boundary(source, tuple(outline), tuple(kecamatan), tuple(desa), geojson)


def _features(data: Any) -> list[Any]:
    if not isinstance(data, dict):
        raise BoundaryError("not a GeoJSON object")
    kind = data.get("type")
    if kind == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list) or not features:
            raise BoundaryError("features: a non-empty list is needed")
        return features
    if kind == "Feature":
        return [data]
    if kind in GEOMETRIES:
        return [{"type": "Feature", "properties": {}, "geometry": data}]
    raise BoundaryError(f"type: FeatureCollection, Feature, Polygon or MultiPolygon, "
                        f"got {kind!r}")


def _name(properties: dict[str, Any], key: str, where: str) -> str:
    value = properties.get(key)
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 100 or not value.isprintable():
        raise BoundaryError(f"{where}.properties.{key}: one line of 1-100 characters, "
                            f"got {value!r}")
    return " ".join(value.split())


def _geometry(geometry: Any, where: str) -> list[Polygon]:
    if not isinstance(geometry, dict) or geometry.get("type") not in GEOMETRIES:
        raise BoundaryError(f"{where}: a Polygon or MultiPolygon is needed")
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or not coordinates:
        raise BoundaryError(f"{where}.coordinates: empty")
    if geometry["type"] == "Polygon":
        return [_polygon(coordinates, f"{where}.coordinates")]
    return [_polygon(p, f"{where}.coordinates[{i}]") for i, p in enumerate(coordinates)]


def _polygon(rings: Any, where: str) -> Polygon:
    if not isinstance(rings, list) or not rings:
        raise BoundaryError(f"{where}: a polygon is a list of rings")
    return tuple(_ring(ring, f"{where}[{i}]") for i, ring in enumerate(rings))


def _ring(ring: Any, where: str) -> Ring:
    if not isinstance(ring, list) or len(ring) < 4:
        raise BoundaryError(f"{where}: a ring has 4 positions or more")
    points: list[tuple[float, float]] = []
    for position in ring:
        if not isinstance(position, list) or len(position) < 2 or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in position[:2]):
            raise BoundaryError(f"{where}: {position!r} is not a [lon, lat] position")
        lon, lat = float(position[0]), float(position[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise BoundaryError(f"{where}: {position!r} is off the globe (GeoJSON is "
                                "[longitude, latitude] in WGS 84 degrees)")
        points.append((lon, lat))
    if points[0] != points[-1]:
        raise BoundaryError(f"{where}: the ring is not closed (its last position must "
                            "repeat its first)")
    return tuple(points)
