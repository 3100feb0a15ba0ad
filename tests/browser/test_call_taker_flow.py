"""A call-taker's whole flow in Debian's Chromium against the live stack
(tests/stack_fixtures.py: real Asterisk, PostgreSQL, controller, SIPp): a real 112 call
rings the call-taker's SIPp stand-in and pops; they write the incident, picking kecamatan
and desa; dispatch it (notify); the agency, in a second browser, accepts and marks "on
scene", which the call-taker's screen shows live; a second call about the same thing is
attached as a duplicate of the suggested incident; the agency sees it in its commitment
report. And: the wrap-up pause, read back from Asterisk with AMI QueueStatus, holds until
the call's disposition is set, across a controller restart; without one, the routing
config's limit unpauses the call-taker and the missing disposition is audited."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from ntpd_ivr.ami.client import AmiClient
from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.incidents.tables import Incident
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import OPERATOR_IP, TAKER_IP, DevStack
from ntpd_ivr.stack.sipp import SippResult, Taker, place_call
from ntpd_ivr.workspace.ami import queue_members
from tests.browser.conftest import (
    desk_and_agency_users,
    desk_login,
    form_login,
    only_this_taker_rings,
    screenshot,
)
from tests.e2e.conftest import caller
from tests.stack_fixtures import Controller
from tests.waiting import standing_by

pytestmark = pytest.mark.e2e
DESK, AGENCY, PASSWORD = "flow-ani", "flow-dinkes", "call-taker-flow-password"
ENDPOINT = "taker-1"
RELOADED = "routing config reloaded from"  # the controller's log line (routing/reload.py)
PALEMBANG_DID = "1120711"  # regions.palembang.dids: the call is Palembang's, queue takers-palembang


@pytest.fixture(scope="module")
def flow_users(stack: DevStack, controller: Controller) -> str:
    """A call-taker tied to taker-1 and the Palembang ambulance service's user, added to
    the running controller's users file."""
    return desk_and_agency_users(stack, controller, DESK, AGENCY, PASSWORD,
                                 "palembang-dinkes", ENDPOINT)


@pytest.fixture
def desk(stack: DevStack, flow_users: str) -> Iterator[str]:
    """taker-1 alone answers (every other member paused), up to 3 calls, 1.5 s each."""
    taker = Taker(TAKER_IP, stack.layout.taker_ports[0], talk_ms=1500, calls=3)
    standing_by(taker)
    try:
        with only_this_taker_rings(stack, ENDPOINT):
            yield flow_users
    finally:
        taker.stop()


def call_in(stack: DevStack, number: str) -> tuple[threading.Thread, list[SippResult]]:
    """A real 112 call to Palembang's DID pressing 1 (ambulance), in a thread."""
    results: list[SippResult] = []
    thread = threading.Thread(target=lambda: results.append(place_call(
        f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, dialed=PALEMBANG_DID,
        digit="1", caller=number, digit_delay_ms=1200, timeout=60)))
    thread.start()
    return thread, results


def finish(thread: threading.Thread, results: list[SippResult]) -> None:
    thread.join(timeout=70)
    assert results and results[0].ok, results[0].output[-2000:] if results else "no result"


def pops(page: Page, number: str) -> None:
    expect(page.locator("#call-caller")).to_have_text(canonical_caller(number), timeout=30_000)
    expect(page.locator("#incident-form")).to_be_visible()


def queue_status(stack: DevStack, endpoint: str) -> list[tuple[str, bool, str]]:
    """(queue, paused, reason) of each membership, from a real AMI QueueStatus."""
    async def ask() -> list[tuple[str, bool, str]]:
        ami = AmiClient(load_settings(stack.layout.settings_file).ami)
        await ami.start()
        try:
            assert await ami.wait_connected(timeout=10)
            members = await queue_members(ami, endpoint)
            return [(m.queue, m.paused, m.paused_reason) for m in members]
        finally:
            await ami.stop()
    # Playwright's sync API holds this thread's event loop: AMI goes on a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, ask()).result(timeout=30)


