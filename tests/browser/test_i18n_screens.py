"""Codes and times on the screens, in Chromium at 1366x768 (issue 20): the desk's caller
history shows a disposition in Bahasa Indonesia and a time in WIB, the screens' one JS time
function gives the server's text for the same instant, and no table spills out of its card
on any screen with tables, filled with data."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete, insert

from ntpd_ivr.calls.tables import Call
from ntpd_ivr.i18n import format_time
from ntpd_ivr.incidents.model import IncidentDraft
from tests.browser.conftest import RunningWeb, log_in, screenshot

JAKARTA = zoneinfo.ZoneInfo("Asia/Jakarta")
CALL_PREFIX = "1795970000."  # this test's rows in calls
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
END = START + timedelta(days=3, hours=1)  # config/routing.example.toml's timezone
INSTANT = "2026-12-07T05:24:07.610593+00:00"  # what the desk showed raw before
INSTANTS = (INSTANT, "2026-01-31T16:59:59+00:00", "2026-06-30T23:00:00.999+00:00",
            "2027-02-28T17:00:00+00:00", "2026-12-07T05:24:07")  # zoneless: UTC
HISTORY = [{"uniqueid": f"1795960000.{n}", "arrived_at": (
    datetime(2026, 12, 7, 5, 24, 7, 610593, tzinfo=UTC) - timedelta(days=n)).isoformat(),
    "disposition": disposition, "category": "medical-emergency-with-long-name",
    "region": "palembang", "answered_by": "taker-1"}
    for n, disposition in enumerate(["cut-by-node-failure", "abandoned-in-queue",
                                     "answered", "hung-up-in-ivr", "unconfirmed"] * 3)]
POP: dict[str, Any] = {
    "uniqueid": "1795960100.1", "queue": "takers-palembang", "endpoint": "taker-1",
    "caller_number": "+6281377700042", "region": "palembang", "category": "fire",
    "ivr_digit": "2", "arrived_at": "2026-12-07T06:00:00+00:00", "wait_seconds": 3,
    "state": "connected", "history": HISTORY, "history_complete": True, "location": None,
}
# Every table's right edge within its card, and no card wider than it shows.
OVERFLOWS = """() => {
  const out = [];
  for (const table of document.querySelectorAll("table")) {
    if (!table.offsetParent) continue;  // hidden
    const card = table.closest(".card") || table.closest("section") || document.body;
    const t = table.getBoundingClientRect(), c = card.getBoundingClientRect();
    if (t.right > c.right + 0.5 || card.scrollWidth > card.clientWidth + 1) {
      out.push({table: table.id || table.className, card: card.id || card.className,
                tableRight: t.right, cardRight: c.right,
                scrollWidth: card.scrollWidth, clientWidth: card.clientWidth});
    }
  }
  return out;
}"""


def _rows(page: Page) -> int:
    return int(page.evaluate("document.querySelectorAll('table tbody tr').length"))


def test_the_desk_says_a_disposition_in_bahasa_indonesia_and_a_time_in_wib(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    log_in(page, web, "eka")
    page.goto(web.url("/workspace"))
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    assert web.publish("workspace", "call.ringing", POP) == 1
    first = page.locator("#history tbody tr").first
    expect(first.locator("td").nth(0)).to_have_text("7 Des 2026 12.24.07 WIB")
    expect(first.locator("td").nth(2)).to_have_text("terputus karena node mati")
    expect(page.locator("#history tbody tr").nth(1).locator("td").nth(2)).to_have_text(
        "ditinggalkan di antrean")
    assert "cut-by-node-failure" not in page.locator("#history").inner_text()
    screenshot(page, request, "history-id")
    assert page.evaluate(OVERFLOWS) == []


@pytest.mark.parametrize("lang", ["id", "en"])
def test_the_scripts_and_the_server_show_the_same_instant_alike(
        page: Page, web: RunningWeb, lang: str) -> None:
    log_in(page, web, "budi")
    if lang == "en":
        page.click("#lang-switch")
        page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    shown = page.evaluate("(instants) => instants.map((i) => ntpdTime.format(i))",
                          list(INSTANTS))
    assert shown == [format_time(i, lang, JAKARTA) for i in INSTANTS]
    assert shown[0] == ("7 Des 2026 12.24.07 WIB" if lang == "id"
                        else "7 Dec 2026 12:24:07 WIB")


def test_no_table_overflows_its_card_at_1366x768(
        page: Page, web: RunningWeb, request: pytest.FixtureRequest) -> None:
    web.run(_seed_calls(web))
    incidents = web.service.incidents
    dispatches = web.service.dispatches
    incident = web.run(incidents.create_incident(
        IncidentDraft(region="palembang", category="fire", kecamatan="Ilir Barat I",
                      description="Rumah terbakar di belakang pasar, dua orang terjebak " * 3,
                      severity="critical", people_involved=2, address="Jl. Merdeka 12"),
        "ani"))
    dispatch = web.run(dispatches.dispatch(incident["id"], "palembang-damkar", "notify",
                                          "ani"))
    web.run(dispatches.accepted(dispatch["id"], datetime.now(UTC)))  # a time on the row

    log_in(page, web, "budi")
    period = f"from={START.isoformat()}&to={END.isoformat()}"
    screens = {"home": "/", "agency": "/agency", "commitments": "/reports/commitments",
               "reports": f"/reports?{period}&by=day",
               "strikes": "/strikes", "warnings": "/warnings", "callbacks": "/callbacks",
               "recordings": "/recordings", "wall": "/wall"}
    filled = {}
    for name, path in screens.items():
        page.goto(web.url(path.replace("+", "%2B")))
        page.wait_for_load_state()
        filled[name] = _rows(page)
        screenshot(page, request, name)
        assert page.evaluate(OVERFLOWS) == [], name
    assert all(filled[name] for name in ("home", "agency", "commitments", "reports")), filled

    # The wall and the desk draw their tables from what is pushed: give them rows.
    page.goto(web.url("/wall"))
    expect(page.locator("#wall")).to_have_attribute("data-live", "yes")
    state = web.run(_wall_state(web))
    web.publish("wall", "state", state)
    expect(page.locator("#takers tr[data-endpoint]")).to_have_count(len(state["takers"]))
    expect(page.locator("#takers tr[data-endpoint=taker-3] td.state")).to_have_text(
        "jeda (Pelatihan)")  # a state and a pause reason in words
    expect(page.locator("#dispatches td.status").first).to_have_text("menunggu diterima")
    screenshot(page, request, "wall-filled")
    assert page.evaluate(OVERFLOWS) == [], "wall"

    page.click("#logout")
    log_in(page, web, "eka")
    page.goto(web.url("/workspace"))
    expect(page.locator("#workspace")).to_have_attribute("data-live", "yes")
    assert web.publish("workspace", "call.ringing", POP) == 1
    expect(page.locator("#history tbody tr")).to_have_count(len(HISTORY))
    screenshot(page, request, "desk-filled")
    assert page.evaluate(OVERFLOWS) == [], "desk"


async def _seed_calls(web: RunningWeb) -> None:
    """This test's own calls (other browser tests seed theirs in the same database)."""
    rows = [{"uniqueid": f"{CALL_PREFIX}{n}", "caller_number": f"0811177{n:04d}",
             "dialed": "112", "arrived_at": START + timedelta(hours=5 * n),
             "answered_at": START + timedelta(hours=5 * n, seconds=7) if n % 3 else None,
             "answered_by": "taker-1" if n % 3 else None,
             "ended_at": START + timedelta(hours=5 * n, minutes=2), "region": "palembang",
             "category": "fire", "queue": "takers-palembang",
             "disposition": "answered" if n % 3 else "cut-by-node-failure",
             "hangup_cause_text": "Normal Clearing"} for n in range(12)]
    async with web.service.engine.begin() as conn:
        await conn.execute(delete(Call).where(Call.uniqueid.like(f"{CALL_PREFIX}%")))
        await conn.execute(insert(Call), rows)


