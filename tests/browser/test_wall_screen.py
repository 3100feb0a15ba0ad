"""The supervisor's wall and recordings in Debian's Chromium against the live stack
(tests/stack_fixtures.py): a real SIPp 112 call moves on the wall from the IVR to a queue
to talking, pushed with no reload and no polling; the wall says it is offline while the
controller restarts and is rebuilt from Asterisk after it; a supervisor plays a call's
recording, and the playback is audited."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, expect
from sqlalchemy import select

from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import CALLBACK_IP, OPERATOR_IP, TAKER_IP, DevStack
from ntpd_ivr.stack.sipp import SippResult, Taker, place_call
from tests.browser.conftest import only_this_taker_rings, screenshot
from tests.stack_fixtures import Controller, Takers
from tests.waiting import held_reachable, standing_by

pytestmark = pytest.mark.e2e
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def log_in_as_supervisor(page: Page, stack: DevStack) -> str:
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    page.goto(base + "/login")
    page.fill("#login-form input[name=user]", "supervisor")
    page.fill("#login-form input[name=password]", stack.secrets["web_supervisor_password"])
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state()
    return base


def call_in_thread(stack: DevStack, number: str, delay_ms: int,
                   results: list[SippResult]) -> threading.Thread:
    call = threading.Thread(target=lambda: results.append(place_call(
        f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, digit="1", caller=number,
        digit_delay_ms=delay_ms, timeout=90)))
    call.start()
    return call


def test_the_wall_shows_a_live_call_move_from_ivr_to_queue_to_talking(
        page: Page, stack: DevStack, running_controller: Controller,
        request: pytest.FixtureRequest) -> None:
    number = "081277712001"
    row = f'tr[data-caller="{canonical_caller(number)}"]'
    base = log_in_as_supervisor(page, stack)
    fetched: list[Request] = []
    page.on("request", lambda r: fetched.append(r))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    kinds: list[str] = []  # of the wall's frames, in order, over every socket the page opens
    page.on("websocket", lambda socket: socket.on("framereceived", lambda payload: kinds.append(
        json.loads(payload).get("kind", "") if isinstance(payload, str) else "binary")))
    page.goto(base + "/wall")
    wall = page.locator("#wall")
    expect(wall).to_have_attribute("data-live", "yes")
    expect(page.locator("#wall-ami-down")).to_be_hidden()
    expect(page.locator('#figures tr[data-figure="answered_within_10s_pct"]')).to_be_visible()
    page.evaluate("window.loadedOnce = true")
    requests_before = len(fetched)

    results: list[SippResult] = []
    # No call-taker stand-in answers yet: the caller waits in the queue until they start.
    call = call_in_thread(stack, number, 3000, results)
    takers: Takers | None = None
    try:
        expect(page.locator(f"#calls-ivr {row}")).to_be_visible(timeout=10_000)
        screenshot(page, request, "in-ivr")
        expect(page.locator(f"#calls-queues {row}")).to_be_visible(timeout=15_000)
        expect(page.locator(f"#calls-queues {row} td.wait")).to_contain_text(re.compile(r"\d"))
        screenshot(page, request, "in-queue")

        # The controller restarts: the wall says so, then shows the call again, rebuilt
        # from Asterisk's QueueStatus and CoreShowChannels.
        running_controller.stop()
        expect(page.locator("#wall-offline")).to_be_visible(timeout=10_000)
        expect(wall).to_have_attribute("data-fresh", "no")
        screenshot(page, request, "controller-away")
        running_controller.start()
        expect(wall).to_have_attribute("data-live", "yes", timeout=30_000)
        expect(page.locator("#wall-offline")).to_be_hidden()
        expect(page.locator(f"#calls-queues {row}")).to_be_visible(timeout=15_000)
        expect(page.locator("#wall-as-of")).to_contain_text(re.compile(r"\d"))

        takers = Takers(stack.layout.taker_ports, talk_ms=6000)
        expect(page.locator(f"#calls-talking {row}")).to_be_visible(timeout=25_000)
        expect(page.locator(f"#calls-queues {row}")).to_have_count(0)
        expect(page.locator(f"#calls-talking {row} td.taker")).to_have_text(
            re.compile(r"^taker-[12]$"))
        expect(page.locator('#takers tr[data-state="on-call"]').first).to_be_visible(
            timeout=10_000)
        shot = screenshot(page, request, "talking")
        if os.environ.get("NTPD_IVR_DOCS_SCREENSHOTS") == "1":  # the README's picture
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, DOCS_IMG / "wall.png")
    finally:
        call.join(timeout=90)
        if takers is not None:
            takers.stop()
    assert results and results[0].ok, results[0].output[-2000:] if results else "no result"
    expect(page.locator(row)).to_have_count(0, timeout=10_000)  # the call is over
    assert page.evaluate("window.loadedOnce") is True  # one page: pushed, never reloaded
    ws = base.replace("http", "ws")
    assert [r.url for r in fetched[requests_before:] if not r.url.startswith(ws)] == []
    assert errors == [] or all("WebSocket" in e for e in errors), errors
    # Each socket's first state is whole, then only what changed: the moves above were
    # drawn from "changes" frames (wall.js applyChanges).
    wall_kinds = [k for k in kinds if k in ("state", "changes")]
    assert wall_kinds[0] == "state" and wall_kinds.count("state") >= 2, wall_kinds
    assert wall_kinds.count("changes") >= 3, wall_kinds


async def played_by(stack: DevStack, uniqueid: str) -> list[str]:
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(AuditEvent.actor).where(
                AuditEvent.action == "recording.played", AuditEvent.subject_id == uniqueid))
            return [row.actor for row in rows]
    finally:
        await engine.dispose()


def test_a_supervisor_plays_a_calls_recording_and_the_playback_is_audited(
        page: Page, stack: DevStack, running_controller: Controller, takers: Takers,
        request: pytest.FixtureRequest) -> None:
    number = "081277712002"
    results: list[SippResult] = []
    call_in_thread(stack, number, 1200, results).join(timeout=90)
    assert results and results[0].ok, results[0].output[-2000:] if results else "no result"
    base = log_in_as_supervisor(page, stack)
    page.goto(base + "/recordings")
    row = page.locator("#recordings tr", has_text=canonical_caller(number))
    expect(row).to_have_count(1, timeout=10_000)
    uniqueid = row.get_attribute("data-uniqueid")
    assert uniqueid
    audio = row.locator("audio")
    with page.expect_response(lambda r: r.url.endswith(f"/recordings/{uniqueid}.wav")
                              ) as answer:
        audio.evaluate("a => { a.preload = 'auto'; a.load(); }")
    response = answer.value
    assert response.status in (200, 206), response.status
    assert response.headers["content-type"].startswith("audio/")
    page.wait_for_function("a => a.readyState >= 1 && a.duration > 0", arg=audio.element_handle())
    screenshot(page, request, "recording-loaded")
    # Playwright's loop runs in this thread: the database is read from another one.
    with ThreadPoolExecutor(1) as reader:
        assert reader.submit(asyncio.run, played_by(stack, uniqueid)).result(30) == [
            "supervisor"]
    # Without a session the file is refused.
    try:
        urllib.request.urlopen(f"{base}/recordings/{uniqueid}.wav", timeout=5)
        raise AssertionError("a recording was served without a login")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401


def test_an_abandoned_caller_appears_on_the_wall_and_is_called_back_from_it(
        page: Page, stack: DevStack, running_controller: Controller,
        request: pytest.FixtureRequest) -> None:
    number = "081277712003"
    base = log_in_as_supervisor(page, stack)
    page.goto(base + "/wall")
    expect(page.locator("#wall")).to_have_attribute("data-live", "yes")
    # Nobody rings while the caller waits: an INVITE to a call-taker's contact where no
    # stand-in listens is retransmitted for 32 s (SIP timer B) and would reach the next
    # test's stand-in, which takes it for its one call.
    with only_this_taker_rings(stack, None):
        gave_up = place_call(f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0,
                             digit="1", caller=number, digit_delay_ms=1200, timeout=40,
                             scenario="caller-abandon-in-queue.xml")
    assert gave_up.ok, gave_up.output[-2000:]
    row = page.locator("#callbacks tr", has_text=canonical_caller(number))
    expect(row).to_have_attribute("data-status", "waiting", timeout=15_000)  # pushed
    screenshot(page, request, "callback-waiting")

    taker = Taker(TAKER_IP, stack.layout.taker_ports[0], talk_ms=2500)
    phone = Taker(CALLBACK_IP, stack.layout.callback_port, scenario="callback-answer.xml")
    try:
        # Asterisk holds both stand-ins' contacts reachable before the callback dials them
        # (as the callback e2e tests wait): a contact it holds unavailable fails the
        # callback's call and the row stays on the open list (this test's CI flake).
        standing_by(taker, phone)
        held_reachable(stack.asterisk, "taker-1", "callback-line")
        row.locator("select").select_option("taker-1")
        row.locator("button").click()
        # Called back and reached: off the open list.
        expect(row).to_have_count(0, timeout=40_000)
        screenshot(page, request, "callback-reached")
        answered = phone.wait(30)
        assert answered.ok, answered.output[-2000:]
        assert taker.wait(30).ok
    finally:
        taker.stop()
        phone.stop()
    expect(page.locator('#figures tr[data-figure="callbacks-reached"] td.value')
           ).not_to_have_text("-", timeout=10_000)

