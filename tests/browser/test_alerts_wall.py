"""A CAP alert from a local feed reaches the supervisor's wall in Debian's Chromium, and the
supervisor turns surge mode on from it with one click (audited), then ends it.

The feed is the recorded InaTEWS sample (tests/data/cap) behind a local Atom feed, served
by aiohttp on 127.0.0.1; the controller's own poller reads it (one poll, as its loop
would), and the wall is pushed over /ws: the page is never reloaded."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from ntpd_ivr.alerts.plugin import ALERTS
from ntpd_ivr.settings import AlertsSettings
from tests.browser.conftest import STEP_MS, RunningWeb, log_in, screenshot
from tests.cap_samples import CapServer


def test_an_alert_reaches_the_wall_and_surge_mode_is_turned_on_from_it(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    alerts = web.service.core.services[ALERTS]
    server = CapServer()
    base = web.run(server.start())
    engine = web.service.engine

    async def clean() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE cap_alerts"))
        await alerts.refresh()

    web.run(clean())
    alerts.settings = AlertsSettings(feeds=f"{base}/atom_feed.xml")
    try:
        log_in(page, web, "budi")
        page.goto(web.url("/wall"))
        expect(page.locator("#wall")).to_have_attribute("data-live", "yes", timeout=STEP_MS)
        expect(page.locator("#alerts")).to_contain_text("Tidak ada peringatan")

        web.run(alerts.poll_once())  # the poller's one round: the feed, then its alert
        row = page.locator("#alerts tr[data-alert]")
        expect(row).to_have_count(1, timeout=STEP_MS)
        expect(row.locator("td.headline")).to_contain_text("Gempa Mag:5.8")
        expect(row.locator("td.severity")).to_have_text("Parah")
        expect(row.locator("td.urgency")).to_have_text("Segera")
        expect(row.locator("td.area")).to_contain_text("MUSIBANYUASIN")
        expect(row.locator("td.source")).to_contain_text("BMKG")
        screenshot(page, request, "alert-on-the-wall")

        row.locator("button.surge-on").click()
        expect(page.locator("#wall")).to_have_attribute("data-surge", "on", timeout=STEP_MS)
        expect(page.locator("#wall-surge-text")).to_have_text(
            re.compile(r"^Mode lonjakan aktif sampai .+ \(budi\): Gempa Mag:5\.8"))
        screenshot(page, request, "surge-on")
        mode = alerts.current()
        assert mode is not None and mode.started_by == "budi" and mode.region == "muba"

        page.locator("#wall-surge-off").click()
        expect(page.locator("#wall")).to_have_attribute("data-surge", "off", timeout=STEP_MS)
        assert alerts.current() is None

        async def audited() -> list[tuple[str, str]]:
            async with engine.connect() as conn:
                return [tuple(r) for r in await conn.execute(text(
                    "SELECT actor, action FROM audit_events WHERE subject_type = 'surge' "
                    "AND subject_id = :id ORDER BY id"), {"id": str(mode.alert_id)})]
        assert web.run(audited()) == [("budi", "surge.on"), ("budi", "surge.off")]
    finally:
        web.run(server.stop())
