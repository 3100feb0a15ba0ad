"""What Asterisk 22's res_geolocation hands the dialplan: ``${GEOLOC_PROFILE(effective_location)}``,
into a ``Location``. Pure, never raises for what it is given.

res_pjsip_geolocation turns the operator's PIDF-LO into an "effective profile" with its own
XSLT (pidf_to_eprofile.xslt) and geoloc_dialplan.c prints its list as ``name="value"``
joined by ``,`` with no escaping at all, e.g. (checked on 22.10.1)::

    shape="Circle",crs="2d",pos="-2.9761 104.7754",radius="50"
    shape="Point",crs="2d",pos="-2.9761 104.7754"
    lang="id",country="ID",A1="Sumatera Selatan",A3="Ilir Timur I",RD="Jl. Merdeka",HNO="5"
    URI="https://lis.example/loc/42"

``crs`` is ``2d`` (EPSG 4326), ``3d`` (EPSG 4979) or ``unknown``; the radius is in metres
(the XSLT keeps only the number of a length). Since a value may hold a comma or a quote,
a value runs to the next ``,name="`` or to the end.
"""

from __future__ import annotations

import re

from ntpd_ivr.location.model import CIVIC_KEYS, MAX_RADIUS_M, MAX_TEXT_CHARS, Location

_ITEM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)="(.*?)"(?=,[A-Za-z][A-Za-z0-9_-]*="|$)', re.S)
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_METRE_SUFFIXES = ("", "m", "urn:ogc:def:uom:EPSG::9001")


def split_varlist(text: str) -> dict[str, str] | None:
    """``a="1",b="x, y"`` into a dict; None unless the whole text is such a list."""
    items: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _ITEM.match(text, position)
        if match is None:
            return None
        items.setdefault(match[1], match[2])
        position = match.end() + 1  # past the comma
    return items if position == len(text) + 1 else None


def parse_effective_location(text: str) -> Location:
    """One effective_location string into a Location ("none" when empty)."""
    try:
        return _parse(text)
    except Exception as exc:  # a fault of ours must not reach the call
        return Location.malformed(f"internal error reading the location: {exc!r}", text)


def _parse(text: str) -> Location:
    if not text:
        return Location.none()
    items = split_varlist(text)
    if items is None:
        return Location.malformed("effective_location is not a name=\"value\" list", text)
    if "shape" in items:
        return _geodetic(items, text)
    if "URI" in items:
        return Location("unsupported", shape="URI", raw=text,
                        error="location by reference (URI) is not dereferenced")
    civic = {key: " ".join(value.split())[:MAX_TEXT_CHARS] for key, value in items.items()
             if key in CIVIC_KEYS and value.strip()}
    if not any(key != "lang" for key in civic):
        return Location.malformed("neither a GML shape nor a civic address element", text)
    return Location("civic", civic=civic, shape="civicAddress", raw=text)


def _geodetic(items: dict[str, str], text: str) -> Location:
    shape = items["shape"]
    if items.get("crs") not in ("2d", "3d"):
        return Location.malformed(f"{shape}: coordinate reference system "
                                  f"{items.get('crs')!r} is not WGS 84", text)
    numbers = items.get("pos", "").split()
    if shape not in ("Point", "Circle"):
        lat = lon = None
        if len(numbers) in (2, 3) and all(_NUMBER.match(n) for n in numbers) \
                and -90 <= float(numbers[0]) <= 90 and -180 <= float(numbers[1]) <= 180:
            lat, lon = float(numbers[0]), float(numbers[1])
        return Location("unsupported", lat=lat, lon=lon, shape=shape, raw=text,
                        error=f"shape {shape} is kept raw, not reduced")
    if len(numbers) not in (2, 3) or not all(_NUMBER.match(n) for n in numbers):
        return Location.malformed(f"{shape}: pos {items.get('pos')!r} is not "
                                  f"'latitude longitude'", text)
    lat, lon = float(numbers[0]), float(numbers[1])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return Location.malformed(f"{shape}: pos {lat} {lon} is off the globe", text)
    if shape == "Point":
        return Location("point", lat=lat, lon=lon, shape=shape, raw=text)
    value, _, unit = items.get("radius", "").strip().partition(" ")
    if not _NUMBER.match(value) or unit.strip() not in _METRE_SUFFIXES \
            or not 0 <= float(value) <= MAX_RADIUS_M:
        return Location.malformed(f"Circle: radius {items.get('radius')!r} is not "
                                  f"0..{MAX_RADIUS_M:.0f} metres", text)
    return Location("circle", lat=lat, lon=lon, radius_m=float(value), shape=shape, raw=text)
