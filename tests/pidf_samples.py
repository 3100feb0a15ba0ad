"""PIDF-LO documents (RFC 4119, RFC 5491, RFC 5139) for the parser's unit tests and the
SIPp caller of the end-to-end tests. One line each: SIPp takes them as a -key value."""

from __future__ import annotations

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf"'
        ' xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"'
        ' xmlns:gml="http://www.opengis.net/gml"'
        ' xmlns:gs="http://www.opengis.net/pidflo/1.0"'
        ' xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"'
        ' xmlns:con="urn:ietf:params:xml:ns:geopriv:conf"'
        ' xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'
        ' entity="pres:caller@operator.invalid">')
TAIL = '</presence>'
WGS84 = "urn:ogc:def:crs:EPSG::4326"


def device(location_info: str) -> str:
    """A whole document: one dm:device with this gp:location-info content."""
    return (f'{HEAD}<dm:device id="handset"><gp:geopriv><gp:location-info>{location_info}'
            f'</gp:location-info><gp:usage-rules/><gp:method>Cell</gp:method></gp:geopriv>'
            f'<dm:timestamp>2026-11-29T10:00:00Z</dm:timestamp></dm:device>{TAIL}')


def point(lat: float, lon: float, srs: str = WGS84) -> str:
    return device(f'<gml:Point srsName="{srs}"><gml:pos>{lat} {lon}</gml:pos></gml:Point>')


def circle(lat: float, lon: float, radius: str = "50", confidence: str = "",
           uom: str = "urn:ogc:def:uom:EPSG::9001") -> str:
    con = f'<con:confidence pdf="normal">{confidence}</con:confidence>' if confidence else ""
    return device(f'<gs:Circle srsName="{WGS84}"><gml:pos>{lat} {lon}</gml:pos>'
                  f'<gs:radius uom="{uom}">{radius}</gs:radius></gs:Circle>{con}')


def civic(**fields: str) -> str:
    elements = "".join(f"<ca:{key}>{value}</ca:{key}>" for key, value in fields.items())
    return device(f'<ca:civicAddress xml:lang="id">{elements}</ca:civicAddress>')


# Muba Siaga 112: a house in Sekayu, Musi Banyuasin (South Sumatra).
SEKAYU_CIVIC = {"country": "ID", "A1": "Sumatera Selatan", "A2": "Musi Banyuasin",
                "A3": "Sekayu", "A4": "Balai Agung", "RD": "Jalan Merdeka", "HNO": "12",
                "PC": "30711"}
