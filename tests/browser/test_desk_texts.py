"""112 by text on the call-taker's desk, end to end in Debian's Chromium against the live
stack (issue 22, items 2 and 6; tests/stack_fixtures.py: Kannel with its fake SMSC,
PostgreSQL, the controller): a caller who cannot speak texts 112 from the fake SMSC; the
session appears on the desk, whose call-taker takes it, answers with a quick reply and a
typed one (a draft that survived a reload), each reaching the caller's phone (the fake
SMSC) and shown delivered; the caller's text, HTML included, is shown as text; the
location-link button locates the caller (their phone, a second browser, sends its
position); an incident is saved from the session and an agency, notified, accepts on its own
screen; the session ends with its disposition."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.stack.devstack import DevStack
from tests.browser.conftest import desk_and_agency_users, desk_login, form_login, screenshot
from tests.e2e.conftest import caller
from tests.stack_fixtures import Controller

pytestmark = pytest.mark.e2e
DESK, AGENCY, PASSWORD = "texts-ani", "texts-dinkes", "desk-texts-password"
ENDPOINT = "taker-1"  # a static member of takers-default, where a sumsel number's session goes
HOSTILE = 'Tolong <img src=x onerror="window.__owned=1"> ada pencuri, saya tidak bisa bicara'
TYPED = "Tetap bersembunyi dan matikan suara ponsel. Polisi menuju ke sana."
PHONE_AT = {"latitude": -2.9702, "longitude": 104.7801, "accuracy": 9}
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/l/[A-Za-z0-9_-]+)")
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SMSC_S = 30.0  # how long an SMS may take through Kannel on a loaded machine


@pytest.fixture(scope="module")
def texts_users(stack: DevStack, controller: Controller) -> str:
    """A call-taker on taker-1 and the Palembang ambulance service's user, added to the
    running controller's users file."""
    return desk_and_agency_users(stack, controller, DESK, AGENCY, PASSWORD,
                                 "palembang-dinkes", ENDPOINT)


def at_the_phone(stack: DevStack, number: str, words: str) -> str:
    """The MT the fake SMSC printed for `number` with `words` in it."""
    assert stack.fake_smsc is not None
    deadline = time.monotonic() + SMSC_S
    while time.monotonic() < deadline:
        for line in stack.fake_smsc.received():
            if number in line and words in line:
                return line
        time.sleep(0.2)
    raise AssertionError(f"no SMS with {words!r} to {number}: {stack.fake_smsc.received()}")


