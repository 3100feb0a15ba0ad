"""The desk's incident form for a region with no places on its list, then for the same
region after `places import` (issue 21 item 5). The controller's web app without Asterisk
(tests/browser/conftest.py `web`); its routing file is swapped and reloaded as SIGHUP does,
the example's put back after; the pop is what the hub would push."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ROUTING_EXAMPLE, RunningWeb, log_in, screenshot
from tests.places_data import fixture_package
from tests.unit.test_places_import import by_code

OTHER = " other"  # the lists' last option (static/workspace-incident.js)
POP: dict[str, Any] = {
    "uniqueid": "1795960000.11", "queue": "takers-muba", "endpoint": "taker-1",
    "caller_number": "+6281377700011", "region": "muba", "category": "fire",
    "ivr_digit": "2", "arrived_at": "2026-11-29T05:00:00+00:00", "wait_seconds": 3,
    "state": "connected", "history": [], "history_complete": True, "location": None,
}


@pytest.fixture
def routing(web: RunningWeb) -> Iterator[Any]:
    """Points the running app at another routing file and reloads it, as SIGHUP does
    (core.LiveRouting); the example again after."""
    live = web.service.core.routing
    before = live.path, live.current

    def reload_from(path: Path | str) -> None:
        async def reload() -> None:
            live.path = str(path)
            live.reload()
        web.run(reload())
        assert live.current.source == str(path), "the reload refused the file (see the log)"
    try:
        yield reload_from
    finally:
        async def restore() -> None:
            live.path, live.current = before
        web.run(restore())


def pop(page: Page, web: RunningWeb, uniqueid: str) -> None:
    page.goto(web.url("/workspace"))  # the form's lists come with the page
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    assert web.publish("workspace", "call.ringing", {**POP, "uniqueid": uniqueid}) == 1
    web.answered(uniqueid, "taker-1")
    expect(page.locator("#inc-region")).to_have_value("muba")


def save(page: Page, web: RunningWeb) -> dict[str, Any]:
    page.click("#inc-save")
    expect(page.locator("#incident-status")).to_contain_text("tersimpan")
    incident_id = int(page.locator("#incident").get_attribute("data-incident") or 0)
    incident: dict[str, Any] = web.run(web.service.incidents.incident(incident_id))
    return incident


def test_a_place_off_the_list_is_typed_and_an_imported_list_is_offered(
        page: Page, web: RunningWeb, routing: Any, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    text = ROUTING_EXAMPLE.read_text(encoding="utf-8")
    without = tmp_path / "without" / "routing.toml"
    without.parent.mkdir()
    without.write_text(by_code(text, "muba", "16.06").replace('code = "16.06"\n', ""),
                       encoding="utf-8")
    routing(without)
    assert not web.service.routing.regions["muba"].places
    log_in(page, web, "eka")

    # Musi Banyuasin has no list: the form asks for the place in words, and saves it.
    pop(page, web, "1795960000.11")
    expect(page.locator("#inc-kecamatan")).to_have_value(OTHER)
    typed = page.locator("#inc-kecamatan-other")
    expect(typed).to_be_visible()
    expect(typed).to_have_attribute("placeholder", "Ketik nama kecamatan")
    page.click("#inc-save")  # nothing typed yet: the browser holds the form back
    expect(page.locator("#incident-status")).to_be_hidden()
    typed.fill("Plakat Tinggi")
    page.fill("#inc-desa-other", "Sumber Rejeki")
    page.fill("#inc-description", "Kebakaran lahan dekat permukiman")
    screenshot(page, request, "1-typed-place")  # docs/img/desk-typed-place.png
    incident = save(page, web)
    assert (incident["region"], incident["kecamatan"], incident["desa"]) == (
        "muba", "Plakat Tinggi", "Sumber Rejeki")

    # One `places import` later, the same region offers Musi Banyuasin's 15 kecamatan.
    imported = tmp_path / "imported" / "routing.toml"
    imported.parent.mkdir()
    imported.write_text(by_code(text, "muba", "16.06"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ntpd_ivr", "places", "import", "--regency", "16.06",
         "--routing", str(imported), "--package", str(fixture_package(tmp_path))],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    routing(imported)
    pop(page, web, "1795960000.12")
    kecamatan = page.locator("#inc-kecamatan")
    expect(kecamatan).to_have_value("")
    expect(page.locator("#inc-kecamatan-other")).to_be_hidden()
    expect(kecamatan.locator("option")).to_have_count(15 + 2)  # choose, 15, not listed
    page.select_option("#inc-kecamatan", "Sekayu")
    page.select_option("#inc-desa", "Balai Agung")
    page.fill("#inc-description", "Kebakaran rumah")
    screenshot(page, request, "2-imported-list")
    incident = save(page, web)
    assert (incident["kecamatan"], incident["desa"]) == ("Sekayu", "Balai Agung")
    assert errors == []
