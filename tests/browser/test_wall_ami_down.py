"""The supervisor's wall never looks current when it is not: without an AMI connection
it says so. Against the browser tests' own web app (tests/browser/conftest.py), which has
no Asterisk at all; in a file of its own, so that its PostgreSQL is set up before the
live-stack tests of test_wall_screen.py run."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningWeb, log_in, screenshot


def test_without_asterisk_the_wall_says_its_data_cannot_be_trusted(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    """The browser tests' own controller web app has no AMI connection at all."""
    log_in(page, web, "budi")  # a supervisor
    page.goto(web.url("/wall"))
    expect(page.locator("#wall")).to_have_attribute("data-live", "yes")
    expect(page.locator("#wall-ami-down")).to_be_visible()
    expect(page.locator("#wall")).to_have_attribute("data-fresh", "no")
    screenshot(page, request, "ami-down")
    log_in(page, web, "ani")  # a call-taker: not their screen
    reply = page.goto(web.url("/wall"))
    assert reply is not None and reply.status == 403
