"""`ntpd-ivr places import` as an operator runs it, then `ntpd-ivr config check`, then the
call-taker's desk (the real web app on a free port) offering the imported kecamatan and
desa/kelurahan of Musi Banyuasin, found by its Kemendagri code. The data is the cut of the
real package in tests/places_data."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ntpd_ivr.routing.config import RoutingConfig, load_routing_config
from ntpd_ivr.web.auth import UserStore
from ntpd_ivr.web.hub import DEFAULT_TOPICS, LiveHub
from ntpd_ivr.workspace import http as workspace_http
from ntpd_ivr.workspace.model import TOPICS
from ntpd_ivr.workspace.service import WorkspaceService
from tests.places_data import fixture_package
from tests.protocol.webtools import Client, log_in, serving_web
from tests.unit.test_places_import import TEXT, muba_by_code
from tests.workspace_fakes import FakeQueues, FakeStore

REPO = Path(__file__).resolve().parents[2]


def ntpd_ivr(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ntpd_ivr", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    """A center's routing config whose Musi Banyuasin region names only its code, after one
    `places import` into the places file next to it."""
    routing = tmp_path / "conf" / "routing.toml"
    routing.parent.mkdir()
    routing.write_text(muba_by_code(TEXT), encoding="utf-8")
    before = ntpd_ivr("config", "check", "--routing", routing)
    assert before.returncode == 2
    assert f"{routing}: regions.muba.code: " in before.stderr
    assert "run `ntpd-ivr places import --regency 16.06`" in before.stderr

    done = ntpd_ivr("places", "import", "--regency", "16.06", "--routing", routing,
                    "--package", fixture_package(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "16.06 Kabupaten Musi Banyuasin (Sumatera Selatan): 15 kecamatan, 242 " \
           "desa/kelurahan" in done.stdout
    assert f"wrote {routing.parent / 'places.toml'}: 1 kab/kota" in done.stdout
    return routing


def test_import_help_says_what_it_does() -> None:
    done = ntpd_ivr("places", "import", "--help")
    assert done.returncode == 0
    shown = " ".join(done.stdout.split())  # argparse wraps to the terminal's width
    for words in ("--regency CODE", "16.06 (Musi Banyuasin)", "--province CODE", "--all",
                  "places import --regency 16.06 --routing config/routing.toml"):
        assert words in shown


def test_list_shows_the_codes_of_a_province(tmp_path: Path) -> None:
    done = ntpd_ivr("places", "list", "--province", "16", "--package",
                    fixture_package(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 17 and all(line.startswith("16.") for line in lines)
    assert "16.06\tKabupaten Musi Banyuasin\tSumatera Selatan\t15 kecamatan" in lines


def test_import_refuses_an_unknown_regency_by_name(tmp_path: Path) -> None:
    done = ntpd_ivr("places", "import", "--regency", "16.99", "--out", tmp_path / "p.toml",
                    "--package", fixture_package(tmp_path))
    assert done.returncode == 2
    assert "no kab/kota '16.99' in idn-area-data 4.0.1-fixture (known: 16.01" in done.stderr
    assert not (tmp_path / "p.toml").exists()
    done = ntpd_ivr("places", "import", "--regency", "1606", "--out", tmp_path / "p.toml")
    assert done.returncode == 2 and "--regency 1606: a Kemendagri kab/kota code is NN.NN" \
        in done.stderr


def test_config_check_reads_the_imported_places(imported: Path, tmp_path: Path) -> None:
    # The center's own Asterisk files, rendered from this routing config, as `config check`
    # compares them.
    conf, dialplan = tmp_path / "asterisk-conf", tmp_path / "dialplan"
    shutil.copytree(REPO / "asterisk-conf", conf)
    shutil.copytree(REPO / "dialplan", dialplan)
    rendered = ntpd_ivr("config", "render", "--routing", imported, "--asterisk-conf", conf,
                        "--out", dialplan)
    assert rendered.returncode == 0, rendered.stderr
    done = ntpd_ivr("config", "check", "--routing", imported, "--asterisk-conf", conf,
                    "--dialplan", dialplan)
    assert done.returncode == 0, done.stderr
    assert f"{imported}: 3 region(s)" in done.stdout and "OK" in done.stdout
    # The fixture is not the pinned release: said, not refused.
    assert f"warning: {imported.parent / 'places.toml'}: imported from idn-area-data " \
           "4.0.1-fixture, not the pinned idn-area-data 4.0.1" in done.stderr


class Desk:
    def __init__(self, routing: RoutingConfig) -> None:
        self.routing = routing

    def domains(self, users: UserStore, hub: LiveHub) -> tuple[Any, ...]:
        service = WorkspaceService(FakeQueues(), FakeStore(), users, hub,
                                   lambda: ("takers-muba",), routing=lambda: self.routing)
        return (workspace_http.routes(service),)


@pytest.fixture
async def desk(tmp_path: Path, imported: Path) -> AsyncIterator[tuple[Client, Desk, Path]]:
    state = Desk(load_routing_config(imported))
    async with serving_web(tmp_path, hub=LiveHub({**DEFAULT_TOPICS, **TOPICS}),
                           domains=state.domains) as client:
        yield client, state, imported


async def desk_config(client: Client) -> dict[str, Any]:
    page = await client.get("/workspace")
    assert page.status == 200
    found = re.search(r'<script type="application/json" id="desk-config">(.*?)</script>',
                      await page.text(), re.S)
    assert found
    config: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return config


async def test_the_desk_offers_the_imported_kecamatan_and_keeps_them_on_reload(
        desk: tuple[Client, Desk, Path]) -> None:
    client, state, routing = desk
    await log_in(client, "ani")
    muba = (await desk_config(client))["regions"]["muba"]
    assert muba["name"] == "Kabupaten Musi Banyuasin"
    assert len(muba["places"]) == 15
    assert "Balai Agung" in muba["places"]["Sekayu"]
    assert "Bayung Lencir" in muba["places"]

    # A reload reads the routing config and its places file again: the lists stay.
    state.routing = load_routing_config(routing)
    assert (await desk_config(client))["regions"]["muba"]["places"] == muba["places"]
