"""Issue 9's flow with the telephony, in Debian's Chromium against the live stack
(tests/stack_fixtures.py: real Asterisk, PostgreSQL, controller, SIPp): a real 112 call
rings the call-taker's SIPp stand-in and pops on their desk; they write the incident (a
fire, whatever key the caller pressed) and press "Hubungkan"; the controller dials the
fire brigade's SIPp stand-in, which hears the announcement and presses 1, and the desk
shows "diterima" without a reload while Asterisk holds the caller, the call-taker and the
agency in one ConfBridge; the agency, in its own browser, marks "on scene", which the desk
shows live, and its commitment report counts the dispatch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from ntpd_ivr.stack.devstack import AGENCY_IP, OPERATOR_IP, TAKER_IP, DevStack
from ntpd_ivr.stack.sipp import SippResult, Taker, place_call
from tests.browser.conftest import (
    desk_and_agency_users,
    desk_login,
    form_login,
    only_this_taker_rings,
    screenshot,
)
from tests.e2e.conftest import caller
from tests.stack_fixtures import Controller
from tests.waiting import held_reachable, standing_by

pytestmark = pytest.mark.e2e
DESK, AGENCY, PASSWORD = "connect-ani", "connect-damkar", "connect-flow-password"
ENDPOINT = "taker-1"
PALEMBANG_DID = "1120711"  # regions.palembang.dids: queue takers-palembang
HOLD_MS = 45_000  # the caller stays this long after pressing 1, then hangs up


@pytest.fixture(scope="module")
def connect_users(stack: DevStack, controller: Controller) -> str:
    """A call-taker tied to taker-1 and the Palembang fire brigade's user, added to the
    running controller's users file."""
    return desk_and_agency_users(stack, controller, DESK, AGENCY, PASSWORD,
                                 "palembang-damkar", ENDPOINT)


@pytest.fixture
def phones(stack: DevStack, connect_users: str) -> Iterator[tuple[str, Taker]]:
    """taker-1 alone answers and stays on the line; the fire brigade's primary trunk
    answers, presses 1 1.5 s into the announcement, and stays until Asterisk hangs up."""
    taker = Taker(TAKER_IP, stack.layout.taker_ports[0], talk_ms=60_000, calls=1)
    damkar = Taker(AGENCY_IP, stack.layout.agency_port("agency-damkar-plg"), talk_ms=1500,
                   calls=1, scenario="agency-accept.xml", keys={"digit": "1"})
    standing_by(taker, damkar)
    held_reachable(stack.asterisk, "agency-damkar-plg")  # its trunk is dialled
    try:
        with only_this_taker_rings(stack, ENDPOINT):
            yield connect_users, damkar
    finally:
        taker.stop()
        damkar.stop()


def conference_trunks(stack: DevStack, dispatch_id: str) -> set[str]:
    """The endpoints in the dispatch's ConfBridge, as Asterisk lists them."""
    assert stack.asterisk is not None
    shown = stack.asterisk.cli(f"confbridge list ntpd-dispatch-{dispatch_id}")
    return {line.split()[0].removeprefix("PJSIP/").rpartition("-")[0]
            for line in shown.splitlines() if line.startswith("PJSIP/")}


def test_a_call_taker_connects_the_fire_brigade_and_sees_it_accept(
        page: Page, agency_page: Page, stack: DevStack, phones: tuple[str, Taker],
        request: pytest.FixtureRequest) -> None:
    base, damkar = phones
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    desk_login(page, base, DESK, PASSWORD)
    page.evaluate("window.loadedOnce = true")

    number = caller()
    results: list[SippResult] = []
    call = threading.Thread(target=lambda: results.append(place_call(
        f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, dialed=PALEMBANG_DID,
        digit="1", caller=number, digit_delay_ms=HOLD_MS, timeout=90,
        scenario="caller-dispatch.xml")))
    call.start()
    try:
        expect(page.locator("#incident-form")).to_be_visible(timeout=30_000)
        # The caller pressed 1 (ambulance), but it is a fire: the call-taker says so.
        page.select_option("#inc-category", "fire")
        page.select_option("#inc-kecamatan", "Kemuning")
        page.select_option("#inc-desa", "Pahlawan")
        page.fill("#inc-address", "Jl. Kapten A. Rivai 20")
        page.fill("#inc-description", "Rumah terbakar, api membesar")
        page.select_option("#inc-severity", "high")
        page.click("#inc-save")
        expect(page.locator("#incident-status")).to_contain_text("tersimpan")

        # Connect needs the caller bridged with this call-taker (else 409): answered first.
        expect(page.locator("#call")).to_have_attribute("data-state", "connected")
        row = page.locator("#proposal tr[data-agency=palembang-damkar]")
        row.locator("button[data-mode=connect]").click()
        expect(row).to_have_attribute("data-mode", "connect")
        # Dialled, answered, the announcement heard, key 1: pushed to the desk.
        expect(row).to_have_attribute("data-status", "accepted", timeout=30_000)
        expect(row.locator("td.status")).to_have_text("diterima")
        expect(page.locator("#dispatch-alert")).to_be_hidden()
        dispatch_id = row.get_attribute("data-dispatch")
        assert dispatch_id and dispatch_id.isdigit()
        deadline = time.monotonic() + 10
        while (members := conference_trunks(stack, dispatch_id)) != {
                "operator-local", ENDPOINT, "agency-damkar-plg"}:
            assert time.monotonic() < deadline, f"conference: {members}"
            time.sleep(0.3)
        screenshot(page, request, "1-desk-accepted")

        # The fire brigade, in its own browser: on scene; the desk sees it, pushed.
        form_login(agency_page, base, AGENCY, PASSWORD)
        line = agency_page.locator(f"#dispatch-{dispatch_id}")
        expect(line).to_have_attribute("data-status", "accepted")
        expect(line).to_contain_text("Rumah terbakar")
        line.locator("button[data-action=on-scene]").click()
        agency_page.wait_for_load_state()
        screenshot(agency_page, request, "2-agency-on-scene")
        expect(row).to_have_attribute("data-status", "on-scene")
        assert page.evaluate("window.loadedOnce") is True  # pushed, not reloaded

        agency_page.click("#report-link")
        agency_page.wait_for_load_state()
        accept = agency_page.locator(
            "tr[data-agency=palembang-damkar] td[data-step=accept]")
        assert int(accept.get_attribute("data-reached") or 0) >= 1
        screenshot(agency_page, request, "3-report")
    finally:
        call.join(timeout=100)
    # The caller was never dropped: their scenario ends with their own BYE.
    assert results and results[0].ok, results[0].output[-2000:] if results else "no result"
    assert damkar.wait(20).ok  # released when the caller hung up
    assert errors == []
