"""Region boundaries (routing config `regions.<r>.boundary`, ntpd_ivr/location/config.py and
model.py): point-in-polygon, the reverse look-up into kecamatan/desa, the wrong-regency
check, and `config check`'s errors that name the file, the key and the feature."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ntpd_ivr.errors import ConfigError
from ntpd_ivr.location.config import BoundaryError, parse_boundary
from ntpd_ivr.location.model import in_polygon, locate, map_config
from ntpd_ivr.routing.config import load_routing_config, parse_routing_config
from ntpd_ivr.settings import load_settings
from ntpd_ivr.web.app import MapTiles
from tests.boundaries import example_with_boundaries

SQUARE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0))
HOLE = ((4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0), (4.0, 4.0))
# A "U": the notch between x 4..6 above y 3 is outside.
U_SHAPE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (6.0, 10.0), (6.0, 3.0), (4.0, 3.0),
           (4.0, 10.0), (0.0, 10.0), (0.0, 0.0))


@pytest.mark.parametrize(("polygon", "lon", "lat", "inside"), [
    ((SQUARE,), 5, 5, True),
    ((SQUARE,), 11, 5, False),
    ((SQUARE,), 5, -0.1, False),
    ((SQUARE, HOLE), 5, 5, False),       # in the hole
    ((SQUARE, HOLE), 2, 5, True),
    ((U_SHAPE,), 5, 8, False),           # in the notch
    ((U_SHAPE,), 5, 2, True),
    ((U_SHAPE,), 8, 8, True),
])
def test_point_in_polygon(polygon: Any, lon: float, lat: float, inside: bool) -> None:
    assert in_polygon(polygon, lon, lat) is inside


def feature(ring: list[list[float]], **properties: str) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties,
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def test_the_reverse_look_up_names_the_desa_then_the_kecamatan() -> None:
    boundary = parse_boundary({"type": "FeatureCollection", "features": [
        feature(box(0, 0, 10, 10)),
        feature(box(0, 0, 5, 10), kecamatan="Barat"),
        feature(box(5, 0, 10, 10), kecamatan="Timur"),
        feature(box(0, 0, 2, 2), kecamatan="Barat", desa="Pojok")]})
    assert boundary.place_of(1, 1) == ("Barat", "Pojok")
    assert boundary.place_of(5, 4) == ("Barat", "")
    assert boundary.place_of(5, 7) == ("Timur", "")
    assert boundary.holds(5, 5) and not boundary.holds(11, 5)


def test_without_an_outline_the_region_is_its_kecamatan() -> None:
    boundary = parse_boundary({"type": "MultiPolygon", "coordinates": [[box(0, 0, 1, 1)]]})
    assert boundary.holds(0.5, 0.5)
    only_kecamatan = parse_boundary(feature(box(0, 0, 1, 1), kecamatan="Satu"))
    assert only_kecamatan.holds(0.5, 0.5) and not only_kecamatan.holds(2, 2)


@pytest.mark.parametrize(("data", "says"), [
    ({"type": "Point", "coordinates": [0, 0]}, "type: FeatureCollection"),
    ({"type": "FeatureCollection", "features": []}, "features: a non-empty list"),
    (feature([[0, 0], [1, 0], [1, 1], [0, 1]]), "features[0].geometry.coordinates[0]: "
                                                "the ring is not closed"),
    (feature([[0, 0], [1, 0], [0, 0]]), "a ring has 4 positions or more"),
    (feature(box(0, 0, 1, 200)), "is off the globe"),
    (feature([[0, 0], [1, "x"], [1, 1], [0, 0]]), "is not a [lon, lat] position"),
    (feature(box(0, 0, 1, 1), desa="Pojok"), "features[0].properties: a desa names its "
                                             "kecamatan"),
    ({"type": "Feature", "properties": {}, "geometry": {"type": "LineString",
                                                        "coordinates": [[0, 0], [1, 1]]}},
     "features[0].geometry: a Polygon or MultiPolygon is needed"),
])
def test_a_wrong_boundary_says_where(data: Any, says: str) -> None:
    with pytest.raises(BoundaryError) as raised:
        parse_boundary(data)
    assert says in str(raised.value)


def test_the_example_regions_locate_points_and_warn_of_the_wrong_regency(
        tmp_path: Path) -> None:
    regions = load_routing_config(example_with_boundaries(tmp_path)).regions.values()
    in_palembang = locate(regions, "palembang", -2.9761, 104.7754)
    assert (in_palembang.inside, in_palembang.region) == (True, "palembang")
    assert (in_palembang.kecamatan, in_palembang.desa) == ("Bukit Kecil", "26 Ilir")
    # A Palembang call whose caller is in Sekayu: outside, and in Musi Banyuasin.
    in_sekayu = locate(regions, "palembang", -2.89, 103.85)
    assert in_sekayu.inside is False
    assert (in_sekayu.region, in_sekayu.region_name) == ("muba", "Kabupaten Musi Banyuasin")
    assert (in_sekayu.kecamatan, in_sekayu.desa) == ("Sekayu", "Balai Agung")
    # The province's call: inside it, and the regency is the more specific answer.
    from_province = locate(regions, "sumsel", -2.89, 103.85)
    assert (from_province.inside, from_province.region) == (True, "muba")
    nowhere = locate(regions, "muba", 0.5, 101.0)  # Riau: no region of ours
    assert (nowhere.inside, nowhere.region) == (False, None)
    assert nowhere.to_json()["kecamatan"] is None
    with pytest.raises(ValueError, match="latitude"):
        locate(regions, "muba", 91, 0)


def test_a_region_without_a_boundary_has_nothing_to_say(tmp_path: Path) -> None:
    routing = load_routing_config(example_with_boundaries(tmp_path))
    assert locate(routing.regions.values(), "nowhere", -2.9761, 104.7754).inside is None
    shown = map_config(routing.regions.values(), only=["muba"])
    assert list(shown["boundaries"]) == ["muba"]
    assert shown["boundaries"]["muba"]["geojson"]["type"] == "FeatureCollection"


REGION = """
default_region = "muba"
[menu]
1 = "ambulance"
[categories.ambulance]
priority = 10
[categories.unclassified]
priority = 5
[regions.muba]
queue = "takers-muba"
boundary = "{boundary}"
"""


def test_config_check_names_the_file_the_key_and_the_feature(tmp_path: Path) -> None:
    config = tmp_path / "routing.toml"

    def check(boundary: str) -> str:
        config.write_text(REGION.format(boundary=boundary), encoding="utf-8")
        with pytest.raises(ConfigError) as raised:
            load_routing_config(config)
        return str(raised.value)

    assert check("boundaries/none.geojson") == (
        f"{config}: regions.muba.boundary: {tmp_path}/boundaries/none.geojson: no such file")
    (tmp_path / "bad.geojson").write_text("{not json", encoding="utf-8")
    assert check("bad.geojson").startswith(
        f"{config}: regions.muba.boundary: {tmp_path}/bad.geojson: not JSON")
    (tmp_path / "open.geojson").write_text(json.dumps(feature([[0, 0], [1, 0], [1, 1], [0, 1]])),
                                           encoding="utf-8")
    assert "open.geojson: features[0].geometry.coordinates[0]: the ring is not closed" \
        in check("open.geojson")
    (tmp_path / "good.geojson").write_text(json.dumps(feature(box(103, -3, 104, -2))),
                                           encoding="utf-8")
    config.write_text(REGION.format(boundary="good.geojson"), encoding="utf-8")
    region = load_routing_config(config).regions["muba"]
    assert region.boundary is not None and region.boundary.holds(-2.5, 103.5)
    # No boundary key: none, as before.
    plain = parse_routing_config(REGION.replace('boundary = "{boundary}"\n', ""), "x.toml")
    assert plain.regions["muba"].boundary is None


@pytest.mark.parametrize(("url", "ok"), [
    ("", True), ("https://tiles.example.go.id/{z}/{x}/{y}.png", True),
    ("/tiles/{z}/{x}/{y}.png", True), ("https://tiles.example/{z}/{x}.png", False),
    ("ftp://tiles/{z}/{x}/{y}", False), ("https://t/{z}/{x}/{y}.png'; script-src *", False),
])
def test_the_tile_url_setting_is_checked(tmp_path: Path, url: str, ok: bool) -> None:
    file = tmp_path / "s.toml"
    file.write_text(f'[web]\nmap_tile_url = "{url}"\n[ami]\nsecret = "s3cret-s3cret"\n'
                    '[database]\nurl = "postgresql+asyncpg://x/y"\n', encoding="utf-8")
    if ok:
        assert load_settings(file, environ={}).web.map_tile_url == url
    else:
        with pytest.raises(ConfigError, match=r"web\.map_tile_url"):
            load_settings(file, environ={})


def test_the_tile_servers_origin_is_what_the_csp_lets_in() -> None:
    assert MapTiles().origin == ""
    assert MapTiles("/tiles/{z}/{x}/{y}.png").origin == ""  # this server: 'self'
    assert MapTiles("https://{s}.tiles.example.go.id/{z}/{x}/{y}.png").origin \
        == "https://*.tiles.example.go.id"
