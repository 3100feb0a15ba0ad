"""A connect dispatch that no agency trunk took is told on the dispatching call-taker's
desk at once, in Bahasa Indonesia (English when switched), with no reload: the alert the
controller publishes (ntpd_ivr/dispatch/service.py -> app.Service._dispatch_failed)."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningWeb, log_in, screenshot

FAILED = {"id": 7, "incident_id": 3, "agency": "palembang-bpbd", "status": "timed-out",
          "reason": "unreachable", "call": "1795954475.0",
          "attempts": [{"trunk": "agency-bpbd-plg", "outcome": "busy"},
                       {"trunk": "agency-bpbd-plg-backup", "outcome": "no-answer"}]}


def test_a_failed_dispatch_shows_on_the_call_takers_desk(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, web, "ani")
    page.goto(web.url("/workspace"))
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    alert = page.locator("#dispatch-alert")
    expect(alert).to_be_hidden()

    async def controller_says_it_failed() -> None:
        web.service._dispatch_failed("dispatch.failed", FAILED, "ani")
    web.run(controller_says_it_failed())

    expect(alert).to_be_visible()
    expect(alert).to_have_text("Penugasan ke BPBD Kota Palembang gagal: tidak dapat dihubungi. "
                               "Penelepon tetap tersambung dengan Anda.")
    assert errors == []
    screenshot(page, request, "dispatch-failed")
