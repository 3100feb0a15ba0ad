"""The home page's navigation by role and the supervisor's strikes page in Chromium: a
supervisor sees a link to every screen (each one answers), opens /strikes, finds a number
blocked by the strikes seeded in the browser fixtures' PostgreSQL, unblocks it and sees it
gone, with the unblock in audit_events; a call-taker sees only their own screens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete, func, select

from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.prank import store
from ntpd_ivr.prank.tables import CallerStrike
from tests.browser.conftest import RunningWeb, log_in, screenshot

NUMBER = "+6281277700031"  # this test's own: block_at = 5 in config/routing.example.toml
SUPERVISOR_SCREENS = {"workspace": "/workspace", "callbacks": "/callbacks",
                      "agency": "/agency", "commitments": "/reports/commitments",
                      "wall": "/wall", "recordings": "/recordings", "reports": "/reports",
                      "warnings": "/warnings", "strikes": "/strikes"}
CALLTAKER_SCREENS = {"workspace", "callbacks"}  # both routes' least role is calltaker


async def seed(web: RunningWeb, count: int) -> int:
    """The strikes; returns the last audit entry's id before them (audit_events is
    append-only: earlier runs' entries stay, and are not this test's)."""
    engine = web.service.engine
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(delete(CallerStrike).where(CallerStrike.number == NUMBER))
        before = (await conn.execute(select(func.max(AuditEvent.id)))).scalar() or 0
        for n in range(count):
            await store.add_strike(conn, store.Strike(NUMBER, now - timedelta(minutes=n),
                                                      "silent", "ani"))
    return int(before)


async def unblocked_by(web: RunningWeb, after: int) -> list[str]:
    async with web.service.engine.connect() as conn:
        return list((await conn.execute(
            select(AuditEvent.actor).where(AuditEvent.action == "prank.unblocked",
                                           AuditEvent.subject_id == NUMBER,
                                           AuditEvent.id > after))).scalars())


def test_supervisor_navigates_to_strikes_and_unblocks_a_number(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    before = web.run(seed(web, 5))
    log_in(page, web, "budi")
    assert page.url == web.url("/")
    nav = page.locator("#screens a")
    expect(nav).to_have_count(len(SUPERVISOR_SCREENS))
    for name, path in SUPERVISOR_SCREENS.items():
        link = page.locator(f"#nav-{name}")
        expect(link).to_be_visible()
        expect(link).to_have_attribute("href", path)
        assert page.request.get(web.url(path)).status == 200, path  # the screen exists
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    screenshot(page, request, "1-home-nav")

    page.click("#nav-strikes")
    expect(page).to_have_url(web.url("/strikes"))
    expect(page.get_by_role("heading", name="Nomor dengan strike")).to_be_visible()
    row = page.locator(f'#strikes tr[data-number="{NUMBER}"]')
    expect(row).to_have_attribute("data-level", "block")
    expect(row.locator(".strikes")).to_have_text("5")
    expect(row.locator(".level")).to_contain_text("diblokir sampai")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    screenshot(page, request, "2-strikes-blocked")

    with page.expect_navigation():
        row.get_by_role("button", name="Buka blokir").click()
    expect(page).to_have_url(web.url("/strikes"))
    expect(page.locator(f'#strikes tr[data-number="{NUMBER}"]')).to_have_count(0)
    assert web.run(unblocked_by(web, before)) == ["budi"]
    screenshot(page, request, "3-strikes-unblocked")


def test_calltaker_sees_only_their_screens(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    log_in(page, web, "ani")
    assert page.url == web.url("/")
    expect(page.locator("#nav-workspace")).to_be_visible()
    ids = set(page.locator("#screens a").evaluate_all("links => links.map(a => a.id)"))
    assert ids == {f"nav-{name}" for name in CALLTAKER_SCREENS}
    screenshot(page, request, "calltaker-nav")
    assert page.request.get(web.url("/strikes")).status == 403
