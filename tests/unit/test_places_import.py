"""The places importer on a cut of the real idn-area-data (tests/places_data), the places
file it writes, and the routing config's regions that take their pick lists from it by
Kemendagri code. Mistakes are named by file and key (or line)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ntpd_ivr.errors import ConfigError
from ntpd_ivr.places.importer import import_regencies
from ntpd_ivr.places.model import parse_places, read_places, render_places
from ntpd_ivr.places.package import integrity_of, read_package
from ntpd_ivr.routing.config import load_routing_config, parse_routing_config
from tests.places_data import VERSION, fixture_package

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
TEXT = EXAMPLE.read_text(encoding="utf-8")


def by_code(text: str, region: str, code: str) -> str:
    """The example with a region's hand-typed places replaced by its Kemendagri code."""
    places = re.compile(rf"\[regions\.{region}\.places\]\n(\"[^\n]*\n)+")
    replaced, n = places.subn(f'code = "{code}"\n', text)
    assert n == 1
    return replaced


def muba_by_code(text: str = TEXT, code: str = "16.06") -> str:
    return by_code(text, "muba", code)


def test_the_package_reads_kab_kota_kecamatan_and_desa_by_code(tmp_path: Path) -> None:
    data = read_package(fixture_package(tmp_path), integrity=None)
    assert (data.package, data.version) == ("idn-area-data", VERSION)
    assert data.provinces == {"14": "Riau", "16": "Sumatera Selatan"}
    assert data.regencies["16.06"] == ("16", "Kabupaten Musi Banyuasin")
    muba = data.regency("16.06")
    assert (muba.name, muba.province, muba.level) == ("Kabupaten Musi Banyuasin",
                                                      "Sumatera Selatan", "kabupaten")
    assert len(muba.kecamatan) == 15
    sekayu = muba.kecamatan[0]
    assert (sekayu.code, sekayu.name) == ("16.06.01", "Sekayu")
    assert "Balai Agung" in {d.name for d in sekayu.desa}
    assert data.regency("16.71").level == "kota"
    assert data.regency_codes("16.")[:2] == ["16.01", "16.02"]


def test_an_unknown_or_empty_kab_kota_is_refused_with_what_is_known(tmp_path: Path) -> None:
    data = read_package(fixture_package(tmp_path), integrity=None)
    with pytest.raises(ConfigError, match=r"no kab/kota '16\.99' .*known: 16\.01, 16\.02"):
        data.regency("16.99")
    with pytest.raises(ConfigError, match=r"no kab/kota '33\.01' .*known: provinces 14, 16"):
        data.regency("33.01")
    with pytest.raises(ConfigError, match=r"16\.01 \(Kabupaten Ogan Komering Ulu\) has no "
                                          r"kecamatan"):
        data.regency("16.01")  # the fixture cut it out


def test_the_pinned_checksum_is_checked(tmp_path: Path) -> None:
    path = fixture_package(tmp_path)
    with pytest.raises(ConfigError, match=r"idn-area-data-fixture\.tgz: checksum sha512-.* is "
                                          r"not idn-area-data 4\.0\.1's"):
        read_package(path)
    assert read_package(path, integrity=integrity_of(path.read_bytes())).regencies


