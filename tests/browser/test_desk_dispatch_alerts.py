"""The desk's incident form with an operator's location, in English, and the message a
call-taker gets at once when the agency never answers. The controller's web app without
Asterisk (tests/browser/conftest.py `web`): the pop is what the hub would push, and the
time-out is the dispatch service's own `timed_out`, the call the telephony makes when no
agency trunk answered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningWeb, log_in, screenshot

POP: dict[str, Any] = {
    "uniqueid": "1795950000.77", "queue": "takers-palembang", "endpoint": "taker-1",
    "caller_number": "+6281377788899", "region": "palembang", "category": "fire",
    "ivr_digit": "2", "arrived_at": "2026-11-29T05:00:00+00:00", "wait_seconds": 4,
    "state": "connected", "history": [], "history_complete": True,
    # a PIDF-LO circle with a civic address, as ntpd_ivr/location stores it
    "location": {"kind": "circle", "source": "network", "lat": -2.9761, "lon": 104.7754,
                 "radius_m": 50, "error": None,
                 "civic": {"A3": "ilir barat i", "A4": "Bukit Lama", "RD": "Jalan Merdeka",
                           "HNO": "12"}},
}


def test_the_desk_takes_the_operators_location_and_says_at_once_when_nobody_answers(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, web, "eka")
    page.goto(web.url("/workspace"))
    page.click("#lang-switch")  # English, and still the same desk
    page.wait_for_load_state()
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    assert web.publish("workspace", "call.ringing", POP) == 1
    web.answered(POP["uniqueid"], "taker-1")

    # The form starts from the call: its category, region, and the operator's location.
    expect(page.locator("#inc-category")).to_have_value("fire")
    expect(page.locator("#inc-region")).to_have_value("palembang")
    expect(page.locator("#inc-network-text")).to_contain_text("-2.9761, 104.7754 · ± 50 m")
    expect(page.locator("#inc-kecamatan")).to_have_value("Ilir Barat I")  # matched, any case
    expect(page.locator("#inc-desa")).to_have_value("Bukit Lama")
    expect(page.locator("#inc-lat")).to_have_value("-2.9761")
    expect(page.locator("#inc-address")).to_have_value("Jalan Merdeka 12")
    expect(page.locator("#inc-save")).to_have_text("Save incident")
    page.fill("#inc-description", "House fire, two people trapped")
    page.click("#inc-save")
    expect(page.locator("#incident-status")).to_contain_text("saved")
    row = page.locator("#proposal tr[data-agency=palembang-damkar]")
    expect(row.locator("button[data-mode=connect]")).to_have_text("Connect")
    row.locator("button[data-mode=notify]").click()
    expect(row).to_have_attribute("data-status", "notified")
    dispatch_id = int(row.get_attribute("data-dispatch") or 0)

    # Nobody took it: the service's time-out reaches the desk at once, pushed.
    web.run(web.service.dispatches.timed_out(dispatch_id, datetime.now(UTC)))
    alert = page.locator("#dispatch-alert")
    expect(alert).to_have_text("No answer from Damkar Kota Palembang; the caller stays "
                               "connected to you.", timeout=1000)
    expect(row.locator("td.status")).to_have_text("not answered")
    expect(row.locator("button[data-mode=notify]")).to_be_enabled()  # try again
    screenshot(page, request, "no-answer")

    # A connect dispatch no trunk took: the controller's alert, with its reason, in
    # Bahasa Indonesia again, and the agency's row says why.
    page.click("#lang-switch")
    page.wait_for_load_state()
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    assert web.publish("workspace", "call.ringing", {**POP, "uniqueid": "1795950000.78"}) == 1
    web.answered("1795950000.78", "taker-1")
    page.fill("#inc-description", "Kebakaran rumah")
    page.click("#inc-save")
    expect(page.locator("#incident-status")).to_contain_text("tersimpan")
    incident_id = int(page.locator("#incident").get_attribute("data-incident") or 0)
    expect(row.locator("button[data-mode=connect]")).to_be_enabled()  # the proposal is in

    async def no_trunk_took_it() -> None:
        web.service._dispatch_failed("dispatch.failed", {
            "id": dispatch_id + 1, "incident_id": incident_id, "agency": "palembang-damkar",
            "status": "timed-out", "reason": "busy", "call": "1795950000.78",
            "attempts": []}, "eka")
    web.run(no_trunk_took_it())
    expect(alert).to_have_text("Penugasan ke Damkar Kota Palembang gagal: semua saluran "
                               "sibuk. Penelepon tetap tersambung dengan Anda.", timeout=1000)
    expect(row.locator("td.status")).to_have_text("semua saluran sibuk")
    screenshot(page, request, "failed-id")
    assert errors == []
