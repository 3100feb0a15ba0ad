"""PIDF-LO into a Location: the shapes of RFC 5491 and RFC 5139, and everything a network
can get wrong, each a malformed result with a reason, never an exception."""

from __future__ import annotations

import random

import pytest

from ntpd_ivr.location.model import Location
from ntpd_ivr.location.pidf import MAX_BYTES, parse_pidf
from tests import pidf_samples as pidf

METRE = "urn:ogc:def:uom:EPSG::9001"

VALID = [
    # (name, document, kind, lat, lon, radius_m, confidence)
    ("point", pidf.point(-2.9761, 104.7754), "point", -2.9761, 104.7754, None, None),
    ("point 3d", pidf.device('<gml:Point srsName="urn:ogc:def:crs:EPSG::4979">'
                             '<gml:pos>-2.5 103.9 12</gml:pos></gml:Point>'),
     "point", -2.5, 103.9, None, None),
    ("circle", pidf.circle(-2.9761, 104.7754, "50"), "circle", -2.9761, 104.7754, 50.0, None),
    ("circle with confidence", pidf.circle(-2.9, 104.7, "250.5", confidence="68"),
     "circle", -2.9, 104.7, 250.5, 68),
    ("circle, zero radius", pidf.circle(0, 0, "0"), "circle", 0.0, 0.0, 0.0, None),
    ("ellipse keeps its centre", pidf.device(
        f'<gs:Ellipse srsName="{pidf.WGS84}"><gml:pos>-3.1 104.2</gml:pos>'
        f'<gs:semiMajorAxis uom="{METRE}">100</gs:semiMajorAxis>'
        f'<gs:semiMinorAxis uom="{METRE}">50</gs:semiMinorAxis>'
        f'<gs:orientation uom="urn:ogc:def:uom:EPSG::9102">45</gs:orientation></gs:Ellipse>'),
     "unsupported", -3.1, 104.2, None, None),
    ("polygon has no single centre", pidf.device(
        f'<gml:Polygon srsName="{pidf.WGS84}"><gml:exterior><gml:LinearRing>'
        f'<gml:posList>1 1 1 2 2 2 1 1</gml:posList></gml:LinearRing></gml:exterior>'
        f'</gml:Polygon>'), "unsupported", None, None, None, None),
]


@pytest.mark.parametrize(("name", "document", "kind", "lat", "lon", "radius", "confidence"),
                         VALID, ids=[row[0] for row in VALID])
def test_shapes(name: str, document: str, kind: str, lat: float | None, lon: float | None,
                radius: float | None, confidence: int | None) -> None:
    location = parse_pidf(document)
    assert (location.kind, location.lat, location.lon, location.radius_m,
            location.confidence) == (kind, lat, lon, radius, confidence), location.error
    assert location.source == "network"
    assert location.raw == document


def test_civic_address_keeps_the_rfc_5139_fields_and_drops_unknown_ones() -> None:
    location = parse_pidf(pidf.civic(**pidf.SEKAYU_CIVIC, XYZ="not a civic element",
                                     RD_="x"))
    assert location.kind == "civic"
    assert dict(location.civic) == {**pidf.SEKAYU_CIVIC, "lang": "id"}
    assert location.lat is None
    assert location.civic_json() == (
        '{"A1":"Sumatera Selatan","A2":"Musi Banyuasin","A3":"Sekayu","A4":"Balai Agung",'
        '"HNO":"12","PC":"30711","RD":"Jalan Merdeka","country":"ID","lang":"id"}')


def test_civic_whitespace_is_folded() -> None:
    location = parse_pidf(pidf.civic(RD="  Jalan\n   Merdeka  ", A3="Sekayu"))
    assert location.civic["RD"] == "Jalan Merdeka"


def test_a_shape_and_a_civic_address_in_one_location_info_keep_both() -> None:
    location = parse_pidf(pidf.device(
        f'<gml:Point srsName="{pidf.WGS84}"><gml:pos>-2.9 104.7</gml:pos></gml:Point>'
        '<ca:civicAddress><ca:A3>Sekayu</ca:A3></ca:civicAddress>'))
    assert (location.kind, location.lat, dict(location.civic)) == ("point", -2.9,
                                                                   {"A3": "Sekayu"})


def test_the_first_usable_location_info_wins() -> None:
    document = (pidf.HEAD
                + '<tuple id="a"><status><gp:geopriv><gp:location-info>'
                  '<gml:Point srsName="urn:x"><gml:pos>1 2</gml:pos></gml:Point>'
                  '</gp:location-info></gp:geopriv></status></tuple>'
                + '<tuple id="b"><status><gp:geopriv><gp:location-info>'
                  f'<gml:Point srsName="{pidf.WGS84}"><gml:pos>3 4</gml:pos></gml:Point>'
                  '</gp:location-info></gp:geopriv></status></tuple>' + pidf.TAIL)
    assert (parse_pidf(document).kind, parse_pidf(document).lat) == ("point", 3.0)


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'
                            .replace("&lol0;", "&lol;") for i in range(1, 10))
                  + ']><presence xmlns="urn:ietf:params:xml:ns:pidf">&lol9;</presence>')