@pytest.mark.parametrize("name, text, message", [
    ("villages.csv", "code,name\n", r"villages\.csv: line 1: columns \['code', 'name'\]"),
    ("districts.csv", "code,regency_code,name\n16.06.01,16.06\n",
     r"districts\.csv: line 2: 2 columns, expected 3"),
    ("districts.csv", "code,regency_code,name\n16.6.01,16.06,Sekayu\n",
     r"districts\.csv: line 2: '16\.6\.01' is not a Kemendagri code"),
    ("districts.csv", "code,regency_code,name\n16.06.01,16.06,Sekayu  Baru\n",
     r"districts\.csv: line 2: 16\.06\.01: a place name"),
    ("districts.csv", "code,regency_code,name\n16.99.01,16.99,Sekayu\n",
     r"districts\.csv: line 2: parent '16\.99' is not in the package"),
])
def test_a_malformed_package_names_its_file_and_line(tmp_path: Path, name: str, text: str,
                                                      message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_package(fixture_package(tmp_path, replace={name: text}), integrity=None)


def test_import_writes_a_file_that_reads_back_and_keeps_other_regencies(tmp_path: Path) -> None:
    data = read_package(fixture_package(tmp_path), integrity=None)
    target = tmp_path / "conf" / "places.toml"
    seen: list[str] = []
    import_regencies(data, ["16.06"], target, lambda r: seen.append(r.code))
    book = import_regencies(data, ["16.71"], target, lambda r: seen.append(r.code))
    assert seen == ["16.06", "16.71"]
    assert sorted(book.regencies) == ["16.06", "16.71"]
    again = read_places(target)
    assert again.regencies == book.regencies
    assert (again.package, again.version) == ("idn-area-data", VERSION)
    assert again.regencies["16.06"].pick_lists()["Sekayu"][:2] == ("Kayu Ara", "Serasan Jaya")
    assert render_places(again, data.integrity) == target.read_text(encoding="utf-8")
    assert not list(target.parent.glob(".places.toml.*"))  # no scratch file left


def test_a_desa_and_a_kelurahan_of_one_name_are_told_apart(tmp_path: Path) -> None:
    data = read_package(fixture_package(tmp_path), integrity=None)
    lists = data.regency("14.07").pick_lists()
    panipahan = next(desa for desa in lists.values() if "Panipahan (desa)" in desa)
    assert "Panipahan (kelurahan)" in panipahan
    for desa in lists.values():  # each name once, as the routing config's own lists must be
        assert len({d.casefold() for d in desa}) == len(desa)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('version = "4.0.1-fixture"\n', ""), r"source\.version: missing"),
    (lambda t: t.replace('[regencies."16.06"]', '[regencies."16.6"]', 1),
     r"regencies\.16\.6: not a Kemendagri kab/kota code"),
    (lambda t: t.replace('"16.06.01.2001" = "Sukarami"', '"16.06.02.2001" = "Sukarami"'),
     r"regencies\.16\.06\.kecamatan\.16\.06\.01\.desa\.16\.06\.02\.2001: not a desa"),
    (lambda t: t.replace('name = "Sekayu"', 'name = " Sekayu"'),
     r"regencies\.16\.06\.kecamatan\.16\.06\.01\.name: a place name"),
    (lambda t: t.replace('name = "Lais"', 'name = "sekayu"'),
     r"regencies\.16\.06\.kecamatan\.16\.06\.\d\d\.name: the same kecamatan as "
     r"16\.06\.01"),
    (lambda t: "colour = 1\n" + t, r"colour: unknown key"),
])
def test_a_malformed_places_file_names_its_file_and_key(tmp_path: Path, edit: object,
                                                        message: str) -> None:
    data = read_package(fixture_package(tmp_path), integrity=None)
    target = tmp_path / "places.toml"
    import_regencies(data, ["16.06"], target)
    assert callable(edit)
    with pytest.raises(ConfigError, match=f"^{re.escape(str(target))}: {message}"):
        parse_places(edit(target.read_text(encoding="utf-8")), str(target))


def test_a_region_with_a_code_takes_the_imported_places(tmp_path: Path) -> None:
    import_regencies(read_package(fixture_package(tmp_path), integrity=None), ["16.06"],
                     tmp_path / "places.toml")
    routing = tmp_path / "routing.toml"
    routing.write_text(muba_by_code().replace('name = "Kabupaten Musi Banyuasin"\n', "", 1),
                       encoding="utf-8")
    muba = load_routing_config(routing).regions["muba"]
    assert muba.code == "16.06"
    assert muba.name == "Kabupaten Musi Banyuasin"  # from the data, when the config has none
    assert len(muba.places) == 15
    assert "Balai Agung" in muba.places["Sekayu"]
    assert "Bayung Lencir" in muba.places


def test_places_file_is_relative_to_the_routing_config(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    import_regencies(read_package(fixture_package(tmp_path), integrity=None), ["16.06"],
                     tmp_path / "data" / "muba-places.toml")
    text = 'places_file = "data/muba-places.toml"\n' + muba_by_code()
    assert parse_routing_config(text, str(tmp_path / "routing.toml")).regions["muba"].places


@pytest.mark.parametrize("edit, message", [
    (lambda t: muba_by_code(t, "16.6"), r"regions\.muba\.code: a Kemendagri kab/kota code is "
                                        r"NN\.NN"),
    (lambda t: muba_by_code(t, "16.07"), r"regions\.muba\.code: kab/kota 16\.07 is not in "
                                         r".*places\.toml \(imported: 16\.06\): run `ntpd-ivr "
                                         r"places import --regency 16\.07`"),
    (lambda t: TEXT.replace("[regions.muba.places]\n", '[regions.muba.places]\n"Lalan Baru" = '
                            '["A"]\n', 1).replace('caller_prefixes = ["0714"]',
                                                   'caller_prefixes = ["0714"]\ncode = "16.06"'),
     r"regions\.muba\.places: the region has code 16\.06"),
    (lambda t: by_code(muba_by_code(t), "palembang", "16.06"),
     r"regions\.muba\.code: 16\.06 is already regions\.palembang\.code"),
    (lambda t: 'places_file = "elsewhere.toml"\n' + muba_by_code(t),
     r"regions\.muba\.code: .*elsewhere\.toml: places file not found: `ntpd-ivr places "
     r"import` writes it \(run `ntpd-ivr places import --regency 16\.06`\)"),
])
def test_a_wrong_code_is_named_by_file_and_key(tmp_path: Path, edit: object,
                                               message: str) -> None:
    import_regencies(read_package(fixture_package(tmp_path), integrity=None), ["16.06"],
                     tmp_path / "places.toml")
    assert callable(edit)
    origin = str(tmp_path / "routing.toml")
    with pytest.raises(ConfigError, match=f"^{re.escape(origin)}: {message}"):
        parse_routing_config(edit(TEXT), origin)
