"""The pure parts of `ntpd-ivr bench-surge`: the call mix, the replayed alert and the
report's figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ntpd_ivr.alerts.cap import parse_xml, read_alert, validation_error
from ntpd_ivr.bench.surge import ModeFigures, SurgeBench, replayed_alert, report


def test_the_call_mix_is_80_percent_about_the_event() -> None:
    assert SurgeBench(rate=1.0, segment_seconds=60).counts() == {"other": 12, "about": 48}


def test_the_replayed_alert_is_sent_now_and_still_current() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    root = parse_xml(replayed_alert(now), 1_000_000)
    assert validation_error(root) is None
    alert = read_alert(root)
    assert abs(alert.sent - now) <= timedelta(seconds=1)
    assert alert.expires is None or alert.expires > now


def test_report_gives_the_ratio_the_goal_and_the_diverted() -> None:
    off = ModeFigures("off", other_placed=10, other_offered=10, other_answered=8,
                      other_waits=[10.0] * 7 + [30.0])
    surge = ModeFigures("surge", other_placed=10, other_offered=10, other_answered=10,
                        other_waits=[2.0] * 9 + [4.0], other_announced=10)
    text = report(SurgeBench(), {"off": off, "surge": surge}, "T")
    assert "p95 7.5x lower with surge mode (goal >= 3x: met)" in text
    assert "20.0% (off) vs 0.0% (surge)" in text
    assert "sent to the information branch: 0" in text
    assert "heard the announcement in surge mode: 10/10" in text


def test_report_names_the_call_takers_and_what_callers_about_the_event_press() -> None:
    empty = {m: ModeFigures(m) for m in ("off", "surge")}
    assert ("4 call-takers (one call each" in report(SurgeBench(), empty, "T")
            and "press 8 without surge mode, 8 with it" in report(SurgeBench(), empty, "T"))
    text = report(SurgeBench(takers=2, about_key_off="4"), empty, "T")
    assert "2 call-takers" in text and "press 4 without surge mode, 8 with it" in text
