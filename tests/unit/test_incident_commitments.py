"""Commitment figures per agency and region, and the responsibility matrix (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ntpd_ivr.dispatch import matrix
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.incidents.commitments import (
    ALL_AGENCIES,
    AgencyFigures,
    DispatchRow,
    compute,
    percentile,
    render_table,
)
from ntpd_ivr.routing.config import Commitment, load_routing_config, parse_routing_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
CONFIG = load_routing_config(EXAMPLE)
T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
DAMKAR, DINKES = "palembang-damkar", "palembang-dinkes"  # accept 60 s, on scene 20 / 30 min


def row(agency: str = DAMKAR, mode: str = "notify", status: str = "on-scene", *,
        answer: float | None = None, accept: float | None = None,
        on_scene: float | None = None) -> DispatchRow:
    def at(seconds: float | None) -> datetime | None:
        return None if seconds is None else T0 + timedelta(seconds=seconds)
    return DispatchRow(agency, CONFIG.agencies[agency].region, mode, status, T0, at(answer),
                       at(accept), at(on_scene))


@pytest.mark.parametrize(("values", "p50", "p90"), [
    ([], None, None),
    ([7.0], 7.0, 7.0),
    ([1.0, 2.0], 1.0, 2.0),
    ([float(s) for s in range(1, 11)], 5.0, 9.0),
    ([float(s) for s in range(10, 0, -1)], 5.0, 9.0),  # order does not matter
])
def test_percentiles_are_nearest_rank(values: list[float], p50: float | None,
                                      p90: float | None) -> None:
    assert (percentile(values, 50), percentile(values, 90)) == (p50, p90)


def line(lines: list[AgencyFigures], agency: str) -> dict[str, Any]:
    return next(x for x in lines if x.agency == agency).as_dict()


@pytest.mark.parametrize(("rows", "agency", "expected"), [
    # Within is inclusive, and over every dispatch: a refusal counts as not within.
    ([row(accept=30, on_scene=600), row(accept=60, on_scene=1200),
      row(accept=61, on_scene=1201), row(status="refused")],
     DAMKAR, {"dispatches": 4, "accept": {"reached": 3, "p50_seconds": 60.0,
                                          "p90_seconds": 61.0, "commitment_seconds": 60,
                                          "within_pct": 50.0},
              "on_scene": {"reached": 3, "commitment_seconds": 1200, "within_pct": 50.0}}),
    # Time to answer: "connect" dispatches only (a notify has no trunk to answer).
    ([row(mode="connect", answer=10, accept=20), row(mode="connect", answer=20, accept=40),
      row(accept=5)],
     DAMKAR, {"answer": {"reached": 2, "p50_seconds": 10.0, "p90_seconds": 20.0,
                         "commitment_seconds": 15, "within_pct": 50.0},
              "accept": {"reached": 3, "within_pct": 100.0}}),
    # Cancelled dispatches count nowhere.
    ([row(accept=10), row(status="cancelled")], DAMKAR,
     {"dispatches": 1, "accept": {"within_pct": 100.0}}),
    # No commitment on a step: no share, but the times are still measured.
    ([row(agency=DINKES, mode="connect", answer=40, accept=50)], DINKES,
     {"answer": {"reached": 1, "p50_seconds": 40.0, "commitment_seconds": None,
                 "within_pct": None}, "accept": {"within_pct": 100.0}}),
    # The region line: every agency's dispatch against its own commitment
    # (damkar: 1200 s on scene, dinkes: 1800 s).
    ([row(on_scene=1500), row(agency=DINKES, on_scene=1500)], ALL_AGENCIES,
     {"region": "palembang", "dispatches": 2,
      "on_scene": {"reached": 2, "commitment_seconds": None, "within_pct": 50.0}}),
])
def test_commitment_figures(rows: list[DispatchRow], agency: str,
                            expected: dict[str, Any]) -> None:
    got = line(compute(rows, CONFIG), agency)
    for key, value in expected.items():
        if isinstance(value, dict):
            assert {k: got[key][k] for k in value} == value, key
        else:
            assert got[key] == value, key


def test_lines_per_agency_then_region_and_the_table() -> None:
    lines = compute([row(accept=10), row(agency=DINKES, accept=90),
                     DispatchRow("sumsel-basarnas", "sumsel", "notify", "accepted", T0,
                                 accepted_at=T0 + timedelta(seconds=100))], CONFIG)
    assert [(x.region, x.agency) for x in lines] == [
        ("palembang", DAMKAR), ("palembang", DINKES), ("palembang", ALL_AGENCIES),
        ("sumsel", "sumsel-basarnas"), ("sumsel", ALL_AGENCIES)]
    text = render_table(lines)
    assert "palembang    palembang-damkar" in text and "10s/10s 100%" in text
    assert compute([], CONFIG) == [] and "no dispatches" in render_table([])


def test_commitments_come_from_the_routing_config() -> None:
    assert CONFIG.agencies[DAMKAR].commitment == Commitment(15, 60, 1200)
    assert CONFIG.agencies["palembang-bpbd"].commitment == Commitment()


@pytest.mark.parametrize(("old", "new", "message"), [
    ("answer_seconds = 15", "answer_seconds = 0",
     "agencies.damkar.commitment.answer_seconds: must be 1-86400"),
    ("answer_seconds = 15", "answer_seconds = \"15\"",
     "agencies.damkar.commitment.answer_seconds: expected int"),
    ("on_scene_minutes = 20", "on_scene_minutes = 2000",
     "agencies.damkar.commitment.on_scene_minutes: must be 1-1440"),
    ("answer_seconds = 15", "on_scene_seconds = 60",
     "agencies.damkar.commitment.on_scene_seconds: unknown key"),
])
def test_commitment_mistakes_name_file_and_key(old: str, new: str, message: str) -> None:
    text = EXAMPLE.read_text().replace(old, new)
    with pytest.raises(ConfigError, match=f"^routing.toml: regions.palembang.{message}"):
        parse_routing_config(text, "routing.toml")


@pytest.mark.parametrize(("region", "category", "agencies"), [
    ("palembang", "fire", [DAMKAR]),
    ("palembang", "ambulance", [DINKES]),
    ("muba", "ambulance", ["muba-dinkes"]),
    ("muba", "disaster", ["sumsel-bpbd"]),       # none in Muba: the province's
    ("palembang", "sar", ["sumsel-basarnas"]),
    ("sumsel", "police", []),                    # nobody: the call-taker decides
    ("nowhere", "fire", []),
])
def test_responsibility_matrix(region: str, category: str, agencies: list[str]) -> None:
    assert [a.key for a in matrix.propose(CONFIG, region, category)] == agencies


@pytest.mark.parametrize(("fmt", "expected"), [
    ("table", "palembang    palembang-damkar"),
    ("csv", "agencies.palembang.palembang-damkar.accept.within_pct,100.0"),
    ("json", '"agency": "palembang-damkar"'),
])
def test_ntpd_ivr_report_shows_the_agencies_in_every_format(fmt: str, expected: str) -> None:
    from ntpd_ivr.reports.model import compute_figures
    from ntpd_ivr.reports.report import render

    text = render(compute_figures([]), fmt, start=T0, end=T0 + timedelta(days=1), region=None,
                  agencies=compute([row(accept=10)], CONFIG))
    assert expected in text
