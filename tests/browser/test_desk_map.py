"""The desk's map in Debian's Chromium (the controller's web app without Asterisk, as
tests/browser/conftest.py `web`): a pop's fix with its accuracy circle and the incident's
point, a live `location.fix`, the point dragged into the form, the wrong-regency warning,
and the rule that picks the proposed point (static/map.js ntpdMap.bestFix). The example
routing config runs with its example boundaries (tests/boundaries.py)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ntpd_ivr.incidents.model import IncidentDraft
from ntpd_ivr.routing.config import load_routing_config
from tests.boundaries import example_with_boundaries
from tests.browser.conftest import RunningWeb, log_in, screenshot

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
NOW = datetime.now(UTC).replace(microsecond=0)


def pop(uniqueid: str, lat: float, lon: float, radius_m: float) -> dict[str, Any]:
    """What the hub pushes when taker-1 rings: a Palembang call whose operator sent a
    PIDF-LO circle (no civic address)."""
    return {"uniqueid": uniqueid, "queue": "takers-palembang", "endpoint": "taker-1",
            "caller_number": "+6281377700021", "region": "palembang", "category": "ambulance",
            "ivr_digit": "1", "arrived_at": NOW.isoformat(), "wait_seconds": 3,
            "state": "connected", "history": [], "history_complete": True,
            "location": {"kind": "circle", "source": "network", "lat": lat, "lon": lon,
                         "radius_m": radius_m, "civic": None, "error": None}}


@pytest.fixture
def boundaries(web: RunningWeb, tmp_path: Path) -> Iterator[None]:
    """The running app's routing config, with the example boundaries, for this test only."""
    live = web.service.core.routing  # the running config's holder (ntpd_ivr/core.py)
    before = live.current
    live.current = load_routing_config(example_with_boundaries(tmp_path))
    try:
        yield
    finally:
        live.current = before


def container_point(page: Page, lat: float, lon: float) -> tuple[float, float]:
    x, y = page.evaluate("""([lat, lon]) => {
        const map = document.getElementById("desk-map").ntpdMap.map;
        const box = map.getContainer().getBoundingClientRect();
        const at = map.latLngToContainerPoint([lat, lon]);
        return [box.left + at.x, box.top + at.y];
    }""", [lat, lon])
    return float(x), float(y)


def test_the_proposed_point_is_the_newest_fix_unless_an_older_is_much_more_accurate(
        page: Page, web: RunningWeb) -> None:
    log_in(page, web, "eka")
    page.goto(web.url("/workspace"))
    cases = page.evaluate("""() => {
      const at = (minute) => `2026-12-07T10:${String(minute).padStart(2, "0")}:00Z`;
      const fix = (id, minute, radius_m) =>
        ({ id, lat: -2.9, lon: 104.7, radius_m, at: at(minute) });
      const best = (fixes) => ntpdMap.bestFix(fixes)?.id ?? null;
      return {
        none: best([]),
        newest: best([fix("a", 1, 50), fix("b", 2, 60)]),
        muchBetterOlder: best([fix("a", 1, 10), fix("b", 2, 60)]),
        onlyABitBetter: best([fix("a", 1, 20), fix("b", 2, 60)]),
        tooOld: best([fix("a", 1, 5), fix("b", 20, 500)]),
        unknownRadiusLoses: best([fix("a", 1, 900), fix("b", 2, null)]),
        bothUnknown: best([fix("a", 1, null), fix("b", 2, null)]),
        offTheGlobe: best([{ id: "x", lat: 95, lon: 0, radius_m: 1, at: at(3) }, fix("a", 1, 50)]),
        fromPop: ntpdMap.fixesOf({ arrived_at: at(0), location: { kind: "circle",
          source: "network", lat: -2.9, lon: 104.7, radius_m: 50 },
          fixes: [fix("aml", 1, 8)] }).map((f) => f.source ?? f.id),
      };
    }""")
    assert cases == {"none": None, "newest": "b", "muchBetterOlder": "a",
                     "onlyABitBetter": "b", "tooOld": "b", "unknownRadiusLoses": "a",
                     "bothUnknown": "b", "offTheGlobe": "a", "fromPop": ["network", "aml"]}


