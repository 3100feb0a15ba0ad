"""The operator's location end to end, to the screen (issue 21 item 7): a SIPp 112 call whose
INVITE carries a PIDF-LO circle (caller-location.xml) -> Asterisk 22 res_geolocation ->
FastAGI IVR -> the calls row -> the pop on the call-taker's desk in Debian's Chromium, with
the map showing the fix and its accuracy circle and the incident form prefilled: its point,
and the kecamatan and desa its polygons name. The live stack of tests/stack_fixtures.py,
its routing config with the example boundaries (tests/boundaries.py) for this test."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.stack.devstack import OPERATOR_IP, DevStack
from ntpd_ivr.stack.sipp import SippResult, place_call
from tests import pidf_samples as pidf
from tests.boundaries import with_boundaries
from tests.browser.conftest import desk_login, only_this_taker_rings, screenshot
from tests.browser.test_call_taker_flow import reload_routing
from tests.stack_fixtures import Controller, Takers, add_web_user

pytestmark = pytest.mark.e2e
USER, ENDPOINT, PASSWORD = "map-ani", "taker-1", "desk-map-password"
CALLER = "081298760021"
SEKAYU = (-2.8893, 103.8512)  # Balai Agung, Sekayu, Musi Banyuasin (illustrative polygons)


@pytest.fixture
def map_desk(stack: DevStack, controller: Controller) -> Iterator[str]:
    """A call-taker on taker-1 (every other member paused), the controller's routing config
    with the example boundaries; both undone after."""
    add_web_user(stack, USER, PASSWORD, sip_endpoint=ENDPOINT)  # read again at the login
    controller.ensure_running()
    original = stack.routing_file.read_text()
    reload_routing(stack, controller, with_boundaries(original))
    try:
        with only_this_taker_rings(stack, ENDPOINT):
            yield USER
    finally:
        reload_routing(stack, controller, original)


def test_a_pidf_lo_call_pops_with_its_fix_on_the_map_and_the_incident_prefilled(
        page: Page, stack: DevStack, map_desk: str, takers: Takers,
        request: pytest.FixtureRequest) -> None:
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    desk_login(page, base, map_desk, PASSWORD)

    results: list[SippResult] = []
    body = pidf.circle(*SEKAYU, radius="35")
    call = threading.Thread(target=lambda: results.append(place_call(
        f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, digit="1", caller=CALLER,
        digit_delay_ms=1200, timeout=60, scenario="caller-location.xml",
        keys={"pidf": body})))
    call.start()
    try:
        expect(page.locator("#call-caller")).to_have_text(canonical_caller(CALLER),
                                                          timeout=30_000)
        expect(page.locator("#call-location")).to_have_text("-2.8893, 103.8512 · ± 35 m")
        desk_map = page.locator("#desk-map")
        expect(desk_map).to_have_attribute("data-fixes", "1")
        expect(desk_map.locator("path.fix-circle.fix-network")).to_have_count(1)
        expect(desk_map.locator("path.fix.fix-network.fix-best")).to_have_count(1)
        expect(desk_map.locator(".incident-point")).to_be_visible()
        expect(desk_map).to_have_attribute("data-point", f"{SEKAYU[0]},{SEKAYU[1]}")
        # The incident form: the operator's point, looked up in the regions' polygons.
        expect(page.locator("#inc-lat")).to_have_value(str(SEKAYU[0]))
        expect(page.locator("#inc-lon")).to_have_value(str(SEKAYU[1]))
        expect(page.locator("#inc-region")).to_have_value("muba")
        expect(page.locator("#inc-kecamatan")).to_have_value("Sekayu")
        expect(page.locator("#inc-desa")).to_have_value("Balai Agung")
        # The call's region holds the point: no wrong-regency warning.
        expect(desk_map).to_have_attribute("data-inside", "yes")
        expect(page.locator("#map-warning")).to_be_hidden()
        screenshot(page, request, "pidf-lo-on-the-map")
    finally:
        call.join(timeout=70)
    assert results and results[0].ok, results[0].output[-2000:] if results else "no result"
    # Closed as a test call, as the call-taker would: the wrap-up ends, and taker-1 is not
    # left paused in it for the next test's call (a restarted controller restores it).
    page.click("button.dispose[data-disposition=test]")
    expect(page.locator("#disposition-current")).to_have_attribute("data-disposition", "test")
    assert errors == []