def wait_paused(stack: DevStack, paused: bool, within: float = 10.0) -> list[tuple[str, bool, str]]:
    deadline = time.monotonic() + within
    while True:
        state = queue_status(stack, ENDPOINT)
        if state and all(p == paused and (r == "wrap-up") == paused for _, p, r in state):
            return state
        assert time.monotonic() < deadline, f"{ENDPOINT} paused={paused} not seen: {state}"
        time.sleep(0.3)


def test_a_call_is_written_dispatched_and_followed_live_to_the_report(
        page: Page, agency_page: Page, stack: DevStack, desk: str,
        request: pytest.FixtureRequest) -> None:
    base = desk
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # The home page links a call-taker to their desk, and not to the agencies' screens.
    form_login(page, base, DESK, PASSWORD)
    page.goto(base + "/")
    expect(page.locator("#nav-agency")).to_have_count(0)
    screenshot(page, request, "0-home")
    page.click("#nav-workspace")
    page.wait_for_load_state()
    assert page.url == base + "/workspace"
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    expect(page.locator("#presence-state")).to_have_text("Siap menerima")
    page.evaluate("window.loadedOnce = true")

    first = caller()
    thread, results = call_in(stack, first)
    pops(page, first)
    expect(page.locator("#inc-category")).to_have_value("ambulance")  # from the IVR
    expect(page.locator("#inc-region")).to_have_value("palembang")  # from the DID
    screenshot(page, request, "1-popped")
    finish(thread, results)
    # The call ended without a disposition: wrap-up, shown on the desk.
    expect(page.locator("#wrapup-note")).to_be_visible(timeout=10_000)
    expect(page.locator("#presence-reason")).to_have_text("Menyelesaikan catatan")

    page.select_option("#inc-kecamatan", "Kemuning")
    page.select_option("#inc-desa", "Pahlawan")
    page.fill("#inc-address", "Jl. Kapten A. Rivai 15")
    page.fill("#inc-description", "Pengendara motor jatuh, tidak sadar")
    page.fill("#inc-people", "1")
    page.select_option("#inc-severity", "critical")
    screenshot(page, request, "2-incident-written")
    page.click("#inc-save")
    expect(page.locator("#incident-status")).to_contain_text("tersimpan")
    incident_id = page.locator("#incident").get_attribute("data-incident")
    assert incident_id and incident_id.isdigit()
    expect(page.locator("#disposition-current")).to_have_attribute("data-disposition", "genuine")
    # The disposition ends the wrap-up: available again (Asterisk's word, pushed).
    expect(page.locator("#presence-state")).to_have_text("Siap menerima", timeout=10_000)

    row = page.locator("#proposal tr[data-agency=palembang-dinkes]")
    expect(row).to_contain_text("Dinkes Kota Palembang")
    expect(row.locator("button[data-mode=connect]")).to_have_text("Hubungkan")
    row.locator("button[data-mode=notify]").click()
    expect(row).to_have_attribute("data-status", "notified")
    expect(row.locator("td.status")).to_have_text("menunggu diterima")
    dispatch_id = row.get_attribute("data-dispatch")
    screenshot(page, request, "3-dispatched")

    # The agency, in its own browser, accepts; the call-taker sees it without a reload.
    agency = agency_page
    form_login(agency, base, AGENCY, PASSWORD)
    assert agency.url == base + "/agency"
    line = agency.locator(f"#dispatch-{dispatch_id}")
    expect(line).to_contain_text("Pengendara motor jatuh")
    line.locator("button[data-action=accept]").click()
    agency.wait_for_load_state()
    expect(agency.locator(f"#dispatch-{dispatch_id}")).to_have_attribute("data-status",
                                                                          "accepted")
    expect(row.locator("td.status")).to_have_text("diterima")
    agency.locator(f"#dispatch-{dispatch_id} button[data-action=on-scene]").click()
    agency.wait_for_load_state()
    screenshot(agency, request, "4-agency-on-scene")
    expect(row).to_have_attribute("data-status", "on-scene")
    expect(row.locator("td.status")).to_have_text("di lokasi")
    screenshot(page, request, "5-desk-on-scene")
    assert page.evaluate("window.loadedOnce") is True  # pushed, not reloaded

    # A second caller about the same accident: the desk offers the open incident.
    second = caller()
    thread, results = call_in(stack, second)
    pops(page, second)
    expect(page.locator("#dispatch-panel")).to_be_hidden()  # a new call, a new form
    page.select_option("#inc-kecamatan", "Kemuning")
    suggested = page.locator(f"#suggestion-list li[data-incident='{incident_id}']")
    expect(suggested).to_contain_text("Pengendara motor jatuh")
    screenshot(page, request, "6-suggested")
    finish(thread, results)
    suggested.locator("button.attach").click()
    expect(page.locator("#disposition-current")).to_have_attribute("data-disposition",
                                                                   "duplicate")
    expect(page.locator("#incident-status")).to_contain_text(f"#{incident_id}")
    expect(page.locator("#presence-state")).to_have_text("Siap menerima", timeout=10_000)
    screenshot(page, request, "7-duplicate")

    # The agency's commitment report counts the dispatch, on scene within its commitment.
    agency.click("#report-link")
    agency.wait_for_load_state()
    report = agency.locator("tr[data-agency=palembang-dinkes] td[data-step=on_scene]")
    assert int(report.get_attribute("data-reached") or 0) >= 1
    expect(report).to_contain_text("dalam komitmen 30.0 min")
    screenshot(agency, request, "8-report")
    assert errors == []


