"""The supervisor's wall never looks current when it is not: without an AMI connection
it says so. Against the browser tests' own web app (tests/browser/conftest.py), which has
no Asterisk at all; in a file of its own, so that its PostgreSQL is set up before the
live-stack tests of test_wall_screen.py run."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from ntpd_ivr.peer.feed import PeerFeed
from ntpd_ivr.settings import AmiPeerSettings
from ntpd_ivr.stack.ports import free_port
from ntpd_ivr.wall.service import WallService
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


def test_with_two_nodes_the_wall_names_the_other_node_when_it_is_down(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    """The other node's AMI (ntpd_ivr/peer/) at a port where nothing listens: the wall's
    banner names that node, and the nodes' line says each node's state."""
    service = web.service

    async def attach() -> None:
        settings = AmiPeerSettings(host="127.0.0.1", port=free_port(), secret="not-used",
                                   name="node-b", local_name="node-a")
        service.wall.peer = PeerFeed(
            settings, service.ami, on_screen_event=service.workspace.on_event,
            changed=service.wall.changed,
            make_wall=lambda ami, changed: WallService(
                ami, service.wall.store, service.hub, service.settings.wall,
                known_takers=list, ami_connected=lambda: ami.connected, on_change=changed))

    async def detach() -> None:
        service.wall.peer = None

    web.run(attach())
    try:
        log_in(page, web, "budi")  # a supervisor
        page.goto(web.url("/wall"))
        expect(page.locator("#wall")).to_have_attribute("data-live", "yes")
        expect(page.locator("#wall-node-down")).to_be_visible()
        expect(page.locator("#wall-node-down")).to_contain_text("node-b")
        expect(page.locator("#wall-nodes")).to_contain_text("node-a")
        expect(page.locator("#wall")).to_have_attribute("data-node-peer", "down")
        screenshot(page, request, "node-down")
    finally:
        web.run(detach())
    page.goto(web.url("/wall"))  # one node again: no node line, no node banner
    expect(page.locator("#wall")).to_have_attribute("data-live", "yes")
    expect(page.locator("#wall-node-down")).to_be_hidden()
    expect(page.locator("#wall-nodes")).to_have_text("")