XXE = ('<?xml version="1.0"?><!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       '<presence xmlns="urn:ietf:params:xml:ns:pidf">&xxe;</presence>')

MALFORMED = [
    # (name, document, words the reason must hold)
    ("empty", "", "empty"),
    ("blank", "  \r\n ", "empty"),
    ("garbage", "this is not xml", "not XML"),
    ("binary", b"\x00\xff\xfe<presence", "not XML"),
    ("cut short", pidf.circle(1, 2)[:200], "not XML"),
    ("oversized", pidf.HEAD + "<!--" + "x" * MAX_BYTES + "-->" + pidf.TAIL, "larger than"),
    ("billion laughs", BILLION_LAUGHS, "DTD"),
    ("external entity", XXE, "DTD"),
    ("unknown encoding", pidf.point(1, 2).replace('encoding="UTF-8"', 'encoding="UT2F-8"'),
     "not XML"),
    ("undeclared entity", pidf.HEAD + "&nope;" + pidf.TAIL, "not XML"),
    ("wrong namespace", pidf.point(1, 2).replace('xmlns="urn:ietf:params:xml:ns:pidf"',
                                                 'xmlns="urn:example:presence"'),
     "not a PIDF presence"),
    ("no namespace", "<presence><tuple/></presence>", "not a PIDF presence"),
    ("no location-info", pidf.HEAD + "<tuple id='t'/>" + pidf.TAIL, "no geopriv"),
    ("empty location-info", pidf.device(""), "neither a GML shape"),
    ("empty civic address", pidf.device("<ca:civicAddress/>"), "without any element"),
    ("other crs", pidf.point(1, 2, srs="urn:ogc:def:crs:EPSG::3857"), "not WGS 84"),
    ("pos not numbers", pidf.point("abc", "def"), "not 'latitude longitude'"),  # type: ignore[arg-type]
    ("nan pos", pidf.point("nan", "1"), "not 'latitude longitude'"),  # type: ignore[arg-type]
    ("latitude off the globe", pidf.point(91, 2), "off the globe"),
    ("longitude off the globe", pidf.point(1, -180.5), "off the globe"),
    ("point with two pos", pidf.device(
        f'<gml:Point srsName="{pidf.WGS84}"><gml:pos>1 2</gml:pos><gml:pos>3 4</gml:pos>'
        '</gml:Point>'), "one gml:pos"),
    ("circle without radius", pidf.device(
        f'<gs:Circle srsName="{pidf.WGS84}"><gml:pos>1 2</gml:pos></gs:Circle>'), "no gs:radius"),
    ("radius in feet", pidf.circle(1, 2, "50", uom="urn:ogc:def:uom:EPSG::9002"), "not metres"),
    ("negative radius", pidf.circle(1, 2, "-5"), "metres"),
    ("huge radius", pidf.circle(1, 2, "1e9"), "metres"),
    ("infinite radius", pidf.circle(1, 2, "inf"), "metres"),
]


@pytest.mark.parametrize(("name", "document", "reason"), MALFORMED,
                         ids=[row[0] for row in MALFORMED])
def test_malformed(name: str, document: str | bytes, reason: str) -> None:
    location = parse_pidf(document)
    assert location.kind == "malformed"
    assert reason in (location.error or ""), location.error
    assert location.lat is None and location.radius_m is None
    assert location.raw is not None and len(location.raw) <= 4096


def test_a_parser_fault_inside_expat_never_escapes() -> None:
    # Deep nesting: expat and the tree builder cope, and the answer is still a value.
    deep = pidf.HEAD + "<a>" * 5000 + "</a>" * 5000 + pidf.TAIL
    assert parse_pidf(deep).kind == "malformed"


def test_call_taker_location_needs_a_kecamatan_and_real_coordinates() -> None:
    entered = Location.entered_by_call_taker(address="Jl. Merdeka 12, depan masjid",
                                             kecamatan="Sekayu", desa="Balai Agung",
                                             lat=-2.88, lon=103.85)
    assert (entered.kind, entered.source, entered.lat) == ("civic", "call-taker", -2.88)
    assert dict(entered.civic) == {"A3": "Sekayu", "A4": "Balai Agung",
                                   "LOC": "Jl. Merdeka 12, depan masjid"}
    with pytest.raises(ValueError, match="kecamatan"):
        Location.entered_by_call_taker(address="x", kecamatan=" ")
    with pytest.raises(ValueError, match="latitude"):
        Location.entered_by_call_taker(address="x", kecamatan="Sekayu", lat=95, lon=1)
    with pytest.raises(ValueError, match="together"):
        Location.entered_by_call_taker(address="x", kecamatan="Sekayu", lat=1)


def test_mangled_documents_give_a_location_never_an_exception() -> None:
    # Fixed seed: the same 2000 mutants of valid documents on every run.
    from ntpd_ivr.location.eprofile import parse_effective_location

    rng = random.Random(112)
    seeds = [pidf.circle(-2.9761, 104.7754, "50", confidence="68"),
             pidf.civic(**pidf.SEKAYU_CIVIC), pidf.point(-2.9, 104.7),
             'shape="Circle",crs="2d",pos="-2.9761 104.7754",radius="50"',
             'lang="id",country="ID",A3="Sekayu",RD="Jalan Merdeka, Lorong 3"']
    alphabet = '<>/="\' ,.-0123456789e:&;!?[]\x00\u00e9abcxyz'
    kinds = set()
    for _ in range(2000):
        text = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text))
            action = rng.randrange(3)
            if action == 0:
                del text[at]
            elif action == 1:
                text[at] = rng.choice(alphabet)
            else:
                text.insert(at, rng.choice(alphabet))
        mutant = "".join(text)
        for parse in (parse_pidf, parse_effective_location):
            location = parse(mutant)
            assert isinstance(location, Location)
            # The safety net in each parser is for faults of ours: a mutant must not need it.
            assert "internal error" not in (location.error or ""), (mutant, location.error)
            kinds.add(location.kind)
    assert {"malformed", "circle", "civic"} <= kinds
