"""Issue 21's measure: an incident can be saved for any of the 514 kab/kota after one
`places import`. The pinned idn-area-data tarball (`make venv` fetches it, checksum checked)
is imported whole, once; a routing config then names every kab/kota by its code, and for
each the desk's form has a kecamatan list and a draft from its first kecamatan and desa
passes the incidents API's own validation (ntpd_ivr/incidents/schemas.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntpd_ivr.incidents.schemas import incident_draft
from ntpd_ivr.places.importer import import_regencies
from ntpd_ivr.places.model import PlacesBook
from ntpd_ivr.places.package import DEFAULT_CACHE, INTEGRITY, TARBALL, read_package
from ntpd_ivr.routing.config import load_routing_config

REGENCIES = 514  # kab/kota in idn-area-data 4.0.1, as the issue counts them


@pytest.fixture(scope="module")
def every_regency(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlacesBook, Path]:
    data = read_package(DEFAULT_CACHE / TARBALL, integrity=INTEGRITY)
    folder = tmp_path_factory.mktemp("every-regency")
    book = import_regencies(data, data.regency_codes(), folder / "places.toml")
    return book, folder


def test_the_package_has_every_kab_kota_each_with_kecamatan_and_desa(
        every_regency: tuple[PlacesBook, Path]) -> None:
    book, _ = every_regency
    assert len(book.regencies) == REGENCIES
    assert len({code.split(".")[0] for code in book.regencies}) == 38  # provinces
    for regency in book.regencies.values():
        assert regency.kecamatan, regency.code
        for kecamatan in regency.kecamatan:
            assert kecamatan.desa, kecamatan.code
        for desa in regency.pick_lists().values():
            assert len({d.casefold() for d in desa}) == len(desa), regency.code
    muba = book.regencies["16.06"]
    assert (muba.name, len(muba.kecamatan)) == ("Kabupaten Musi Banyuasin", 15)


def test_an_incident_draft_is_valid_in_every_kab_kota(
        every_regency: tuple[PlacesBook, Path]) -> None:
    book, folder = every_regency
    lines = ['default_region = "r-16-06"',
             "[categories.unclassified]", "priority = 5",
             "[categories.fire]", "priority = 10", "life_threatening = true"]
    for code in book.regencies:
        key = "r-" + code.replace(".", "-")
        lines += [f"[regions.{key}]", f'code = "{code}"', f'queue = "takers-{key}"']
    routing = folder / "routing.toml"
    routing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = load_routing_config(routing)
    assert len(config.regions) == REGENCIES
    for key, region in config.regions.items():
        assert region.name == book.regencies[region.code].name
        kecamatan, desa = next(iter(region.places.items()))
        draft = incident_draft({"region": key, "category": "fire", "severity": "high",
                                "kecamatan": kecamatan, "desa": desa[0],
                                "description": "Kebakaran rumah"}, config)
        assert (draft.region, draft.kecamatan, draft.desa) == (key, kecamatan, desa[0])
