"""CallStep (call_events rows) and the new call-record fields, without a database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ntpd_ivr.calls.keeper import RecordKeeper
from ntpd_ivr.calls.spool import Spool, decode_line, encode_line
from ntpd_ivr.calls.store import merge_updates, step_rows
from ntpd_ivr.calls.values import CallStep, CallUpdate
from ntpd_ivr.settings import RecordsSettings

T0 = 1_700_000_000.0


def test_step_round_trips_through_its_spool_line() -> None:
    step = CallStep("1700000000.1", T0 + 0.25, "ivr.digit",
                    {"digit": "1", "attempt": 2, "ms": 1.5, "barge": True, "none": None})
    line = encode_line(step)
    assert json.loads(line)["type"] == "step"
    assert decode_line(line) == step
    assert hash(decode_line(line)) == hash(step)
    update = CallUpdate("1700000000.1", T0, category="fire", disposition="answered")
    assert decode_line(encode_line(update)) == update


def test_step_detail_is_a_frozen_copy() -> None:
    detail = {"agency": "BPBD"}
    step = CallStep("u1", T0, "agency.dispatch", detail)
    detail["agency"] = "Dinkes"
    assert step.detail["agency"] == "BPBD"
    with pytest.raises(TypeError):
        step.detail["agency"] = "x"  # type: ignore[index]
    assert CallStep("u1", T0, "queue.join").detail == {}


@pytest.mark.parametrize("bad", [
    {"uniqueid": ""}, {"uniqueid": 5}, {"at": float("nan")}, {"at": -1}, {"at": "now"},
    {"kind": ""}, {"kind": "Has Space"}, {"kind": "x" * 65}, {"kind": 3},
    {"detail": {"n": float("inf")}}, {"detail": {"n": [1, 2]}}, {"detail": {1: "a"}},
    {"detail": "text"},
])
def test_step_refuses_what_the_database_would_refuse(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {"uniqueid": "u1", "at": T0, "kind": "ivr.menu", **bad}
    with pytest.raises(ValueError):
        CallStep(**fields)  # type: ignore[arg-type]


def test_step_text_is_made_storable() -> None:
    step = CallStep("u1", T0, "ivr.digit", {"raw": "1\x00\udcff"})
    assert step.detail["raw"] == "1\ufffd\ufffd"


@pytest.mark.parametrize("line", ['{"type":"step","uniqueid":"u1","at":1}',
                                  '{"type":"step","uniqueid":"u1","at":1,"kind":"x","detail":7}',
                                  "[1]", "not json"])
def test_spool_line_that_is_neither_is_a_value_error(line: str) -> None:
    with pytest.raises(ValueError):
        decode_line(line)


def test_step_rows_fold_duplicates_and_keep_different_details() -> None:
    same = CallStep("u1", T0, "agent.ring_no_answer", {"member": "taker-1"})
    other = CallStep("u1", T0, "agent.ring_no_answer", {"member": "taker-2"})
    rows = step_rows([same, same, other, CallStep("u1", T0 + 1, "hangup")])
    assert len(rows) == 3
    assert json.loads(rows[0].detail) == {"member": "taker-1"}
    assert rows[0].detail_digest != rows[1].detail_digest


@pytest.mark.parametrize("bad", [{"disposition": "lost"}, {"reconciled": 1},
                                 {"priority": "high"}, {"priority": True},
                                 {"abandoned_at": -3.0}, {"region": 7}])
def test_update_checks_the_new_fields(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CallUpdate("u1", T0, **bad)  # type: ignore[arg-type]


def test_reconciled_once_stays_reconciled_in_a_merge() -> None:
    rows = merge_updates([CallUpdate("u1", T0, reconciled=True, disposition="answered"),
                          CallUpdate("u1", T0 + 1, reconciled=False, region="muba"),
                          CallUpdate("u2", T0, priority=10)])
    assert rows[0]["reconciled"] is True and rows[0]["region"] == "muba"
    assert rows[1]["reconciled"] is False and rows[1]["priority"] == 10


async def test_keeper_spools_steps_and_updates_in_order(tmp_path: Path) -> None:
    settings = RecordsSettings(spool_dir=str(tmp_path / "spool"), retry_seconds=0.05)
    keeper = RecordKeeper(settings, None)
    await keeper.start()
    recorded = [CallUpdate("u1", T0, arrived_at=T0),
                CallStep("u1", T0 + 1, "ivr.menu", {"prompt": "menu"}),
                CallUpdate("u1", T0 + 2, ivr_digit="1"),
                CallStep("u1", T0 + 3, "agency.dispatch", {"agency": "Dinkes", "ok": True})]
    for item in recorded:
        await keeper.record(item)
    assert keeper.state()["pending"] == 4
    await keeper.stop()
    spool = Spool(tmp_path / "spool")
    assert spool.open() == 4
    assert spool.read(10).updates == recorded
    spool.close()
