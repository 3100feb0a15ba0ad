"""A supervisor's report page: its SVG chart has one bar per group, the CSV it offers
for download is what `ntpd-ivr report --by day --format csv` prints for the same period,
and its "Pesan teks (SMS)" section shows the text sessions' figures, in Bahasa Indonesia
and in English."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from ntpd_ivr.reports.model import COLUMNS
from tests.browser.conftest import RunningWeb, log_in, screenshot
from tests.integration.reporting import END, START, TEXTS, seed, seed_texts


def test_report_chart_and_csv_match_the_cli(page: Page, web: RunningWeb,
                                            request: pytest.FixtureRequest) -> None:
    web.run(seed(web.service.engine, truncate=False))  # other tests' rows stay
    web.run(seed_texts(web.service.engine))
    log_in(page, web, "budi")
    query = urlencode({"from": START.isoformat(), "to": END.isoformat(), "by": "day",
                       "within": "15"})
    page.goto(web.url(f"/reports?{query}"))
    expect(page.locator("#reports h1")).to_have_text("Laporan panggilan 112")
    screenshot(page, request, "1-report-by-day")

    cli = subprocess.run(
        [sys.executable, "-m", "ntpd_ivr", "report", "--config", web.service.settings.source,
         "--from", START.isoformat(), "--to", END.isoformat(), "--by", "day",
         "--within", "15", "--format", "csv"],
        capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    rows = list(csv.reader(io.StringIO(cli.stdout)))
    groups = [r[0] for r in rows[1:-1]]
    assert len(groups) >= 3 and rows[-1][0] == "all"

    bars = page.locator("svg.chart rect.chart-bar")
    expect(bars).to_have_count(len(groups))
    assert [bars.nth(i).get_attribute("data-group") for i in range(len(groups))] == groups
    assert [bars.nth(i).get_attribute("data-value") for i in range(len(groups))] == [
        r[1] for r in rows[1:-1]]  # offered
    expect(page.locator("svg.chart circle.chart-point")).to_have_count(
        sum(1 for r in rows[1:-1] if r[COLUMNS.index("answered_within_n_pct")]))

    with page.expect_download() as download:
        page.click("#report-csv")
    path = download.value.path()
    assert path.read_text(encoding="utf-8") == cli.stdout
    page.locator("svg.chart").first.scroll_into_view_if_needed()
    screenshot(page, request, "2-chart")


    # The text sessions (SMS): their own section, the JSON's `texts` as figures.
    section = page.locator("#report-texts")
    expect(page.locator("#report-texts-title")).to_have_text("Pesan teks (SMS)")
    for name, value in TEXTS.items():
        if name != "by_category":
            expect(section.locator(f'td[data-figure="{name}"]')).to_have_text(
                "-" if value is None else str(value))
    expect(section.locator("th")).to_contain_text(
        ["Sesi", "Diambil petugas", "Tak terjawab (waktu tawaran habis)", "Dibalas",
         "Berlangsung", "Balasan pertama p50 (d)", "Balasan pertama p90 (d)"])
    categories = page.locator("#report-texts-categories tbody tr")
    expect(categories).to_have_count(len(TEXTS["by_category"]))
    for name, count in TEXTS["by_category"].items():
        expect(page.locator(f'#report-texts-categories tr[data-category="{name}"] '
                            'td[data-figure="sessions"]')).to_have_text(str(count))
    section.scroll_into_view_if_needed()
    screenshot(page, request, "3-texts")

    page.click("#lang-switch")  # the same section in English
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#report-texts-title")).to_have_text("Text messages (SMS)")
    expect(section.locator("th")).to_contain_text(
        ["Sessions", "Taken by a call-taker", "Unanswered (offer timed out)", "Replied",
         "In progress", "First reply p50 (s)", "First reply p90 (s)"])
    expect(section.locator('td[data-figure="first_reply_p90_seconds"]')).to_have_text(
        str(TEXTS["first_reply_p90_seconds"]))
