"""The SVG charts and the grouped report's figures (pure, no database)."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ntpd_ivr.incidents.commitments import DispatchRow
from ntpd_ivr.reports.grouped import (
    ReportCall,
    ReportDispatch,
    compute_report,
    to_csv,
    to_table,
)
from ntpd_ivr.reports.model import COLUMNS, CallRow, TextRow, text_figures
from ntpd_ivr.reports.svg import bar_chart, line_chart
from ntpd_ivr.routing.config import load_routing_config

SVG = "{http://www.w3.org/2000/svg}"
CONFIG = load_routing_config(Path(__file__).resolve().parents[2] / "config"
                             / "routing.example.toml")
# 16:30 UTC is 23:30 WIB: still the 28th in Palembang; 17:30 UTC is the 29th there.
LATE = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)
NEXT_DAY = datetime(2026, 11, 28, 17, 30, tzinfo=UTC)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_bar_chart_has_one_bar_per_valued_group_and_escapes_labels() -> None:
    svg = parse(bar_chart("Calls <offered>", ["a&b", "c", "d"], [3, None, 10]))
    bars = svg.findall(f"{SVG}rect[@class='chart-bar']")
    # "c" has no value: no bar (not a zero-height one).
    assert [(b.get("data-group"), b.get("data-value")) for b in bars] == [("a&b", "3"),
                                                                          ("d", "10")]
    assert svg.find(f"{SVG}title").text == "Calls <offered>"  # type: ignore[union-attr]
    # The tallest bar reaches the axis top (10), the other is 3/10 of it.
    heights = [float(b.get("height", "0")) for b in bars]
    assert heights[0] == pytest.approx(heights[1] * 0.3, abs=0.2)


def test_line_chart_points_and_target_and_empty_chart() -> None:
    svg = parse(line_chart("within", ["d1", "d2", "d3"], [50.0, None, 95.5], unit="%",
                           top=100.0, target=90.0))
    points = svg.findall(f"{SVG}circle[@class='chart-point']")
    assert [p.get("data-value") for p in points] == ["50", "95.5"]
    assert svg.find(f"{SVG}line[@class='target']") is not None
    assert svg.find(f"{SVG}polyline[@class='line']") is not None
    empty = parse(bar_chart("none", [], []))
    assert empty.findall(f"{SVG}rect[@class='chart-bar']") == []
    with pytest.raises(ValueError, match="one value per label"):
        bar_chart("x", ["a"], [])


def answered(at: datetime, seconds: float, **kw: object) -> ReportCall:
    row = CallRow(arrived_at=at, answered_at=at + timedelta(seconds=seconds),
                  ended_at=at + timedelta(seconds=90), disposition="answered",
                  category="fire", region="palembang")
    return ReportCall(row, **kw)  # type: ignore[arg-type]


def abandoned(at: datetime) -> ReportCall:
    return ReportCall(CallRow(arrived_at=at, ended_at=at + timedelta(seconds=40),
                              disposition="abandoned-in-queue", region="palembang"))


def test_days_in_the_centers_zone_prank_ghost_and_n() -> None:
    calls = [answered(LATE, 8, taker_disposition="prank", answered_by="taker-1"),
             answered(NEXT_DAY, 25, taker_disposition="silent", answered_by="taker-1"),
             abandoned(NEXT_DAY)]
    report = compute_report(calls, [], by="day", within=30, config=CONFIG, start=LATE,
                            end=NEXT_DAY + timedelta(hours=1))
    by_group = {g["group"]: g for g in report.groups}
    assert list(by_group) == ["2026-11-28", "2026-11-29"]
    day2 = by_group["2026-11-29"]
    assert (day2["offered"], day2["answered"], day2["abandoned"]) == (2, 1, 1)
    assert (day2["answered_within_n_pct"], day2["answered_within_20s_pct"]) == (50.0, 0.0)
    assert (day2["ghost"], day2["ghost_pct"], day2["prank"]) == (1, 50.0, 0)
    assert report.total["offered"] == 3 and report.total["prank_pct"] == 33.33
    lines = to_csv(report).splitlines()
    assert lines[0].split(",") == list(COLUMNS) and lines[-1].startswith("all,3,2,1,")
    table = to_table(report).splitlines()
    assert "by day" in table[0] and "(Asia/Jakarta); N = 30 s" in table[0]
    assert [line.split()[0] for line in table[2:]] == ["2026-11-28", "2026-11-29", "all"]
    assert table[-1].split()[1:6] == ["3", "2", "1", "0", "66.67%"]  # info: 0
    takers = compute_report(calls, [], by="calltaker", within=20, config=CONFIG, start=LATE,
                            end=NEXT_DAY + timedelta(hours=1), takers={"taker-1": "ani"})
    assert [g["group"] for g in takers.groups] == ["ani", "unanswered"]


def test_agency_groups_calls_by_their_incidents_dispatches() -> None:
    calls = [answered(LATE, 5, agencies=("palembang-damkar", "palembang-dinkes")),
             answered(LATE, 5)]
    dispatch = ReportDispatch(DispatchRow("palembang-damkar", "palembang", "notify",
                                          "accepted", LATE, accepted_at=LATE
                                          + timedelta(seconds=30)), "fire", "ani")
    report = compute_report(calls, [dispatch], by="agency", within=20, config=CONFIG,
                            start=LATE, end=NEXT_DAY)
    by_group = {g["group"]: g for g in report.groups}
    assert {k: v["offered"] for k, v in by_group.items()} == {
        "none": 1, "palembang-damkar": 1, "palembang-dinkes": 1}
    assert by_group["palembang-damkar"]["dispatches"] == 1
    assert by_group["palembang-damkar"]["dispatch_accept_p50_seconds"] == 30.0
    assert by_group["palembang-dinkes"]["dispatches"] == 0
    with pytest.raises(ValueError, match="by must be"):
        compute_report([], [], by="hour", within=20, config=CONFIG, start=LATE, end=NEXT_DAY)


@pytest.mark.parametrize(("peak", "ticks"), [
    (4, ["0", "1", "2", "3", "4", "5"]), (17, ["0", "5", "10", "15", "20"]),
    (90, ["0", "20", "40", "60", "80", "100"]), (0, ["0", "0.2", "0.4", "0.6", "0.8", "1"])])
def test_round_ticks(peak: float, ticks: list[str]) -> None:
    svg = parse(bar_chart("t", ["a"], [peak]))
    assert [t.text for t in svg.findall(f"{SVG}text[@class='tick']")] == ticks


def test_the_table_shows_the_text_sessions_after_the_groups() -> None:
    """`ntpd-ivr report --by ... --format table`: the calls' lines, then the text
    sessions' figures (a "-" for a time with no reply to measure)."""
    report = compute_report([abandoned(LATE)], [], by="day", within=20, config=CONFIG,
                            start=LATE, end=NEXT_DAY + timedelta(hours=1))
    assert "112 by text" not in to_table(report)  # no texts block: none shown
    replied = [TextRow(arrived_at=LATE, category="fire", ended_at=NEXT_DAY,
                       taken_at=LATE + timedelta(seconds=5),
                       first_reply_at=LATE + timedelta(seconds=s)) for s in (30, 75, 12)]
    lines = to_table(dataclasses.replace(report, texts=text_figures(
        [*replied, TextRow(arrived_at=NEXT_DAY, unanswered_at=NEXT_DAY)]))).splitlines()
    texts = lines[lines.index("") + 1:]
    assert texts[0].startswith("112 by text")
    assert [line.split()[-1] for line in texts[1:8]] == ["4", "3", "1", "3", "1", "s", "s"]
    assert texts[6].split()[-2:] == ["30", "s"] and texts[7].split()[-2:] == ["75", "s"]
    assert [line.split() for line in texts[9:]] == [["fire", "3"], ["unclassified", "1"]]
    empty = to_table(dataclasses.replace(report, texts=text_figures([]))).splitlines()
    assert empty[-3].split()[-1] == "-" and empty[-2].split()[-1] == "-"
    assert empty[-1] == "  by category:"
