"""Issue 21's measure: an incident can be saved for any of the 514 kab/kota after one
`places import`. The pinned idn-area-data tarball (`make venv` fetches it, checksum checked)
is imported whole, once; a routing config then names every kab/kota by its code, and for
each the desk's form has a kecamatan list, and an incident from its first kecamatan and
desa is saved through the incidents API into a real PostgreSQL (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.audit.trail import AuditLog
from ntpd_ivr.incidents.http import add_routes
from ntpd_ivr.incidents.rights import CallRights
from ntpd_ivr.incidents.schemas import incident_draft
from ntpd_ivr.incidents.service import IncidentService
from ntpd_ivr.places.importer import import_regencies
from ntpd_ivr.places.model import PlacesBook
from ntpd_ivr.places.package import DEFAULT_CACHE, INTEGRITY, TARBALL, read_package
from ntpd_ivr.routing.config import RoutingConfig, load_routing_config
from tests.protocol.webtools import Client, log_in, serving_web

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


@pytest.fixture(scope="module")
def every_region(every_regency: tuple[PlacesBook, Path]) -> RoutingConfig:
    """A routing config with one region per kab/kota, named only by its code."""
    book, folder = every_regency
    lines = ['default_region = "r-16-06"',
             "[categories.unclassified]", "priority = 5",
             "[categories.fire]", "priority = 10", "life_threatening = true"]
    for code in book.regencies:
        key = "r-" + code.replace(".", "-")
        lines += [f"[regions.{key}]", f'code = "{code}"', f'queue = "takers-{key}"']
    routing = folder / "routing.toml"
    routing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_routing_config(routing)


def first_place(config: RoutingConfig, key: str) -> dict[str, str]:
    kecamatan, desa = next(iter(config.regions[key].places.items()))
    return {"region": key, "category": "fire", "severity": "high", "kecamatan": kecamatan,
            "desa": desa[0], "description": "Kebakaran rumah"}


def test_every_kab_kota_gets_its_name_and_kecamatan_list(
        every_regency: tuple[PlacesBook, Path], every_region: RoutingConfig) -> None:
    book, _ = every_regency
    assert len(every_region.regions) == REGENCIES
    for key, region in every_region.regions.items():
        assert region.name == book.regencies[region.code].name
        draft = incident_draft(first_place(every_region, key), every_region)
        assert (draft.region, draft.kecamatan) == (key, next(iter(region.places)))


@pytest.fixture
async def incidents_api(db_engine: AsyncEngine, tmp_path: Path,
                        every_region: RoutingConfig) -> AsyncIterator[Client]:
    async with db_engine.begin() as conn:
        await conn.execute(text("TRUNCATE dispatches, call_dispositions, incidents, "
                                "audit_events RESTART IDENTITY"))
    service = IncidentService(db_engine, lambda: every_region)

    async def answered_by(call: str) -> str:
        return "taker-1"

    def extend(app: web.Application) -> None:
        add_routes(app, service, rights=CallRights(answered_by, AuditLog(db_engine)))

    async with serving_web(tmp_path, extend=extend) as client:
        yield client


async def test_an_incident_is_saved_in_every_kab_kota(
        incidents_api: Client, every_region: RoutingConfig, db_engine: AsyncEngine) -> None:
    headers = await log_in(incidents_api, "ani")
    for key in every_region.regions:
        reply = await incidents_api.post("/api/incidents", json=first_place(every_region, key),
                                         headers=headers)
        assert reply.status == 201, (key, await reply.text())
    async with db_engine.connect() as conn:
        saved = (await conn.execute(text(
            "SELECT count(DISTINCT region), count(*) FROM incidents"))).one()
    assert tuple(saved) == (REGENCIES, REGENCIES)
