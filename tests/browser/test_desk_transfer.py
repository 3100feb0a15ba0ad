"""Transfers between 112 centers on the desk in Chromium (issue 23). Receiving (item 3): the
pop carries the EIDO the first center sent, and the incident form shows it filled in
(category, severity, kecamatan, desa, address, description, coordinates) with where it came
from. Sending (item 2): the saved incident's transfer panel lists its region's centers (one
without a contact disabled, saying why), a transfer the server refuses says why, and the
transfer's states (`transfer.state` on the call-taker's own topic) show live, the hand-over
button once the other center accepted. The controller's web app without Asterisk
(tests/browser/conftest.py `web`): a transfer POST finds no caller to move (409
not-connected, a real answer of the server); the states are what the controller pushes
(ntpd_ivr/transfer/call.py) and the pop what the workspace pushes for a transferred call."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ntpd_ivr.clock import utcnow
from ntpd_ivr.eido.model import read
from ntpd_ivr.transfer.config import Neighbour
from ntpd_ivr.transfer.outbound import Transfer
from ntpd_ivr.transfer.persist import TransferOutStore
from tests.browser.conftest import RunningWeb, log_in, screenshot
from tests.browser.test_desk_dispatch_alerts import POP
from tests.transfer_fixtures import REMOTE_CALL_ID, eido_bytes

CATEGORIES = ("ambulance", "fire", "police", "sar", "disaster", "unclassified")


def transferred_pop(uniqueid: str) -> dict[str, Any]:
    form = read(eido_bytes(), CATEGORIES).form()
    return {"uniqueid": uniqueid, "queue": "takers-muba", "endpoint": "taker-1",
            "caller_number": "+6281170001234", "region": "muba", "category": "fire",
            "ivr_digit": "", "arrived_at": "2026-12-07T05:00:00+00:00", "wait_seconds": 1,
            "state": "connected", "history": [], "history_complete": True,
            "location": None, "transfer": {"neighbour": "banyuasin",
                                                        "neighbour_name": "Banyuasin Siaga 112",
                                                        "form": form}}


def test_the_desk_shows_the_incident_the_first_center_sent(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    log_in(page, web, "eka")
    errors: list[str] = []  # on the desk's page: console errors and uncaught exceptions
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(web.url("/workspace"))
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    uniqueid = "1795970000.21"
    assert web.publish("workspace", "call.ringing", transferred_pop(uniqueid)) == 1
    web.answered(uniqueid, "taker-1")
    expect(page.locator("#inc-transfer")).to_be_visible()
    # Named as our config names the neighbour, not as the EIDO names its sender.
    expect(page.locator("#inc-transfer")).to_contain_text("Dialihkan dari Banyuasin Siaga 112")
    expect(page.locator("#inc-transfer")).to_contain_text(REMOTE_CALL_ID)
    expect(page.locator("#inc-category")).to_have_value("fire")
    expect(page.locator("#inc-severity")).to_have_value("critical")
    expect(page.locator("#inc-description")).to_have_value(
        re.compile(r"^Rumah terbakar, dua orang terjebak"))
    expect(page.locator("#inc-address")).to_have_value(
        "Jl. Merdeka No. 5 <dekat pasar> & masjid")
    expect(page.locator("#inc-lat")).to_have_value("-2.8801")
    expect(page.locator("#inc-lon")).to_have_value("103.8512")
    expect(page.locator("#inc-kecamatan")).to_have_value("Sekayu")
    expect(page.locator("#inc-desa")).to_have_value("Kayuara")
    screenshot(page, request, "transferred-incident")
    # A call that was not transferred: no note, nothing left from the last one.
    other = {**transferred_pop("1795970000.22"), "transfer": None, "category": "police"}
    assert web.publish("workspace", "call.ringing", other) == 1
    web.answered("1795970000.22", "taker-1")
    expect(page.locator("#inc-transfer")).to_be_hidden()
    assert errors == []


def neighbour(key: str, name: str, contact: str) -> Neighbour:
    return Neighbour(key, name, "kabupaten", f"center-{key}", "address", ("127.0.0.52",), "",
                     "", "https://example.invalid/eido", "/nonexistent", contact)


@pytest.fixture
def with_neighbours(web: RunningWeb) -> Iterator[None]:
    """Palembang's neighbours in the running routing config (as a reload would put them)."""
    live = web.service.core.routing
    before = live.current
    live.current = dataclasses.replace(before, neighbours=MappingProxyType({"palembang": {
        "banyuasin": neighbour("banyuasin", "Banyuasin Siaga 112", "sip:127.0.0.52:5060"),
        "muara-enim": neighbour("muara-enim", "Muara Enim Siaga 112", "")}}))
    yield
    live.current = before


