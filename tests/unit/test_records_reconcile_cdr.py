"""Reading Asterisk's cdr_custom Master.csv (column order: asterisk-conf/cdr_custom.conf)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ntpd_ivr.calls.reconcile import CDR_COLUMNS, parse_cdr, parse_cdr_time, read_cdr

# Real lines from an end-to-end run, plus a call-taker leg and a foreign context.
ANSWERED = ('""""" <081234567890>","081234567890","s","ntpd-emergency",'
            '"PJSIP/operator-local-00000000","PJSIP/taker-1-00000001","Queue",'
            '"2026-11-28 07:09:30","2026-11-28 07:09:30","2026-11-28 07:09:34","3","3",'
            '"ANSWERED","1795849770.0","1795849770.0"')
ABANDONED = ('"" <081100001111>","081100001111","s","ntpd-fallback",'
             '"PJSIP/operator-local-00000002","",'
             '"Queue","2026-11-28 07:10:00","2026-11-28 07:10:00","2026-11-28 07:10:25",'
             '"25","25","ANSWERED","1795849800.2","1795849800.2"')
IVR = ('"" <0812>","0812","112","from-operator","PJSIP/operator-local-00000003","",'
       '"AGI","1795849900.5","1795849900.5","1795849903.25","3","3","ANSWERED",'
       '"1795849900.3","1795849900.3"')
TAKER_LEG = ('"","","s","from-takers","PJSIP/taker-1-00000001","","AppQueue",'
             '"2026-11-28 07:09:31","","2026-11-28 07:09:34","3","0","NO ANSWER",'
             '"1795849770.1","1795849770.0"')


def test_only_callers_own_legs_in_emergency_contexts() -> None:
    calls = {c.uniqueid: c for c in parse_cdr([ANSWERED, ABANDONED, IVR, TAKER_LEG])}
    assert set(calls) == {"1795849770.0", "1795849800.2", "1795849900.3"}
    answered = calls["1795849770.0"].update()
    assert (answered.disposition, answered.answered_by, answered.trunk, answered.reconciled,
            answered.answered_at) == ("answered", "taker-1", "operator-local", True, None)
    assert (answered.arrived_at, answered.ended_at) == (
        parse_cdr_time("2026-11-28 07:09:30"), parse_cdr_time("2026-11-28 07:09:34"))
    assert calls["1795849800.2"].update().disposition == "abandoned-in-queue"
    ivr = calls["1795849900.3"].update()
    assert (ivr.disposition, ivr.ended_at) == ("hung-up-in-ivr", 1795849903.25)


def test_times_are_utc() -> None:
    assert parse_cdr_time("2026-11-28 07:09:30") == 1795849770.0
    assert parse_cdr_time("1795849770.5") == 1795849770.5
    assert parse_cdr_time("") is None
    with pytest.raises(ValueError):
        parse_cdr_time("yesterday")


def test_bad_rows_are_skipped_with_file_and_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "Master.csv"
    bad_time = ANSWERED.replace("2026-11-28 07:09:30", "garbage", 1)
    path.write_text("\n".join(['"too","few"', bad_time, IVR]) + "\n")
    with caplog.at_level(logging.WARNING):
        calls = read_cdr(path)
    assert [c.uniqueid for c in calls] == ["1795849900.3"]
    assert f"{path} line 1: 2 columns, expected {len(CDR_COLUMNS)}" in caplog.text
    assert f"{path} line 2: not a CDR time: 'garbage'" in caplog.text
    assert read_cdr(tmp_path / "missing.csv") == []
