"""An agency user on its own screen: the dispatch a call-taker made reaches it, it accepts,
marks "on scene", and sees the time it took in the commitment report."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from ntpd_ivr.incidents.model import IncidentDraft
from tests.browser.conftest import RunningWeb, log_in, screenshot


def test_agency_accepts_marks_on_scene_and_sees_it_in_the_report(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    incidents = web.service.incidents
    dispatches = web.service.dispatches
    # What the call-taker's screen does: the incident from the call, a "notify" dispatch.
    incident = web.run(incidents.create_incident(
        IncidentDraft(region="palembang", category="fire", kecamatan="Ilir Barat I",
                      description="Rumah terbakar, dua orang terjebak", severity="critical",
                      people_involved=2, address="Jl. Merdeka 12"), "ani", "1732771200.1"))
    dispatch = web.run(dispatches.dispatch(incident["id"], "palembang-damkar", "notify", "ani"))

    log_in(page, web, "damkar")
    assert page.url == web.url("/agency")  # an agency user lands on its own screen
    row = page.locator(f"#dispatch-{dispatch['id']}")
    expect(row).to_have_attribute("data-status", "notified")
    expect(row).to_contain_text("Rumah terbakar, dua orang terjebak")
    expect(row.locator(".status")).to_have_text("menunggu diterima")
    screenshot(page, request, "1-dispatched")

    # A dispatch made while the screen is open shows up by itself (pushed, not polled).
    expect(page.locator("#agency")).to_have_attribute("data-live", "live")
    second = web.run(incidents.create_incident(
        IncidentDraft(region="palembang", category="fire", kecamatan="Sukarami",
                      description="Kebakaran lahan", severity="medium"), "ani"))
    pushed = web.run(dispatches.dispatch(second["id"], "palembang-damkar", "notify", "ani"))
    expect(page.locator(f"#dispatch-{pushed['id']}")).to_contain_text("Kebakaran lahan")
    screenshot(page, request, "1b-pushed")

    row.locator("button[data-action=accept]").click()
    page.wait_for_load_state()
    row = page.locator(f"#dispatch-{dispatch['id']}")
    expect(row).to_have_attribute("data-status", "accepted")
    expect(row.locator("[data-time=accepted_at]")).to_be_visible()
    screenshot(page, request, "2-accepted")

    row.locator("button[data-action=on-scene]").click()
    page.wait_for_load_state()
    row = page.locator(f"#dispatch-{dispatch['id']}")
    expect(row).to_have_attribute("data-status", "on-scene")
    expect(row.locator(".status")).to_have_text("di lokasi")
    expect(row.locator("[data-time=on_scene_at]")).to_be_visible()
    expect(row.locator("button")).to_have_count(1)  # only "resolved" is left
    screenshot(page, request, "3-on-scene")

    page.click("#report-link")
    page.wait_for_load_state()
    assert page.url == web.url("/reports/commitments")
    line = page.locator("tr[data-agency=palembang-damkar]")
    expect(line).to_be_visible()
    assert int(line.locator("td.dispatches").inner_text()) >= 1
    on_scene = line.locator("td[data-step=on_scene]")
    assert int(on_scene.get_attribute("data-reached") or 0) >= 1
    expect(on_scene).to_contain_text("dalam komitmen 20.0 min")
    # Scoped: the agency's report shows only itself and its region's line.
    assert page.locator("tbody tr").count() == 2
    screenshot(page, request, "4-report")