async def _wall_state(web: RunningWeb) -> dict[str, Any]:
    now = datetime.now(UTC).timestamp()
    state = dict(web.service.wall.snapshot())
    call = {"uniqueid": "1795960200.1", "caller_number": "+6281377700099", "since": now - 75,
            "state": "talking", "taker": "taker-with-a-long-name-1", "node": "node-b"}
    state.update(
        ivr=[{**call, "state": "ivr", "uniqueid": f"1795960201.{n}"} for n in range(3)],
        talking=[call] * 3,
        queues={"takers-palembang": [{**call, "state": "queued"}] * 3},
        takers=[{"endpoint": f"taker-{n}", "state": s, "reason": "training" if s == "paused"
                 else None, "since": now - 300, "queues": ["takers-palembang",
                                                           "takers-default"]}
                for n, s in enumerate(["available", "on-call", "wrap-up", "paused",
                                       "unreachable"])],
        incidents=[{"id": 9000 + n, "category": "fire", "kecamatan": "Ilir Barat I",
                    "severity": "critical"} for n in range(3)],
        dispatches=[{"id": 9100 + n, "incident_id": 9000 + n, "agency": "palembang-damkar",
                     "status": "notified", "category": "fire"} for n in range(3)],
        callbacks={"open": [{"id": 9200 + n, "caller_number": "+6281377700011",
                             "abandoned_at": INSTANT, "abandon_count": 2,
                             "status": "waiting"} for n in range(3)], "today": {}})
    return state
