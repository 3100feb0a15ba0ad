"""The call-taker's screen in Debian's Chromium against the live stack (tests/stack_fixtures.py):
a call-taker logs in through the form, opens their desk, and a real SIPp 112 call that
rings their SIP stand-in pops on it, with no reload and no polling."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Request, expect

from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.stack.devstack import DevStack
from tests.browser.conftest import calling, desk_login, only_this_taker_rings, screenshot
from tests.stack_fixtures import Controller, Takers, add_web_user

pytestmark = pytest.mark.e2e
USER, ENDPOINT, PASSWORD = "desk-ani", "taker-1", "desk-screen-password"
CALLER = "081298765432"


@pytest.fixture
def desk_user(stack: DevStack, controller: Controller) -> Iterator[str]:
    """A call-taker tied to taker-1; every other queue member paused, so the queue rings
    taker-1."""
    add_web_user(stack, USER, PASSWORD, sip_endpoint=ENDPOINT)  # read again at the login
    controller.ensure_running()
    with only_this_taker_rings(stack, ENDPOINT):  # and the wrap-up pause lifted after
        yield USER


def test_a_real_call_pops_on_the_call_takers_desk(
        page: Page, stack: DevStack, desk_user: str, takers: Takers,
        request: pytest.FixtureRequest) -> None:
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    fetched: list[Request] = []
    page.on("request", lambda r: fetched.append(r))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    desk_login(page, base, desk_user, PASSWORD)  # subscribed over the WebSocket
    expect(page.locator("#presence-state")).to_have_text("Siap menerima")  # static member
    expect(page.locator("#call-none")).to_be_visible()
    screenshot(page, request, "desk-waiting")
    page.evaluate("window.loadedOnce = true")
    requests_before = len(fetched)

    with calling(stack, CALLER):  # the call must go well, too
        expect(page.locator("#call-caller")).to_have_text(canonical_caller(CALLER),
                                                          timeout=30_000)
        expect(page.locator("#call-category")).to_have_text("ambulance")
        expect(page.locator("#call-wait")).to_contain_text("detik")
        expect(page.locator("#call")).to_have_attribute(
            "data-state", re.compile(r"^(ringing|connected|ended)$"))
    screenshot(page, request, "call-popped")
    assert page.evaluate("window.loadedOnce") is True  # the same page: pushed, not reloaded
    assert [r.url for r in fetched[requests_before:]] == []  # no polling
    assert all(r.url.startswith(base + "/") or r.url.startswith(base.replace("http", "ws"))
               for r in fetched)
    assert errors == []
