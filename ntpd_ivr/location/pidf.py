"""PIDF-LO (RFC 4119, RFC 5491 shapes, RFC 5139 civic address, RFC 7459 confidence) into
a ``Location``. Pure: bytes in, a value out, never an exception for what a network sends.

The body is untrusted: it comes from an operator's INVITE (RFC 6442) or, later, from a
handset (AML). So:
- at most ``MAX_BYTES`` are looked at; a bigger body is refused before parsing;
- any DTD is refused outright (a PIDF-LO never has one), and so is any entity
  declaration or external reference: no billion-laughs or quadratic expansion and no
  external entity (XXE) fetch, whatever the expat version. defusedxml does this, the
  library the Python documentation names for untrusted XML, rather than our own hooks on
  expat: the next XML sources (AML, CAP, EIDO) parse through the same `parse_xml`;
- the root must be ``{urn:ietf:params:xml:ns:pidf}presence``: a right-looking document in
  another namespace is not a PIDF-LO.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ntpd_ivr.location.model import CIVIC_KEYS, MAX_RADIUS_M, Location, LocationKind

MAX_BYTES = 64 * 1024

NS_PIDF = "urn:ietf:params:xml:ns:pidf"
NS_GEOPRIV = "urn:ietf:params:xml:ns:pidf:geopriv10"
NS_CIVIC = "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
NS_GML = "http://www.opengis.net/gml"
NS_GS = "http://www.opengis.net/pidflo/1.0"
NS_CONFIDENCE = "urn:ietf:params:xml:ns:geopriv:conf"

# WGS 84 in 2D and 3D (RFC 5491 §4). Anything else cannot be put on a map without a
# transformation we do not do.
SRS_2D = "urn:ogc:def:crs:EPSG::4326"
SRS_3D = "urn:ogc:def:crs:EPSG::4979"
UOM_METRE = "urn:ogc:def:uom:EPSG::9001"
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def parse_xml(data: bytes) -> Element:
    """The document's root element, tags as "{uri}local". Raises DefusedXmlException (a
    DTD, an entity, an external reference) or ParseError (not well-formed XML)."""
    root: Element = fromstring(data, forbid_dtd=True, forbid_entities=True,
                               forbid_external=True)
    return root


def parse_pidf(data: bytes | str) -> Location:
    """A PIDF-LO document into a Location; anything unusable is ``kind="malformed"``."""
    try:
        return _parse_pidf(data)
    except Exception as exc:  # a fault of ours must not reach the call
        return Location.malformed(f"internal error reading the PIDF-LO: {exc!r}")


def _parse_pidf(data: bytes | str) -> Location:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    raw = data[:4096].decode("utf-8", "replace")
    if len(data) > MAX_BYTES:
        return Location.malformed(f"PIDF-LO larger than {MAX_BYTES} bytes ({len(data)})", raw)
    if not data.strip():
        return Location.malformed("empty PIDF-LO body", raw)
    try:
        root = parse_xml(data)
    except DefusedXmlException as exc:
        return Location.malformed(f"refused XML: {exc}", raw)
    except (ParseError, ValueError, LookupError, RecursionError) as exc:
        # LookupError: an XML declaration naming an encoding Python does not know.
        return Location.malformed(f"not XML: {exc}", raw)
    if root.tag != f"{{{NS_PIDF}}}presence":
        return Location.malformed(f"root element is {root.tag}, not a PIDF presence "
                                  f"({{{NS_PIDF}}}presence)", raw)
    infos = list(root.iter(f"{{{NS_GEOPRIV}}}location-info"))
    if not infos:
        return Location.malformed("no geopriv location-info in the PIDF", raw)
    first: Location | None = None
    for info in infos:
        location = _from_location_info(info, raw)
        if location.usable:
            return location
        first = first or location
    assert first is not None
    return first


def _children(element: Element) -> Iterator[Element]:
    return (child for child in element if isinstance(child.tag, str))


def _from_location_info(info: Element, raw: str) -> Location:
    civic = next((c for c in _children(info) if c.tag == f"{{{NS_CIVIC}}}civicAddress"), None)
    shape = next((c for c in _children(info)
                  if c.tag.startswith((f"{{{NS_GML}}}", f"{{{NS_GS}}}"))), None)
    confidence = _confidence(info)
    civic_fields = _civic(civic) if civic is not None else {}
    if shape is None:
        if civic is None:
            return Location.malformed("location-info holds neither a GML shape nor a "
                                      "civicAddress", raw)
        if not any(key != "lang" for key in civic_fields):
            return Location.malformed("civicAddress without any element", raw)
        return Location("civic", civic=civic_fields, shape="civicAddress", raw=raw,
                        confidence=confidence)
    name = shape.tag.rpartition("}")[2]
    try:
        lat, lon = _position(shape)
        radius = _radius(shape) if name == "Circle" else None
    except ValueError as exc:
        return Location.malformed(f"{name}: {exc}", raw)
    kind: LocationKind
    if name == "Point":
        kind, error = "point", None
    elif name == "Circle":
        kind, error = "circle", None
    else:
        kind, error = "unsupported", f"shape {name} is kept raw, not reduced"
    return Location(kind, lat=lat, lon=lon, radius_m=radius, civic=civic_fields,
                    shape=name, raw=raw, error=error, confidence=confidence)


def _position(shape: Element) -> tuple[float | None, float | None]:
    srs = shape.get("srsName")
    if srs not in (SRS_2D, SRS_3D):
        raise ValueError(f"coordinate reference system {srs!r} is not WGS 84 "
                         f"({SRS_2D} or {SRS_3D})")
    positions = list(shape.iter(f"{{{NS_GML}}}pos"))
    if len(positions) != 1:
        if shape.tag.endswith(("}Point", "}Circle")):
            raise ValueError(f"needs one gml:pos, has {len(positions)}")
        return None, None  # a Polygon: no single centre
    numbers = (positions[0].text or "").split()
    if len(numbers) not in (2, 3) or not all(_NUMBER.match(n) for n in numbers):
        raise ValueError(f"gml:pos {positions[0].text!r} is not 'latitude longitude'")
    lat, lon = float(numbers[0]), float(numbers[1])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"gml:pos {lat} {lon} is off the globe")
    return lat, lon


def _radius(shape: Element) -> float:
    radius = shape.find(f"{{{NS_GS}}}radius")
    if radius is None:
        raise ValueError("no gs:radius")
    if radius.get("uom") != UOM_METRE:
        raise ValueError(f"radius unit {radius.get('uom')!r} is not metres ({UOM_METRE})")
    text = (radius.text or "").strip()
    if not _NUMBER.match(text) or not 0 <= float(text) <= MAX_RADIUS_M \
            or not math.isfinite(float(text)):
        raise ValueError(f"radius {text!r} is not 0..{MAX_RADIUS_M:.0f} metres")
    return float(text)


def _civic(civic: Element) -> dict[str, str]:
    fields: dict[str, str] = {}
    lang = civic.get("{http://www.w3.org/XML/1998/namespace}lang")
    if lang:
        fields["lang"] = lang.strip()
    for child in _children(civic):
        uri, _, key = child.tag[1:].partition("}")
        value = " ".join((child.text or "").split())
        if uri == NS_CIVIC and key in CIVIC_KEYS and value and key not in fields:
            fields[key] = value
    return fields


def _confidence(info: Element) -> int | None:
    """RFC 7459 confidence (percent); absent means the RFC's default of 95 for a shape,
    which we leave unstated rather than invent."""
    element = info.find(f"{{{NS_CONFIDENCE}}}confidence")
    if element is None:
        return None
    text = (element.text or "").strip()
    if text.isdigit() and 0 < int(text) < 100:
        return int(text)
    return None
