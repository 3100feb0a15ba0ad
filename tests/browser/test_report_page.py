"""A supervisor's report page: its SVG chart has one bar per group, and the CSV it offers
for download is what `ntpd-ivr report --by day --format csv` prints for the same period."""

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
from tests.integration.reporting import END, START, seed


def test_report_chart_and_csv_match_the_cli(page: Page, web: RunningWeb,
                                            request: pytest.FixtureRequest) -> None:
    web.run(seed(web.service.engine, truncate=False))  # other tests' rows stay
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