def test_a_caller_texts_the_desk_answers_locates_and_dispatches(
        page: Page, agency_page: Page, chromium: Browser, stack: DevStack,
        texts_users: str, request: pytest.FixtureRequest) -> None:
    base = texts_users
    assert stack.fake_smsc is not None
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    desk_login(page, base, DESK, PASSWORD)
    page.check("#texts-accept")
    expect(page.locator("#texts-accept")).to_be_checked()

    number = canonical_caller(caller())
    sent = time.monotonic()
    stack.fake_smsc.send(number, "112", HOSTILE)
    offered = page.locator("#texts-list li", has_text=number)
    expect(offered).to_have_attribute("data-state", "offered", timeout=SMSC_S * 1000)
    print(f"\nSMS into Kannel to the desk: {time.monotonic() - sent:.2f} s")
    expect(offered.locator(".preview")).to_have_text(HOSTILE)
    at_the_phone(stack, number, "Pesan Anda diterima")  # the acknowledgement
    screenshot(page, request, "1-offered")

    offered.locator("button.take").click()
    pane = page.locator("#text-pane")
    expect(pane).to_have_attribute("data-state", "taken")
    uniqueid = pane.get_attribute("data-uniqueid")
    assert uniqueid and uniqueid.startswith("sms-")
    incoming = page.locator("#text-messages li[data-direction=in]").first
    expect(incoming.locator(".body")).to_have_text(HOSTILE)  # as text, never HTML
    assert page.locator("#text-messages img").count() == 0
    assert page.evaluate("window.__owned") is None
    expect(page.locator("#call-caller")).to_have_text(number)  # the desk's subject
    expect(page.locator("#incident-call")).to_have_text(number)

    # A quick reply: at the caller's phone, then delivered on the desk.
    page.click("#text-quick button[data-quick=where]")
    quick = page.locator("#text-messages li[data-direction=out]", has_text="Di mana lokasi Anda?")
    expect(quick).to_have_count(1)
    at_the_phone(stack, number, "Di mana lokasi Anda?")
    expect(quick).to_have_attribute("data-delivery", "delivered", timeout=SMSC_S * 1000)

    # Typed, then the page reloaded before sending: the draft and the session come back.
    page.fill("#text-body", TYPED)
    page.reload()
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    expect(pane).to_have_attribute("data-uniqueid", uniqueid)
    expect(page.locator("#text-body")).to_have_value(TYPED)
    page.click("#text-send")
    expect(page.locator("#text-body")).to_have_value("")
    typed = page.locator("#text-messages li[data-direction=out]", has_text=TYPED)
    expect(typed).to_have_count(1)
    at_the_phone(stack, number, "Polisi menuju ke sana")
    expect(typed).to_have_attribute("data-delivery", "delivered", timeout=SMSC_S * 1000)

    # The caller answers: on the desk, after the replies.
    stack.fake_smsc.send(number, "112", "Saya di kamar belakang")
    expect(page.locator("#text-messages li").last.locator(".body")).to_have_text(
        "Saya di kamar belakang", timeout=SMSC_S * 1000)

    # The location link, for the session: the caller's phone opens it and sends its position.
    page.click("#send-location-link")
    expect(page.locator("#location-link-note")).to_have_text(
        "Tautan lokasi terkirim ke penelepon.")
    found = LINK.search(at_the_phone(stack, number, "/l/"))
    assert found, "no link in the SMS"
    phone = chromium.new_context(geolocation=PHONE_AT, permissions=["geolocation"],
                                 locale="id-ID", viewport={"width": 360, "height": 640})
    try:
        caller_page = phone.new_page()
        caller_page.goto(found.group(1))
        expect(caller_page.locator("#status")).to_have_text(
            "Lokasi terkirim. Petugas sudah melihatnya.", timeout=15_000)
    finally:
        phone.close()
    expect(page.locator("#call-location")).to_contain_text("-2.9702, 104.7801 ± 9 m")
    expect(page.locator("#call-location")).to_contain_text("dari tautan lokasi (SMS)")
    expect(page.locator("#desk-map")).to_have_attribute("data-fixes", "1")

    # The incident, from the session, and the agency notified (no voice channel: no connect).
    page.select_option("#inc-category", "ambulance")
    page.select_option("#inc-region", "palembang")
    page.select_option("#inc-kecamatan", "Kemuning")
    page.select_option("#inc-desa", "Pahlawan")
    page.fill("#inc-address", "Jl. Kapten A. Rivai 15, kamar belakang")
    page.fill("#inc-description", "Pencuri di rumah; penelepon bersembunyi, tidak bisa bicara")
    expect(page.locator("#inc-lat")).to_have_value("-2.9702")  # the map's point, from the link
    page.click("#inc-save")
    expect(page.locator("#incident-status")).to_contain_text("tersimpan")
    incident_id = page.locator("#incident").get_attribute("data-incident")
    assert incident_id and incident_id.isdigit()
    expect(page.locator("#disposition-current")).to_have_attribute("data-disposition", "genuine")
    row = page.locator("#proposal tr[data-agency=palembang-dinkes]")
    expect(row).to_contain_text("Dinkes Kota Palembang")
    expect(row.locator("button[data-mode=connect]")).to_have_count(0)
    row.locator("button[data-mode=notify]").click()
    expect(row).to_have_attribute("data-status", "notified")
    dispatch_id = row.get_attribute("data-dispatch")

    form_login(agency_page, base, AGENCY, PASSWORD)
    line = agency_page.locator(f"#dispatch-{dispatch_id}")
    expect(line).to_contain_text("Pencuri di rumah")
    line.locator("button[data-action=accept]").click()
    agency_page.wait_for_load_state()
    expect(row.locator("td.status")).to_have_text("diterima")
    page.locator("#text-messages").evaluate("list => { list.scrollTop = 0; }")  # the first SMS
    shot = screenshot(page, request, "2-answered-located-dispatched")
    if os.environ.get("DOCS_SCREENSHOTS") == "1":  # the README's picture (not NTPD_IVR_*: settings)
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG / "desk-texts.png")

    # Ended with the incident's disposition: the pane says so, the list keeps it as ended.
    page.select_option("#text-disposition", "genuine")
    page.click("#text-end")
    expect(pane).to_have_attribute("data-state", "ended")
    expect(page.locator("#text-controls")).to_be_hidden()
    expect(page.locator(f"#texts-list li[data-uniqueid='{uniqueid}']")).to_have_attribute(
        "data-state", "ended")
    assert errors == []
