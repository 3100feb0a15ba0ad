"""The desk's text (SMS) pane in Debian's Chromium, the script alone (the controller's web app
without Asterisk, as tests/browser/conftest.py `web`): the texts API is answered by a fake
this test owns (page.route), the hub's pushes are the running app's own (`web.publish`).
A check of static/workspace-texts.js's rendering and requests, not of the texts service:
tests/browser/test_desk_texts.py drives the real one end to end through Kannel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import RunningWeb, log_in, screenshot

T0 = datetime(2026, 12, 7, 5, 0, 0, tzinfo=UTC)
HOSTILE = "<img src=x onerror=\"window.__owned=1\">tolong"
UID = "sms-901"


def message(id_: int, direction: str, body: str, *, delivery: str | None = None,
            author: str | None = None) -> dict[str, Any]:
    return {"id": id_, "direction": direction, "body": body, "author": author,
            "at": (T0 + timedelta(seconds=id_)).isoformat(), "delivery": delivery}


def session(uniqueid: str, caller: str, state: str = "offered", taken_by: str | None = None,
            messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"uniqueid": uniqueid, "caller_number": caller, "region": "palembang",
            "category": "ambulance", "state": state, "opened_at": T0.isoformat(),
            "taken_by": taken_by, "unanswered": state == "offered",
            "messages": messages or [], "history": [
                {"arrived_at": (T0 - timedelta(days=2)).isoformat(), "category": "fire",
                 "disposition": "prank", "medium": "sms"}], "history_complete": True}


@dataclass
class FakeTexts:
    """The texts API as the contract says, in memory; every request it saw."""
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted: list[tuple[str, str, Any]] = field(default_factory=list)
    accepts: bool = False
    next_id: int = 100

    def handle(self, route: Route) -> None:
        request = route.request
        path = request.url.split("://", 1)[1].split("/", 1)[1].split("?")[0]
        body = json.loads(request.post_data) if request.post_data else None
        if request.method != "GET":
            self.posted.append((request.method, "/" + path, body))
        parts = path.split("/")  # api, texts, [uid, [verb]]
        status, answer = 200, {}
        if path == "api/workspace/accepts-text":
            self.accepts = bool(body["accepts"])
            answer = {"accepts": self.accepts}
        elif path == "api/texts":
            answer = {"sessions": list(self.sessions.values()), "accepts": self.accepts}
        elif path == "api/texts/quick-replies":
            answer = {"quick_replies": [{"id": "where", "text": "Di mana lokasi Anda?"},
                                        {"id": "hurt", "text": "Apakah ada yang terluka?"}]}
        elif len(parts) == 3:
            answer = self.sessions[parts[2]]
        elif parts[3] == "take":
            self.sessions[parts[2]].update(state="taken", taken_by="eka", unanswered=False)
            answer = self.sessions[parts[2]]
        elif parts[3] == "messages":
            self.next_id += 1
            text = body.get("body") or {"where": "Di mana lokasi Anda?"}[body["quick"]]
            answer = message(self.next_id, "out", text, delivery="queued", author="eka")
            self.sessions[parts[2]]["messages"].append(answer)
            status = 201
        elif parts[3] == "end":
            self.sessions[parts[2]]["state"] = "ended"
            answer = self.sessions[parts[2]]
        elif parts[3] == "callback":
            answer = {"callback": {"id": 7, "state": "pending"}}
        route.fulfill(status=status, content_type="application/json", body=json.dumps(answer))


@pytest.fixture
def fake(page: Page) -> Iterator[FakeTexts]:
    texts = FakeTexts()
    texts.sessions[UID] = session(UID, "+6281377700901", messages=[
        message(1, "in", HOSTILE)])
    texts.sessions["sms-902"] = session("sms-902", "+6281377700902", "taken", "ani")
    page.route("**/api/texts**", texts.handle)
    page.route("**/api/workspace/accepts-text", texts.handle)
    yield texts


def open_desk(page: Page, web: RunningWeb) -> list[str]:
    """eka (phone taker-1) on the desk, live; the page's console errors, as they come."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, web, "eka")
    page.goto(web.url("/workspace"))
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    return errors


