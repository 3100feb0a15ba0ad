"""Reconciliation from the CDR and the report, against a real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr import cli
from ntpd_ivr.calls.reconcile import parse_cdr, reconcile
from ntpd_ivr.calls.store import apply_records
from ntpd_ivr.calls.values import CallUpdate
from tests.integration.test_records_db import rows, ts
from tests.unit.test_records_reconcile_cdr import ABANDONED, ANSWERED, IVR

if TYPE_CHECKING:
    from tests.conftest import RunningPostgres

AMI_ARRIVAL = 1795849769.75  # the AMI Newchannel time, finer than the CDR's 07:09:30


async def test_missing_calls_are_added_and_unfinished_ones_completed_once(
        db_engine: AsyncEngine) -> None:
    # From AMI: the answered call arrived and was answered, then the controller died.
    await apply_records(db_engine, [
        CallUpdate("1795849770.0", AMI_ARRIVAL, arrived_at=AMI_ARRIVAL, category="fire",
                   answered_at=AMI_ARRIVAL + 2, answered_by="taker-1"),
        CallUpdate("1795849900.3", 1795849900.4, arrived_at=1795849900.4, ended_at=1795849903.3,
                   disposition="hung-up-in-ivr", caller_number="ami-number")])
    before = await rows(db_engine)
    calls = parse_cdr([ANSWERED, ABANDONED, IVR])

    result = await reconcile(db_engine, calls)
    assert (result.examined, result.inserted, result.completed) == (3, 1, 1)
    table = await rows(db_engine)
    answered = table["1795849770.0"]
    assert answered["reconciled"] is True
    assert answered["arrived_at"] == ts(AMI_ARRIVAL), "AMI data is never overwritten"
    assert (answered["category"], answered["answered_by"]) == ("fire", "taker-1")
    assert answered["ended_at"] == ts(1795849774.0)
    assert answered["disposition"] == "answered"
    missed = table["1795849800.2"]
    assert (missed["reconciled"], missed["disposition"], missed["caller_number"]) == (
        True, "abandoned-in-queue", "+6281100001111")  # canonical form
    assert table["1795849900.3"] == before["1795849900.3"], "a complete row is left alone"

    again = await reconcile(db_engine, calls)
    assert (again.inserted, again.completed) == (0, 0)
    assert await rows(db_engine) == table


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "ntpd-ivr.toml"
    config.write_text(f'[ami]\nsecret = "test-only"\n[database]\nurl = "{url}"\n'
                      f'[records]\nspool_dir = "{tmp_path}/spool"\n')
    return config


async def test_reconcile_and_report_commands(
        tmp_path: Path, db_engine: AsyncEngine, postgres: RunningPostgres,
        capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    config = write_config(tmp_path, postgres.url)
    cdr = tmp_path / "Master.csv"
    cdr.write_text("\n".join([ANSWERED, ABANDONED, IVR]) + "\n")
    code = await asyncio.to_thread(cli.main, ["reconcile", "--config", str(config),
                                              "--cdr", str(cdr)])
    assert code == 0
    assert "3 ended 112 call(s)" in capsys.readouterr().out
    await apply_records(db_engine, [CallUpdate("1795849770.0", AMI_ARRIVAL,
                                               answered_at=AMI_ARRIVAL + 4.25)])
    code = await asyncio.to_thread(cli.main, [
        "report", "--config", str(config), "--from", "2026-11-28", "--to", "2026-11-29",
        "--format", "json"])
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["offered"], figures["answered"], figures["abandoned"]) == (3, 1, 2)
    assert figures["answered_within_10s_pct"] == pytest.approx(33.33)
    assert figures["average_answer_seconds"] == 4.0  # from the CDR arrival at 07:09:30
    assert figures["by_disposition"] == {"abandoned-in-queue": 1, "answered": 1,
                                         "hung-up-in-ivr": 1}
    assert await asyncio.to_thread(cli.main, [
        "reconcile", "--config", str(config), "--cdr", str(tmp_path / "none.csv")]) == 2
    assert "none.csv not found" in capsys.readouterr().err


async def test_calls_up_on_a_node_when_it_died_are_closed_once_it_is_back(
        db_engine: AsyncEngine) -> None:
    from ntpd_ivr.calls.store import close_cut_calls, transaction

    boot = 1795850000.0  # node-a's Asterisk started again here
    await apply_records(db_engine, [
        # Up on node-a when it died: one talking to a call-taker, one in the queue.
        CallUpdate("node-a-1795849990.1", 1795849995.5, arrived_at=1795849990.2,
                   queue="q-ambulans", answered_at=1795849993.0, answered_by="taker-1"),
        CallUpdate("node-a-1795849991.2", 1795849992.5, arrived_at=1795849991.3,
                   queue="q-ambulans"),
        # Ended properly before the death: left alone.
        CallUpdate("node-a-1795849980.3", 1795849985.0, arrived_at=1795849980.3,
                   ended_at=1795849985.0, disposition="answered"),
        # The other node's call, and a node-a call that arrived after the new start.
        CallUpdate("node-b-1795849990.4", 1795849990.4, arrived_at=1795849990.4),
        CallUpdate("node-a-1795850001.5", 1795850001.5, arrived_at=1795850001.5),
        # Older than the start, but the controller follows it live: never touched.
        CallUpdate("node-a-1795849999.6", 1795849999.6, arrived_at=1795849999.6),
        # A node with a longer name that starts the same.
        CallUpdate("node-a2-1795849990.7", 1795849990.7, arrived_at=1795849990.7)])
    before = await rows(db_engine)

    async with transaction(db_engine) as pg:
        closed = await close_cut_calls(pg, "node-a", datetime.fromtimestamp(boot, UTC),
                                       ["node-a-1795849999.6"])
    assert sorted(closed) == ["node-a-1795849990.1", "node-a-1795849991.2"]
    table = await rows(db_engine)
    talking, queued = table["node-a-1795849990.1"], table["node-a-1795849991.2"]
    # Each ends at its last event on record; what it had reached stays.
    assert (talking["ended_at"], queued["ended_at"]) == (ts(1795849995.5), ts(1795849992.5))
    assert {talking["disposition"], queued["disposition"]} == {"cut-by-node-failure"}
    assert talking["reconciled"] and queued["reconciled"]
    assert talking["answered_by"] == "taker-1" and queued["answered_at"] is None
    assert talking["hangup_cause_text"] == "the Asterisk node stopped with the call up"
    for untouched in ("node-a-1795849980.3", "node-b-1795849990.4", "node-a-1795850001.5",
                      "node-a-1795849999.6", "node-a2-1795849990.7"):
        assert table[untouched] == before[untouched], untouched

    async with transaction(db_engine) as pg:  # the next login changes nothing
        assert await close_cut_calls(pg, "node-a", datetime.fromtimestamp(boot, UTC),
                                     ["node-a-1795849999.6"]) == []
    assert await rows(db_engine) == table


async def test_a_single_node_without_systemname_closes_only_plain_uniqueids(
        db_engine: AsyncEngine) -> None:
    from ntpd_ivr.calls.store import close_cut_calls, transaction

    await apply_records(db_engine, [
        CallUpdate("1795849990.1", 1795849991.0, arrived_at=1795849990.1),
        CallUpdate("node-a-1795849990.2", 1795849990.2, arrived_at=1795849990.2)])
    async with transaction(db_engine) as pg:
        closed = await close_cut_calls(pg, "", datetime.fromtimestamp(1795850000.0, UTC), [])
    assert closed == ["1795849990.1"]


async def test_an_unconfirmed_close_never_ends_a_named_call_and_the_cdr_completes_one(
        db_engine: AsyncEngine) -> None:
    """calls/confirm.py's `unconfirmed` close: it ends a row no AMI event or CDR named (no
    caller number), leaves a named one alone (a session replayed after a restart), and a
    row closed so wrongly (AMI lost the call) is completed by the CDR."""
    named, forged, lost = "1795849600.1", "1795849600.2", "1795849770.0"

    def close(uniqueid: str, at: float) -> CallUpdate:
        return CallUpdate(uniqueid, at, ended_at=at, disposition="unconfirmed",
                          hangup_cause_text="not confirmed by AMI")

    await apply_records(db_engine, [
        # A real call on record: AMI named it, it ended answered.
        CallUpdate(named, 1795849600.0, caller_number="+62811", trunk="operator-local",
                   arrived_at=1795849600.0, ended_at=1795849610.0, disposition="answered"),
        # The IVR's records only (AgiRecords: no caller number), for all three.
        *(CallUpdate(u, 1795849601.0, queue="takers-default", arrived_at=1795849601.0)
          for u in (named, forged, lost))])
    await apply_records(db_engine, [close(u, 1795849620.0) for u in (named, forged, lost)])
    table = await rows(db_engine)
    assert (table[named]["disposition"], table[named]["ended_at"]) == (
        "answered", ts(1795849610.0))
    assert table[named]["hangup_cause_text"] is None
    assert (table[forged]["disposition"], table[forged]["ended_at"]) == (
        "unconfirmed", ts(1795849620.0))
    assert table[lost]["disposition"] == "unconfirmed"

    result = await reconcile(db_engine, parse_cdr([ANSWERED]))
    assert (result.inserted, result.completed) == (0, 1)
    completed = (await rows(db_engine))[lost]
    assert (completed["disposition"], completed["ended_at"], completed["caller_number"]) == (
        "answered", ts(1795849774.0), "+6281234567890")
    assert completed["hangup_cause_text"] is None  # "not confirmed by AMI" no longer holds


async def test_calls_up_when_the_whole_site_went_dark_are_closed_as_cut_by_site_failure(
        db_engine: AsyncEngine) -> None:
    """docs/ha.md, "A site returning": the node and the database both stopped after the
    call's last event (the database started again before the node): cut-by-site-failure.
    A call whose last event came after the database's start is a node's failure only."""
    from sqlalchemy import text

    from ntpd_ivr.calls.store import close_cut_calls, transaction

    async with db_engine.connect() as conn:
        db_started = (await conn.execute(text(
            "SELECT extract(epoch FROM pg_postmaster_start_time())"))).scalar_one()
    before_db = float(db_started) - 60   # up when the site went dark
    after_db = float(db_started) + 1     # the database was already back: a node failure
    boot = float(db_started) + 600       # the node started again after its database
    await apply_records(db_engine, [
        CallUpdate("node-a-1.1", before_db, arrived_at=before_db - 5, queue="q-ambulans",
                   answered_at=before_db - 2, answered_by="taker-1"),
        CallUpdate("node-a-1.2", after_db, arrived_at=after_db, queue="q-ambulans")])
    async with transaction(db_engine) as pg:
        closed = await close_cut_calls(pg, "node-a", datetime.fromtimestamp(boot, UTC), [])
    assert sorted(closed) == ["node-a-1.1", "node-a-1.2"]
    table = await rows(db_engine)
    site, node = table["node-a-1.1"], table["node-a-1.2"]
    assert (site["disposition"], node["disposition"]) == (
        "cut-by-site-failure", "cut-by-node-failure")
    assert site["ended_at"] == ts(before_db) and site["answered_by"] == "taker-1"
    assert site["hangup_cause_text"].startswith("the site (its nodes and its database)")
    assert site["reconciled"] and node["reconciled"]