def test_a_save_while_the_database_is_away_says_saving_keeps_the_text_and_lands_after(
        page: Page, stack: DevStack, desk: str, request: pytest.FixtureRequest) -> None:
    """The screen during a database failover (docs/ha.md, "PostgreSQL"): here the one
    PostgreSQL is stopped (the same 503 the API gives while the Patroni pair fails over,
    tests/e2e/test_failover.py): the save says "saving…", the text stays in the form and
    the draft, and the incident is saved once, by itself, when the database is back."""
    form_login(page, desk, DESK, PASSWORD)
    page.goto(desk + "/workspace")
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    number = caller()
    thread, results = call_in(stack, number)
    pops(page, number)
    finish(thread, results)
    text = f"Pohon tumbang menutup jalan {number[-6:]}"
    page.select_option("#inc-kecamatan", "Kemuning")
    page.fill("#inc-description", text)
    stack.postgres.stop("immediate")
    try:
        page.click("#inc-save")
        expect(page.locator("#incident-status")).to_contain_text("Menyimpan", timeout=15_000)
        screenshot(page, request, "saving-while-the-database-is-away")
        expect(page.locator("#inc-description")).to_have_value(text)
        drafts = page.evaluate("Object.keys(localStorage).filter(k => k.startsWith("
                               "'ntpd-draft:') && localStorage.getItem(k).includes("
                               f"{text!r}))")
        assert len(drafts) == 1, drafts   # kept in the browser until saved
        time.sleep(3)   # a retry or two meet the outage too
        expect(page.locator("#incident-status")).to_contain_text("Menyimpan")
    finally:
        stack.postgres.start()
    expect(page.locator("#incident-status")).to_contain_text("tersimpan", timeout=30_000)
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith("
                         "'ntpd-draft:') && localStorage.getItem(k).includes("
                         f"{text!r})).length") == 0   # dropped once saved

    async def saved() -> int:
        engine = make_engine(load_settings(stack.layout.settings_file).database)
        try:
            async with engine.connect() as conn:
                return len((await conn.execute(select(Incident.id).where(
                    Incident.description == text))).all())
        finally:
            await engine.dispose()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, saved()).result(timeout=30) == 1   # once


