"""A call another center's edge overflowed here (docs/ha.md, "A second site"), on the
supervisor's wall in Chromium: the wall service (the IVR tells it through the bus, with the
names our routing config gives: workspace/model.py `overflow_note`) marks the live call, and
wall.js says the region it was for and the dark center under the caller's number; the
center's own call beside it carries no note."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from ntpd_ivr.ami.events import Hangup, Newchannel
from tests.browser.conftest import RunningWeb, log_in, screenshot

NOTE = {"region": "muba", "region_name": "Kabupaten Musi Banyuasin",
        "neighbour": "muba-center", "neighbour_name": "Muba Siaga 112"}
OVERFLOWED, OWN = "1795980300.51", "1795980300.52"


def arrived(uniqueid: str, context: str, number: str) -> Newchannel:
    now = time.time()
    return Newchannel(name="Newchannel", received_at=now, timestamp=now, uniqueid=uniqueid,
                      linkedid=uniqueid, channel=f"PJSIP/{context}-0000005{uniqueid[-1]}",
                      caller_number=number, context=context, exten="112")


def test_the_wall_marks_a_call_a_dark_centers_edge_overflowed_here(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, web, "budi")  # a supervisor
    page.goto(web.url("/wall"))
    expect(page.locator("#wall")).to_have_attribute("data-live", "yes")
    wall = web.service.wall

    async def calls_arrive() -> None:
        wall.overflowed(OVERFLOWED, NOTE)  # the IVR may tell before AMI does
        wall.on_event(arrived(OVERFLOWED, "from-neighbour", "+6281377700051"))
        wall.on_event(arrived(OWN, "from-operator", "+6281377700052"))

    web.run(calls_arrive())
    row = page.locator(f"#calls-ivr tr[data-uniqueid='{OVERFLOWED}']")
    expect(row).to_have_attribute("data-overflow", "muba")
    expect(row.locator("td.caller .overflow")).to_have_text(
        "Limpahan dari Kabupaten Musi Banyuasin (pusat 112 Muba Siaga 112 padam)")
    own = page.locator(f"#calls-ivr tr[data-uniqueid='{OWN}']")
    expect(own).to_be_visible()
    expect(own.locator(".overflow")).to_have_count(0)
    screenshot(page, request, "wall-overflowed-call")

    async def calls_end() -> None:
        now = time.time()
        for uniqueid in (OVERFLOWED, OWN):
            wall.on_event(Hangup(name="Hangup", received_at=now, timestamp=now,
                                 uniqueid=uniqueid, linkedid=uniqueid, channel="PJSIP/x",
                                 cause=16, cause_txt="Normal Clearing"))

    web.run(calls_end())
    expect(row).to_have_count(0)
    assert OVERFLOWED not in wall.state.overflowed
    assert errors == []
