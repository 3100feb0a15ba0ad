"""A location into the call record: every Location the parsers give makes a CallUpdate
that the spool carries unchanged and the upsert row holds."""

from __future__ import annotations

import json

import pytest

from ntpd_ivr.calls.spool import decode_line, encode_line
from ntpd_ivr.calls.store import ROW_COLUMNS, merge_updates
from ntpd_ivr.calls.values import CallUpdate
from ntpd_ivr.location.eprofile import parse_effective_location
from ntpd_ivr.location.model import Location
from ntpd_ivr.location.pidf import parse_pidf
from ntpd_ivr.location.service import record_fields
from tests import pidf_samples as pidf

LOCATIONS = {
    "circle": parse_pidf(pidf.circle(-2.9761, 104.7754, "50", confidence="90")),
    "civic": parse_pidf(pidf.civic(**pidf.SEKAYU_CIVIC)),
    "asterisk circle": parse_effective_location(
        'shape="Circle",crs="2d",pos="-2.9761 104.7754",radius="50"'),
    "malformed with NUL": parse_pidf(b"\x00<presence"),
    "unsupported": parse_effective_location('URI="https://lis.invalid/1"'),
    "call-taker": Location.entered_by_call_taker(address="Jl. Merdeka 12", kecamatan="Sekayu",
                                                 desa="Balai Agung", lat=-2.88, lon=103.85),
    "none": Location.none(),
}


@pytest.mark.parametrize("name", list(LOCATIONS))
def test_every_location_is_storable_and_survives_the_spool(name: str) -> None:
    location = LOCATIONS[name]
    update = CallUpdate("1700000000.1", 1_700_000_000.0, **record_fields(location))
    assert decode_line(encode_line(update)) == update
    [row] = merge_updates([update])
    assert set(row) == set(ROW_COLUMNS)
    assert (row["location_kind"], row["location_lat"], row["location_lon"],
            row["location_radius_m"]) == (location.kind, location.lat, location.lon,
                                          location.radius_m)
    civic = row["location_civic"]
    assert (json.loads(civic) if civic else {}) == dict(location.civic)
    assert row["location_source"] == (None if name == "none" else location.source)
    assert "\x00" not in (row["location_raw"] or "")


def test_a_circle_sets_its_columns() -> None:
    fields = record_fields(LOCATIONS["circle"])
    assert {k: v for k, v in fields.items() if v is not None and k != "location_raw"} == {
        "location_kind": "circle", "location_source": "network", "location_lat": -2.9761,
        "location_lon": 104.7754, "location_radius_m": 50.0, "location_confidence": 90,
        "location_shape": "Circle"}


@pytest.mark.parametrize(("field", "value"), [
    ("location_lat", float("nan")), ("location_lon", float("inf")), ("location_lat", "1.0"),
    ("location_radius_m", True), ("location_confidence", 101), ("location_confidence", 5.5),
])
def test_call_update_refuses_what_postgresql_would(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        CallUpdate("1700000000.1", 1_700_000_000.0, **{field: value})  # type: ignore[arg-type]
