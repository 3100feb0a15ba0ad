"""A call another center's edge overflowed here (docs/ha.md, "A second site"), on the desk in
Chromium: the pop the workspace pushes for it (ntpd_ivr/workspace/service.py, its
`overflow` from ntpd_ivr/workspace/model.py `overflow_note`) shows the call-taker the region it was
for and the dark center; the next call, not overflowed, shows nothing of it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningWeb, log_in, screenshot
from tests.browser.test_desk_dispatch_alerts import POP

OVERFLOW = {"region": "muba", "region_name": "Kabupaten Musi Banyuasin",
            "neighbour": "muba-center", "neighbour_name": "Muba Siaga 112"}


def test_the_desk_says_which_dark_center_the_call_overflowed_from(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, web, "eka")
    page.goto(web.url("/workspace"))
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    note = page.locator("#inc-overflow")
    uniqueid = "1795970200.41"
    assert web.publish("workspace", "call.ringing",
                       {**POP, "uniqueid": uniqueid, "overflow": OVERFLOW}) == 1
    web.answered(uniqueid, "taker-1")
    expect(note).to_be_visible()
    expect(note).to_have_text(
        "Limpahan dari Kabupaten Musi Banyuasin (pusat 112 Muba Siaga 112 padam)")
    expect(page.locator("#inc-transfer")).to_be_hidden()
    screenshot(page, request, "overflowed-call")
    # The next call is the center's own: no note left from the last one.
    assert web.publish("workspace", "call.ringing", {**POP, "uniqueid": "1795970200.42"}) == 1
    web.answered("1795970200.42", "taker-1")
    expect(note).to_be_hidden()
    assert errors == []