def test_the_desk_maps_the_fixes_fills_the_form_from_the_point_and_warns_of_the_wrong_regency(
        page: Page, web: RunningWeb, boundaries: None, request: pytest.FixtureRequest) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((web.base_url, web.base_url.replace("http", "ws"))) else None)
    log_in(page, web, "eka")
    page.goto(web.url("/workspace"))
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    desk_map = page.locator("#desk-map")
    expect(desk_map.locator(".leaflet-control-scale")).to_be_visible()  # the plain map
    expect(desk_map).to_have_class(re.compile(r"\bmap-plain\b"))  # no tile URL set
    expect(desk_map.locator(".leaflet-tile")).to_have_count(0)
    expect(desk_map.locator("path")).to_have_count(1 + 7 + 6)  # the example regions' polygons

    # The operator's circle in Kota Palembang: the fix, its circle, the point, the form.
    assert web.publish("workspace", "call.ringing",
                       pop("1796000000.1", -2.9761, 104.7754, 50)) == 1
    expect(desk_map).to_have_attribute("data-fixes", "1")
    expect(desk_map.locator("path.fix-circle.fix-network")).to_have_count(1)
    expect(desk_map.locator("path.fix.fix-network.fix-best")).to_have_count(1)
    expect(desk_map.locator(".incident-point")).to_be_visible()
    expect(page.locator("#inc-lat")).to_have_value("-2.9761")
    expect(page.locator("#inc-lon")).to_have_value("104.7754")
    expect(page.locator("#inc-region")).to_have_value("palembang")
    expect(page.locator("#inc-kecamatan")).to_have_value("Bukit Kecil")  # its polygon
    expect(page.locator("#inc-desa")).to_have_value("26 Ilir")
    expect(desk_map).to_have_attribute("data-inside", "yes")
    expect(page.locator("#map-warning")).to_be_hidden()

    # The call-taker drags the point west into Ilir Barat I: the form follows.
    page.evaluate("""() => document.getElementById("desk-map").ntpdMap.map
                          .setView([-2.975, 104.755], 13, { animate: false })""")
    start = container_point(page, -2.9761, 104.7754)
    end = container_point(page, -2.97, 104.73)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=5)
    page.mouse.move(*end, steps=5)
    page.mouse.up()
    expect(page.locator("#inc-kecamatan")).to_have_value("Ilir Barat I")
    expect(page.locator("#inc-desa")).to_have_value("")  # no desa polygon there
    lat, lon = float(page.input_value("#inc-lat")), float(page.input_value("#inc-lon"))
    assert abs(lat - -2.97) < 0.002 and abs(lon - 104.73) < 0.002, (lat, lon)
    expect(page.locator("#map-warning")).to_be_hidden()  # the caller is still in Palembang

    # A second call: a coarse operator circle, then a live AML fix (newer, 50 times more
    # accurate) in Sekayu, Musi Banyuasin: the point moves there and the desk warns.
    assert web.publish("workspace", "call.ringing",
                       pop("1796000000.2", -2.99, 104.76, 2000)) == 1
    expect(page.locator("#inc-lat")).to_have_value("-2.99")
    aml = {"source": "aml", "lat": -2.8893, "lon": 103.8512, "radius_m": 40,
           "method": "GNSS", "at": datetime.now(UTC).isoformat()}
    web.publish("workspace", "location.fix", {"call": "1796000000.1", "fix": aml})  # not ours
    assert web.publish("workspace", "location.fix", {"call": "1796000000.2", "fix": aml}) == 1
    expect(desk_map).to_have_attribute("data-fixes", "2")
    expect(desk_map.locator("path.fix-circle")).to_have_count(2)
    expect(desk_map.locator("path.fix.fix-aml.fix-best")).to_have_count(1)
    warning = page.locator("#map-warning")
    expect(warning).to_have_text(
        "Lokasi di luar wilayah Kota Palembang: masuk Kabupaten Musi Banyuasin.")
    expect(warning).to_have_attribute("data-region", "muba")
    expect(page.locator("#inc-lat")).to_have_value("-2.8893")
    expect(page.locator("#inc-region")).to_have_value("muba")
    expect(page.locator("#inc-kecamatan")).to_have_value("Sekayu")
    expect(page.locator("#inc-desa")).to_have_value("Balai Agung")
    shot = screenshot(page, request, "wrong-regency")
    if os.environ.get("DOCS_SCREENSHOTS") == "1":  # the README's picture (not NTPD_IVR_*: settings)
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG / "desk-map.png")
    assert errors == []
    assert outside == []  # Leaflet and everything else from this server


def test_the_agencys_screen_maps_its_incidents_over_its_region(
        page: Page, web: RunningWeb, boundaries: None, request: pytest.FixtureRequest) -> None:
    incidents = web.service.incidents
    incident = web.run(incidents.create_incident(
        IncidentDraft(region="palembang", category="fire", kecamatan="Bukit Kecil",
                      description="Kebakaran gudang", severity="high", lat=-2.9761,
                      lon=104.7754), "ani"))
    web.run(incidents.dispatch(incident["id"], "palembang-damkar", "notify", "ani"))
    log_in(page, web, "damkar")
    agency_map = page.locator("#agency-map")
    point = agency_map.locator("path.incident-point-shown")
    expect(point.first).to_be_visible()
    # Its own region only: Kota Palembang's outline and kecamatan/desa (7), and the points.
    expect(agency_map.locator("path:not(.incident-point-shown)")).to_have_count(7)
    expect(agency_map.locator(".leaflet-control-scale")).to_be_visible()
    screenshot(page, request, "agency-map")