def test_take_reply_draft_and_end_on_the_pane(
        page: Page, web: RunningWeb, fake: FakeTexts, request: pytest.FixtureRequest) -> None:
    errors = open_desk(page, web)
    items = page.locator("#texts-list li")
    # Another's session is not listed; the offered one is, with the caller's text as text.
    expect(items).to_have_count(1)
    offered = items.first
    expect(offered).to_have_attribute("data-uniqueid", UID)
    expect(offered.locator(".preview")).to_have_text(HOSTILE)
    expect(offered.locator(".flag")).to_have_text("Belum dijawab")

    offered.locator("button.take").click()
    pane = page.locator("#text-pane")
    expect(pane).to_be_visible()
    expect(pane).to_have_attribute("data-state", "taken")
    first = page.locator("#text-messages li").first
    expect(first).to_have_attribute("data-direction", "in")
    expect(first.locator(".body")).to_have_text(HOSTILE)
    assert page.locator("#text-pane img, #texts img").count() == 0
    assert page.evaluate("window.__owned") is None
    # The session is the desk's subject: the call card and the incident form are its.
    expect(page.locator("#call-caller")).to_have_text("+6281377700901")
    expect(page.locator("#call-state")).to_have_text("Pesan SMS")
    expect(page.locator("#history tbody tr")).to_have_count(1)
    expect(page.locator("#history tbody tr td").nth(1)).to_have_text("fire · pesan SMS")
    expect(page.locator("#incident-call")).to_have_text("+6281377700901")
    expect(page.locator("#inc-category")).to_have_value("ambulance")

    # A quick reply goes at once, by its id; its delivery is pushed later.
    page.click("#text-quick button[data-quick=where]")
    expect(page.locator("#text-messages li")).to_have_count(2)
    assert fake.posted[-1] == ("POST", f"/api/texts/{UID}/messages", {"quick": "where"})
    out = page.locator("#text-messages li[data-direction=out]").first
    expect(out).to_have_attribute("data-delivery", "queued")
    web.publish("workspace", "text.delivery",
                {"uniqueid": UID, "message_id": fake.next_id, "delivery": "delivered"})
    expect(out).to_have_attribute("data-delivery", "delivered")
    expect(out.locator(".delivery")).to_have_text("diterima ponsel")

    # Typing survives a reload (the draft), and the open session comes back with it.
    page.fill("#text-body", "Tetap di tempat, petugas menuju ke sana")
    page.fill("#inc-description", "Penelepon tidak bisa bicara")
    page.reload()
    expect(page.locator("#text-pane")).to_have_attribute("data-uniqueid", UID)
    expect(page.locator("#text-body")).to_have_value("Tetap di tempat, petugas menuju ke sana")
    expect(page.locator("#inc-description")).to_have_value("Penelepon tidak bisa bicara")
    page.click("#text-send")
    expect(page.locator("#text-messages li[data-direction=out]")).to_have_count(2)
    assert fake.posted[-1][2] == {"body": "Tetap di tempat, petugas menuju ke sana"}
    expect(page.locator("#text-body")).to_have_value("")
    # The caller's answer, pushed: in order, as text.
    web.publish("workspace", "text.message", {"uniqueid": UID, "message": message(
        500, "in", "<b>Jl. Merdeka</b> 5")})
    last = page.locator("#text-messages li").last
    expect(last.locator(".body")).to_have_text("<b>Jl. Merdeka</b> 5")
    assert page.locator("#text-messages b").count() == 0
    page.reload()
    expect(page.locator("#text-pane")).to_have_attribute("data-uniqueid", UID)
    expect(page.locator("#text-body")).to_have_value("")  # sent: no draft left
    screenshot(page, request, "conversation")

    page.click("#text-callback")
    expect(page.locator("#text-note")).to_have_text(
        "Telepon balik ke nomor ini sudah diminta.")
    page.check("#texts-accept")
    expect(page.locator("#texts-accept")).to_be_checked()
    assert fake.accepts is True
    page.select_option("#text-disposition", "genuine")
    page.click("#text-end")
    expect(page.locator("#text-pane")).to_have_attribute("data-state", "ended")
    expect(page.locator("#text-controls")).to_be_hidden()
    assert fake.posted[-1] == ("POST", f"/api/texts/{UID}/end", {"disposition": "genuine"})
    assert errors == []


