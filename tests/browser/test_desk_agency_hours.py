"""The desk's agency list outside an agency's hours: the row says "tutup" with its hours,
offers notify only, and a connect is not possible from it. The controller's web app
without Asterisk (tests/browser/conftest.py `web`); the dispatch service's clock is set to
an evening in Palembang."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningWeb, log_in, screenshot
from tests.browser.test_desk_dispatch_alerts import POP

EVENING = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)  # 19:30 WIB


@pytest.fixture
def evening(web: RunningWeb) -> Iterator[None]:
    dispatches = web.service.dispatches
    before = dispatches.clock
    dispatches.clock = lambda: EVENING
    yield
    dispatches.clock = before


def test_a_closed_agency_says_tutup_and_offers_notify_only(
        page: Page, web: RunningWeb, evening: None, request: pytest.FixtureRequest) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, web, "eka")
    page.goto(web.url("/workspace"))
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    pop = {**POP, "uniqueid": "1795950100.11", "category": "disaster", "ivr_digit": "4"}
    assert web.publish("workspace", "call.ringing", pop) == 1
    web.answered(pop["uniqueid"], "taker-1")
    expect(page.locator("#inc-category")).to_have_value("disaster")
    page.fill("#inc-description", "Banjir di Bukit Lama")
    page.click("#inc-save")
    expect(page.locator("#incident-status")).to_contain_text("tersimpan")

    row = page.locator("#proposal tr[data-agency=palembang-bpbd]")
    expect(row).to_have_attribute("data-closed", "true")
    expect(row.locator(".closed")).to_have_text("tutup (jam layanan 07:30-16:00)")
    expect(row.locator("button[data-mode=connect]")).to_be_disabled()
    expect(row.locator("button[data-mode=notify]")).to_be_enabled()
    screenshot(page, request, "closed")
    row.locator("button[data-mode=notify]").click()
    expect(row).to_have_attribute("data-status", "notified")
    expect(row.locator("button[data-mode=connect]")).to_be_disabled()  # still closed
    assert errors == []
