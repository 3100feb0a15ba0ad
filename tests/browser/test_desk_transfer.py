"""A caller another 112 center transferred (issue 23 item 3) on the desk in Chromium: the
pop carries the EIDO that center sent, and the incident form shows it filled in (category,
severity, kecamatan, desa, address, description, coordinates) with where it came from. The
controller's web app without Asterisk (tests/browser/conftest.py `web`); the pop is what the
workspace pushes for a transferred call (ntpd_ivr/workspace/service.py `transfer`)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ntpd_ivr.eido.model import read
from tests.browser.conftest import RunningWeb, log_in, screenshot
from tests.transfer_fixtures import REMOTE_CALL_ID, eido_bytes

CATEGORIES = ("ambulance", "fire", "police", "sar", "disaster", "unclassified")


def transferred_pop(uniqueid: str) -> dict[str, Any]:
    form = read(eido_bytes(), CATEGORIES).form()
    return {"uniqueid": uniqueid, "queue": "takers-muba", "endpoint": "taker-1",
            "caller_number": "+6281170001234", "region": "muba", "category": "fire",
            "ivr_digit": "", "arrived_at": "2026-12-07T05:00:00+00:00", "wait_seconds": 1,
            "state": "connected", "history": [], "history_complete": True,
            "location": None, "transfer": {"neighbour": "banyuasin", "form": form}}


def test_the_desk_shows_the_incident_the_first_center_sent(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    log_in(page, web, "eka")
    errors: list[str] = []  # on the desk's page: console errors and uncaught exceptions
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(web.url("/workspace"))
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    uniqueid = "1795970000.21"
    assert web.publish("workspace", "call.ringing", transferred_pop(uniqueid)) == 1
    web.answered(uniqueid, "taker-1")
    expect(page.locator("#inc-transfer")).to_be_visible()
    expect(page.locator("#inc-transfer")).to_contain_text("Dialihkan dari")
    expect(page.locator("#inc-transfer")).to_contain_text(REMOTE_CALL_ID)
    expect(page.locator("#inc-category")).to_have_value("fire")
    expect(page.locator("#inc-severity")).to_have_value("critical")
    expect(page.locator("#inc-description")).to_have_value(
        re.compile(r"^Rumah terbakar, dua orang terjebak"))
    expect(page.locator("#inc-address")).to_have_value(
        "Jl. Merdeka No. 5 <dekat pasar> & masjid")
    expect(page.locator("#inc-lat")).to_have_value("-2.8801")
    expect(page.locator("#inc-lon")).to_have_value("103.8512")
    expect(page.locator("#inc-kecamatan")).to_have_value("Sekayu")
    expect(page.locator("#inc-desa")).to_have_value("Kayuara")
    screenshot(page, request, "transferred-incident")
    # A call that was not transferred: no note, nothing left from the last one.
    other = {**transferred_pop("1795970000.22"), "transfer": None, "category": "police"}
    assert web.publish("workspace", "call.ringing", other) == 1
    web.answered("1795970000.22", "taker-1")
    expect(page.locator("#inc-transfer")).to_be_hidden()
    assert errors == []
