"""Asterisk's ${GEOLOC_PROFILE(effective_location)} into a Location, and the two AGI
arguments the dialplan passes, table by table."""

from __future__ import annotations

import re
from base64 import b64encode
from pathlib import Path

import pytest

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.location.eprofile import parse_effective_location, split_varlist
from ntpd_ivr.location.service import from_dialplan

# As Asterisk 22.10.1 printed them (the first two seen end to end, tests/e2e).
CIRCLE = 'shape="Circle",crs="2d",pos="-2.9761 104.7754",radius="50"'
CIVIC = ('lang="id",country="ID",A1="Sumatera Selatan",A2="Musi Banyuasin",A3="Sekayu",'
         'A4="Balai Agung",RD="Jalan Merdeka",HNO="12",PC="30711"')

VALID = [
    # (effective_location, kind, lat, lon, radius_m, civic subset)
    (CIRCLE, "circle", -2.9761, 104.7754, 50.0, {}),
    ('shape="Circle",crs="2d",pos="-2.9 104.7",radius="75.5 urn:ogc:def:uom:EPSG::9001"',
     "circle", -2.9, 104.7, 75.5, {}),
    ('shape="Point",crs="2d",pos="-2.9761 104.7754"', "point", -2.9761, 104.7754, None, {}),
    ('shape="Point",crs="3d",pos="-2.9 104.7 30"', "point", -2.9, 104.7, None, {}),
    (CIVIC, "civic", None, None, None, {"A3": "Sekayu", "lang": "id", "HNO": "12"}),
    # No escaping in Asterisk's list: a value may hold a comma or a quote.
    ('country="ID",RD="Jalan Merdeka, Lorong 3",NAM="Toko "Maju""', "civic", None, None,
     None, {"RD": "Jalan Merdeka, Lorong 3", "NAM": 'Toko "Maju"'}),
    ('shape="Ellipse",crs="2d",pos="-3.1 104.2",semiMajorAxis="100",semiMinorAxis="50",'
     'orientation="45 degrees"', "unsupported", -3.1, 104.2, None, {}),
    ('shape="Polygon",crs="2d",posList="1 1 1 2 2 2 1 1"', "unsupported", None, None, None,
     {}),
    ('URI="https://lis.operator.invalid/loc/42"', "unsupported", None, None, None, {}),
    ("", "none", None, None, None, {}),
]


@pytest.mark.parametrize(("text", "kind", "lat", "lon", "radius", "civic"), VALID)
def test_effective_location(text: str, kind: str, lat: float | None, lon: float | None,
                            radius: float | None, civic: dict[str, str]) -> None:
    location = parse_effective_location(text)
    assert (location.kind, location.lat, location.lon, location.radius_m) == (
        kind, lat, lon, radius), location.error
    assert civic.items() <= dict(location.civic).items()


MALFORMED = [
    ("shape=Circle", "not a name"),
    ('shape="Circle",', "not a name"),
    ("garbage", "not a name"),
    ('shape="Circle",crs="unknown",pos="1 2",radius="5"', "not WGS 84"),
    ('shape="Point",crs="2d"', "is not 'latitude longitude'"),
    ('shape="Point",crs="2d",pos="north east"', "is not 'latitude longitude'"),
    ('shape="Point",crs="2d",pos="95 10"', "off the globe"),
    ('shape="Circle",crs="2d",pos="1 2"', "radius"),
    ('shape="Circle",crs="2d",pos="1 2",radius="50 feet"', "radius"),
    ('shape="Circle",crs="2d",pos="1 2",radius="nan"', "radius"),
    ('lang="id"', "neither a GML shape nor a civic"),
    ('XYZ="1",foo="2"', "neither a GML shape nor a civic"),
]


@pytest.mark.parametrize(("text", "reason"), MALFORMED)
def test_malformed_effective_location(text: str, reason: str) -> None:
    location = parse_effective_location(text)
    assert location.kind == "malformed"
    assert reason in (location.error or "")
    assert location.raw == text


def test_split_varlist_takes_only_whole_lists() -> None:
    assert split_varlist('a="1",b=""') == {"a": "1", "b": ""}
    # Unescaped, so a value runs to the next `,name="` or the end, whatever it holds.
    assert split_varlist('a="1" ,b="2"') == {"a": '1" ,b="2'}
    assert split_varlist('a="1",b="2",') is None
    assert split_varlist('a="1",b=2') is None
    assert split_varlist(',a="1"') is None


def b64(text: str) -> str:
    return b64encode(text.encode()).decode()


HEADER = "<cid:caller-location@operator.invalid>"


@pytest.mark.parametrize(("location", "header", "kind", "raw"), [
    (b64(CIRCLE), b64(HEADER), "circle", CIRCLE),
    ("", "", "none", None),
    ("", b64(HEADER), "malformed", f"Geolocation: {HEADER}"),
    ("", "%%%", "malformed", "Geolocation: %%%"),
    (b64('lang="id"'), b64(HEADER), "malformed", 'lang="id"'),
    (b64(CIRCLE)[:-3], b64(HEADER), "malformed", b64(CIRCLE)[:-3]),
    ("A" * 20000, b64(HEADER), "malformed", "A" * 256),
])
def test_from_dialplan(location: str, header: str, kind: str, raw: str | None) -> None:
    result = from_dialplan(location, header)
    assert (result.kind, result.raw) == (kind, raw), result.error


def test_the_dialplan_passes_the_location_where_the_ivr_reads_it() -> None:
    dialplan = (Path(__file__).resolve().parents[2] / "dialplan"
                / "ntpd-emergency.conf").read_text()
    [args] = re.findall(rf"AGI\(\$\{{{dp.VAR_AGI_URL}\}}/{dp.SCRIPT_EMERGENCY_IVR},(.*)\)",
                        dialplan)
    # EmergencyIvr reads args[2] as the location and args[3] as the header (args[4]: the
    # Call-Info of a neighbour's transfer, ntpd_ivr/transfer; args[5]: the overflow region
    # another center's edge names, ntpd_ivr/ivr/overflow.py).
    assert args.split(",") == [f"${{{name}}}" for name in (
        dp.VAR_DIALED, dp.VAR_TRUNK, dp.VAR_LOCATION, dp.VAR_GEOLOCATION, dp.VAR_CALL_INFO,
        dp.VAR_OVERFLOW_REGION)]
    assert f"Set({dp.VAR_LOCATION}=${{BASE64_ENCODE(${{GEOLOC_PROFILE(effective_location)}})}})" \
        in dialplan
    assert f"Set({dp.VAR_GEOLOCATION}=${{BASE64_ENCODE(${{PJSIP_HEADER(read,Geolocation)}})}})" \
        in dialplan