def test_a_session_another_takes_leaves_and_a_voice_pop_takes_the_desk(
        page: Page, web: RunningWeb, fake: FakeTexts) -> None:
    errors = open_desk(page, web)
    expect(page.locator("#texts-list li")).to_have_count(1)
    pushed = session("sms-903", "+6281377700903", messages=[message(3, "in", "tolong")])
    pushed["opened_at"] = (T0 + timedelta(minutes=1)).isoformat()
    fake.sessions["sms-903"] = pushed
    web.publish("workspace", "text.offered", {**pushed, "priority": 7,  # newer, yet first
                                              "standing": {"level": "struck", "strikes": 2}})
    expect(page.locator("#texts-list li")).to_have_count(2)
    expect(page.locator("#texts-list li").first).to_have_attribute("data-uniqueid", "sms-903")
    expect(page.locator("#texts-list li").first.locator(".strikes")).to_have_text(
        "Nomor ini punya 2 catatan iseng")
    web.publish("workspace", "text.taken", {"uniqueid": "sms-903", "by": "ani"})
    expect(page.locator("#texts-list li")).to_have_count(1)
    page.locator("#texts-list li button.take").click()
    expect(page.locator("#text-pane")).to_be_visible()
    # A voice pop takes the desk back; the session stays listed.
    web.publish("workspace", "call.ringing", {
        "uniqueid": "1765000000.77", "queue": "takers-palembang", "endpoint": "taker-1",
        "caller_number": "+6281377700077", "region": "palembang", "category": "police",
        "ivr_digit": "2", "arrived_at": T0.isoformat(), "wait_seconds": 2, "state": "ringing",
        "history": [], "history_complete": True, "location": None, "fixes": []})
    expect(page.locator("#text-pane")).to_be_hidden()
    expect(page.locator("#call-caller")).to_have_text("+6281377700077")
    expect(page.locator("#incident-call")).to_have_text("+6281377700077")
    expect(page.locator(f"#texts-list li[data-uniqueid={UID}] button.open")).to_be_enabled()
    assert errors == []


def test_the_pane_in_english(page: Page, web: RunningWeb, fake: FakeTexts) -> None:
    """The catalogue's `en` words (ntpd_ivr/i18n), and the caller's text untouched."""
    errors = open_desk(page, web)
    page.click("#lang-switch")
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    expect(page.locator("#texts h1")).to_have_text("Texts (SMS)")
    offered = page.locator("#texts-list li").first
    expect(offered.locator(".flag")).to_have_text("Unanswered")
    offered.locator("button.take").click()
    expect(page.locator("#text-state")).to_have_text("Taken")
    expect(page.locator("#call-state")).to_have_text("Text (SMS)")
    expect(page.locator("#text-messages li .meta").first).to_contain_text("Caller · 7 Dec 2026")
    page.click("#text-quick button[data-quick=where]")
    expect(page.locator("#text-messages li[data-direction=out] .delivery")).to_have_text("queued")
    expect(page.locator("#text-send")).to_have_text("Send")
    expect(page.locator("#text-callback")).to_have_text("Call back")
    expect(page.locator("#text-end")).to_have_text("End session")
    assert errors == []