def test_the_desk_transfers_a_caller_and_follows_it(
        page: Page, web: RunningWeb, with_neighbours: None,
        request: pytest.FixtureRequest) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, web, "eka")
    page.goto(web.url("/workspace"))
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    uniqueid = "1795970100.31"
    assert web.publish("workspace", "call.ringing", {**POP, "uniqueid": uniqueid}) == 1
    web.answered(uniqueid, "taker-1")
    page.fill("#inc-description", "Kebakaran di perbatasan")
    page.click("#inc-save")
    expect(page.locator("#incident-status")).to_contain_text("tersimpan")
    panel = page.locator("#transfer-panel")
    expect(panel).to_be_visible()
    banyuasin = panel.locator("button[data-neighbour=banyuasin]")
    muara_enim = panel.locator("button[data-neighbour=muara-enim]")
    expect(banyuasin).to_have_text("Banyuasin Siaga 112")
    expect(banyuasin).to_be_enabled()
    expect(muara_enim).to_be_disabled()
    expect(muara_enim).to_have_attribute("title",
                                         "Muara Enim Siaga 112: tidak ada alamat panggilan")
    # No Asterisk here: the server finds no caller to move, and the desk says so.
    banyuasin.click()
    alert = page.locator("#transfer-alert")
    expect(alert).to_have_text("Pengalihan ke Banyuasin Siaga 112 gagal: penelepon tidak "
                               "sedang tersambung dengan Anda. Penelepon tetap dengan Anda.")
    expect(banyuasin).to_be_enabled()
    expect(muara_enim).to_be_disabled()
    # The controller's states, live: ringing, accepted (hand over), completed.
    state = page.locator("#transfer-state")
    transfer = {"transfer": "ab" * 16, "incident_id": None, "call": uniqueid,
                "neighbour": "banyuasin", "name": "Banyuasin Siaga 112", "reason": None}
    assert web.publish("workspace", "transfer.state", {**transfer, "state": "ringing"}) == 1
    expect(state).to_have_text("Memanggil Banyuasin Siaga 112…")
    expect(alert).to_be_hidden()
    expect(banyuasin).to_be_disabled()  # one transfer at a time
    expect(page.locator("#transfer-hand-over")).to_be_hidden()
    web.publish("workspace", "transfer.state", {**transfer, "state": "accepted"})
    expect(state).to_have_text("Banyuasin Siaga 112 menerima. Serahkan penelepon, lalu tutup.")
    expect(page.locator("#transfer-hand-over")).to_be_visible()
    screenshot(page, request, "accepted")
    # A state of another call moves nothing here.
    web.publish("workspace", "transfer.state", {**transfer, "call": "1.1", "state": "failed",
                                                 "reason": "busy"})
    web.publish("workspace", "transfer.state", {**transfer, "state": "completed"})
    expect(state).to_have_text("Penelepon sudah diserahkan ke Banyuasin Siaga 112.")
    expect(page.locator("#transfer-hand-over")).to_be_hidden()
    expect(alert).to_be_hidden()
    assert errors == []


def saved_on_the_desk(page: Page, web: RunningWeb, uniqueid: str) -> None:
    """eka's desk with the call popped, answered on taker-1, and its incident saved."""
    log_in(page, web, "eka")
    page.goto(web.url("/workspace"))
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    web.publish("workspace", "call.ringing", {**POP, "uniqueid": uniqueid})
    web.answered(uniqueid, "taker-1")
    page.fill("#inc-description", "Kebakaran di perbatasan")
    page.click("#inc-save")


def test_a_failed_transfer_says_why_and_offers_the_centers_again(
        page: Page, web: RunningWeb, with_neighbours: None) -> None:
    uniqueid = "1795970100.32"
    saved_on_the_desk(page, web, uniqueid)
    expect(page.locator("#transfer-panel")).to_be_visible()
    transfer = {"transfer": "cd" * 16, "incident_id": None, "call": uniqueid,
                "neighbour": "banyuasin", "name": "Banyuasin Siaga 112"}
    web.publish("workspace", "transfer.state", {**transfer, "state": "ringing", "reason": None})
    expect(page.locator("#transfer-state")).to_have_attribute("data-state", "ringing")
    web.publish("workspace", "transfer.state", {**transfer, "state": "failed",
                                                 "reason": "no-answer"})
    expect(page.locator("#transfer-alert")).to_have_text(
        "Pengalihan ke Banyuasin Siaga 112 gagal: pusat lain tidak mengangkat. Penelepon "
        "tetap dengan Anda.")
    expect(page.locator("#transfer-state")).to_be_hidden()
    expect(page.locator("button[data-neighbour=banyuasin]")).to_be_enabled()


def test_a_reloaded_desk_shows_the_transfer_in_progress(
        page: Page, web: RunningWeb, with_neighbours: None) -> None:
    """The transfer's row (transfers_out) read back by GET /api/transfers after a reload:
    the saved incident, the state line and the hand-over button as before."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    uniqueid = "1795970100.33"
    saved_on_the_desk(page, web, uniqueid)
    card = page.locator("#incident")
    expect(card).to_have_attribute("data-incident", re.compile(r"^[0-9]+$"))
    incident_id = int(card.get_attribute("data-incident") or "0")
    reference = "ef" * 16
    web.run(TransferOutStore(web.service.engine).save(
        Transfer(reference, incident_id, "banyuasin", "Banyuasin Siaga 112", uniqueid, "eka",
                 state="accepted", taker_channel="PJSIP/taker-1-00000001"), utcnow()))
    page.reload()
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    expect(page.locator("#transfer-panel")).to_be_hidden()
    web.publish("workspace", "call.ringing", {**POP, "uniqueid": uniqueid})  # its pop again
    state = page.locator("#transfer-state")
    expect(state).to_have_text("Banyuasin Siaga 112 menerima. Serahkan penelepon, lalu tutup.")
    expect(page.locator("#transfer-hand-over")).to_be_visible()
    expect(page.locator("button[data-neighbour=banyuasin]")).to_be_disabled()
    expect(page.locator("#incident-status")).to_contain_text("tersimpan")
    expect(card).to_have_attribute("data-incident", str(incident_id))
    assert errors == []