def test_the_wrap_up_pause_holds_until_the_disposition_across_a_restart(
        page: Page, stack: DevStack, desk: str, controller: Controller,
        request: pytest.FixtureRequest) -> None:
    desk_login(page, desk, DESK, PASSWORD)
    number = caller()
    thread, results = call_in(stack, number)
    pops(page, number)
    finish(thread, results)
    state = wait_paused(stack, True)
    assert {q for q, _, _ in state} >= {"takers-palembang", "takers-default"}
    expect(page.locator("#wrapup-note")).to_contain_text(re.compile(r"sisa \d+ detik"))
    # Unpausing from the screen is refused while the disposition is missing.
    page.click("#presence-unpause")
    page.wait_for_load_state()
    expect(page.locator("body")).to_contain_text("tetapkan hasil panggilan dulu")
    time.sleep(1.0)
    wait_paused(stack, True, within=1.0)  # still paused, a second later
    # The controller restarts: the wrap-up is restored from its row (docs/workspace.md).
    controller.stop()
    controller.start()
    wait_paused(stack, True, within=1.0)
    deadline = time.monotonic() + 15  # the restore runs once the controller is logged in
    while True:
        page.goto(desk + "/workspace")  # a reload keeps the call and its wrap-up
        if page.locator("#wrapup-note").is_visible():
            break
        assert time.monotonic() < deadline, "the wrap-up was not restored"
        time.sleep(0.5)
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    expect(page.locator("#call-caller")).to_have_text(canonical_caller(number))  # its row
    screenshot(page, request, "1-wrap-up")
    page.click("button.dispose[data-disposition=test]")
    expect(page.locator("#disposition-current")).to_have_attribute("data-disposition", "test")
    wait_paused(stack, False)
    expect(page.locator("#presence-state")).to_have_text("Siap menerima")
    screenshot(page, request, "2-disposed")


def reload_routing(stack: DevStack, controller: Controller, text: str) -> None:
    """The stack's routing file rewritten and loaded again by the controller (SIGHUP)."""
    assert controller.process is not None
    before = controller.log_path.read_text(errors="replace").count(RELOADED)
    stack.routing_file.write_text(text)
    os.kill(controller.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while controller.log_path.read_text(errors="replace").count(RELOADED) == before:
        assert time.monotonic() < deadline, controller.log_tail()
        time.sleep(0.2)


def disposition_missing(stack: DevStack, uniqueid: str) -> list[dict[str, object]]:
    """The audit entries of the call's missing disposition, from PostgreSQL."""
    async def read() -> list[dict[str, object]]:
        engine = make_engine(load_settings(stack.layout.settings_file).database)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(select(AuditEvent.actor, AuditEvent.detail).where(
                    AuditEvent.action == "call.disposition-missing",
                    AuditEvent.subject_id == uniqueid))
                return [{"actor": actor, **detail} for actor, detail in rows]
        finally:
            await engine.dispose()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, read()).result(timeout=30)


def test_without_a_disposition_the_limit_unpauses_and_audits_it(
        page: Page, stack: DevStack, desk: str, controller: Controller,
        request: pytest.FixtureRequest) -> None:
    original = stack.routing_file.read_text()
    assert "wrapup_limit_seconds = 120" in original
    reload_routing(stack, controller, original.replace("wrapup_limit_seconds = 120",
                                                       "wrapup_limit_seconds = 10"))
    try:
        desk_login(page, desk, DESK, PASSWORD)
        number = caller()
        thread, results = call_in(stack, number)
        pops(page, number)
        uniqueid = page.locator("#call").get_attribute("data-uniqueid")
        assert uniqueid
        finish(thread, results)
        wait_paused(stack, True)
        expect(page.locator("#wrapup-note")).to_contain_text(re.compile(r"sisa \d+ detik"))
        wait_paused(stack, False, within=20)  # the limit, then unpaused
        expect(page.locator("#wrapup-note")).to_contain_text("Batas waktu habis")
        expect(page.locator("#presence-state")).to_have_text("Siap menerima")
        screenshot(page, request, "expired")
        [missing] = disposition_missing(stack, uniqueid)
        assert (missing["actor"], missing["endpoint"], missing["wrapup"]) == (
            "controller", ENDPOINT, "expired")
    finally:
        reload_routing(stack, controller, original)
