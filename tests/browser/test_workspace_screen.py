"""The call-taker's screen in Debian's Chromium against the live stack (tests/stack_fixtures.py):
a call-taker logs in through the form, opens their desk, and a real SIPp 112 call that
rings their SIP stand-in pops on it, with no reload and no polling."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Request, expect

from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.stack.devstack import OPERATOR_IP, DevStack
from ntpd_ivr.stack.sipp import SippResult, place_call
from tests.browser.conftest import screenshot
from tests.stack_fixtures import Controller, Takers, add_web_user

pytestmark = pytest.mark.e2e
USER, ENDPOINT, PASSWORD = "desk-ani", "taker-1", "desk-screen-password"
CALLER = "081298765432"


@pytest.fixture
def desk_user(stack: DevStack, controller: Controller) -> Iterator[str]:
    """A call-taker tied to taker-1; every other queue member paused (taker-2, and any
    account an earlier test left), so the queue rings taker-1."""
    add_web_user(stack, USER, PASSWORD, sip_endpoint=ENDPOINT)
    controller.stop()  # the controller reads its users file at start
    controller.start()
    assert stack.asterisk is not None
    others = set(re.findall(r"\((PJSIP/[\w.-]+)", stack.asterisk.cli("queue show")))
    others.discard(f"PJSIP/{ENDPOINT}")
    for interface in others:
        # No reason: Asterisk takes one only after a queue name ("queue pause member M
        # [queue Q [reason R]]"), and answers anything else with its usage, unpaused.
        stack.asterisk.cli(f"queue pause member {interface}")
    try:
        yield USER
    finally:
        for interface in others:
            stack.asterisk.cli(f"queue unpause member {interface}")


def test_a_real_call_pops_on_the_call_takers_desk(
        page: Page, stack: DevStack, desk_user: str, takers: Takers,
        request: pytest.FixtureRequest) -> None:
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    fetched: list[Request] = []
    page.on("request", lambda r: fetched.append(r))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base + "/login")
    page.fill("#login-form input[name=user]", desk_user)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state()
    page.goto(base + "/workspace")
    desk = page.locator("#workspace")
    expect(desk).to_have_attribute("data-live", "yes")  # subscribed over the WebSocket
    expect(page.locator("#presence-state")).to_have_text("Siap menerima")  # static member
    expect(page.locator("#call-none")).to_be_visible()
    screenshot(page, request, "desk-waiting")
    page.evaluate("window.loadedOnce = true")
    requests_before = len(fetched)

    results: list[SippResult] = []
    call = threading.Thread(target=lambda: results.append(place_call(
        f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, digit="1", caller=CALLER,
        digit_delay_ms=1200, timeout=60)))
    call.start()
    try:
        expect(page.locator("#call-caller")).to_have_text(canonical_caller(CALLER),
                                                          timeout=30_000)
        expect(page.locator("#call-category")).to_have_text("ambulance")
        expect(page.locator("#call-wait")).to_contain_text("detik")
        expect(page.locator("#call")).to_have_attribute(
            "data-state", re.compile(r"^(ringing|connected|ended)$"))
    finally:
        call.join(timeout=70)
    screenshot(page, request, "call-popped")
    assert results and results[0].ok, results[0].output[-2000:] if results else "no result"
    assert page.evaluate("window.loadedOnce") is True  # the same page: pushed, not reloaded
    assert [r.url for r in fetched[requests_before:]] == []  # no polling
    assert all(r.url.startswith(base + "/") or r.url.startswith(base.replace("http", "ws"))
               for r in fetched)
    assert errors == []
