"""Migrations and the record keeper against a real PostgreSQL (see tests/conftest.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.calls import keeper as keeper_module
from ntpd_ivr.calls.keeper import RecordKeeper
from ntpd_ivr.calls.spool import Spool, SpoolBatch
from ntpd_ivr.calls.store import RecordStore
from ntpd_ivr.calls.tables import Call
from ntpd_ivr.calls.values import CallUpdate
from ntpd_ivr.db import migrate
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.errors import StackError
from ntpd_ivr.settings import DatabaseSettings, RecordsSettings
from ntpd_ivr.stack import postgres as postgres_module
from ntpd_ivr.stack.postgres import LocalPostgres
from ntpd_ivr.tables import metadata

if TYPE_CHECKING:
    from tests.conftest import RunningPostgres

T0 = 1_700_000_000.0


def keeper_settings(tmp_path: Path, batch_max: int = 200) -> RecordsSettings:
    return RecordsSettings(spool_dir=str(tmp_path / "spool"), batch_max=batch_max,
                           retry_seconds=0.1)


async def eventually(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not {what} after {seconds} s")


async def settled(keeper: RecordKeeper) -> None:
    await eventually(lambda: keeper.state()["pending"] == 0, f"applied: {keeper.state()}")


async def rows(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    async with engine.connect() as connection:
        result = await connection.execute(select(Call.__table__))
        return {row.uniqueid: dict(row._mapping) for row in result}


def ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def test_local_postgres_is_idempotent_and_loopback_only(
        postgres: RunningPostgres) -> None:
    server = postgres.server
    assert server.initialized and server.running()
    await asyncio.to_thread(server.init)  # no-op: must not touch the live cluster
    await asyncio.to_thread(server.start)  # no-op: already running
    connection = await asyncpg.connect(host=server.host, port=server.port, user=server.user,
                                       password=server.password, database=server.database)
    try:
        assert await connection.fetchval("SHOW listen_addresses") == "127.0.0.1"
        assert await connection.fetchval("SELECT rolsuper FROM pg_roles "
                                         "WHERE rolname = current_user") is False
    finally:
        await connection.close()
    for user, password in [(server.user, "wrong"), ("postgres", server.password)]:
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(host=server.host, port=server.port, user=user,
                                  password=password, database=server.database)


def test_local_postgres_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_module, "PACKAGE_ROOT", tmp_path / "none")
    with pytest.raises(StackError, match="apt-get install postgresql"):
        LocalPostgres(tmp_path / "data", 5432, "secret")


async def test_migrations_go_down_to_base_and_up_again(postgres: RunningPostgres) -> None:
    engine = make_engine(DatabaseSettings(url=postgres.url))

    async def tables() -> set[str]:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))

    def schema_drift(connection: Any) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    try:
        assert "calls" in await tables()
        with pytest.raises(RuntimeError, match="to_thread"):
            migrate.upgrade(postgres.url)  # from inside the event loop: refused clearly
        await asyncio.to_thread(migrate.downgrade, postgres.url, "base")
        assert await tables() == {"alembic_version"}
    finally:
        await asyncio.to_thread(migrate.upgrade, postgres.url)
    try:
        assert "calls" in await tables()
        async with engine.connect() as connection:
            assert await connection.run_sync(schema_drift) == [], \
                "models and migrations disagree: write a migration"
            indexes = await connection.run_sync(lambda c: inspect(c).get_indexes("calls"))
        assert {"name": "ix_calls_arrived_at", "column_names": ["arrived_at"]}.items() <= \
            indexes[0].items()
    finally:
        await engine.dispose()


async def test_engine_sets_the_statement_timeout(db_engine: AsyncEngine) -> None:
    async with db_engine.connect() as connection:
        assert await connection.scalar(text("SHOW statement_timeout")) == "5s"


@pytest.mark.parametrize("batch_max", [1, 200])
async def test_updates_merge_into_one_row(
        tmp_path: Path, db_engine: AsyncEngine, batch_max: int) -> None:
    keeper = RecordKeeper(keeper_settings(tmp_path, batch_max), db_engine)
    await keeper.start()
    for update in [
        CallUpdate("c1", T0 + 1, caller_number="0811", trunk="telkom", dialed="112",
                   arrived_at=T0 + 10, category="police"),
        CallUpdate("c2", T0 + 2, caller_number="0822", arrived_at=T0 + 20),
        CallUpdate("c1", T0 + 3, arrived_at=T0 + 5, category="fire", queue="takers-fire"),
        CallUpdate("c1", T0 + 4, arrived_at=T0 + 30, answered_at=T0 + 40,
                   answered_by="PJSIP/101"),
        CallUpdate("c1", T0 + 5, ended_at=T0 + 50, hangup_cause=16,
                   hangup_cause_text="Normal Clearing"),
    ]:
        await keeper.record(update)
    await settled(keeper)
    assert keeper.state() == {"database": "ok", "pending": 0, "applied_total": 5,
                              "last_error": None}
    await keeper.stop()

    table = await rows(db_engine)
    assert set(table) == {"c1", "c2"}
    c1 = table["c1"]
    assert {k: c1[k] for k in ("caller_number", "trunk", "dialed", "category", "queue",
                               "answered_by", "hangup_cause", "hangup_cause_text")} == {
        "caller_number": "0811", "trunk": "telkom", "dialed": "112", "category": "fire",
        "queue": "takers-fire", "answered_by": "PJSIP/101", "hangup_cause": 16,
        "hangup_cause_text": "Normal Clearing"}
    assert c1["arrived_at"] == ts(T0 + 5), "arrived_at keeps the earliest value"
    assert (c1["answered_at"], c1["ended_at"]) == (ts(T0 + 40), ts(T0 + 50))
    assert (c1["created_at"], c1["updated_at"]) == (ts(T0 + 1), ts(T0 + 5))
    assert c1["linkedid"] is None and c1["ivr_digit"] is None
    assert table["c2"]["caller_number"] == "0822" and table["c2"]["category"] is None


async def test_applier_takes_fresh_records_from_memory_not_the_file(
        tmp_path: Path, db_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real_read = Spool.read

    def counting_read(self: Spool, max_lines: int) -> SpoolBatch:
        batch = real_read(self, max_lines)
        reads.append(batch.lines)
        return batch

    monkeypatch.setattr(Spool, "read", counting_read)
    keeper = RecordKeeper(keeper_settings(tmp_path, batch_max=7), db_engine)
    await keeper.start()
    await keeper.record(CallUpdate("m0", T0 - 1, category="first"))
    await settled(keeper)  # at start the applier reads the file: it may hold a backlog
    reads.clear()
    for n in range(40):
        await keeper.record(CallUpdate(f"m{n % 5}", T0 + n, category=f"c{n}"))
    await settled(keeper)
    await keeper.stop()
    assert sum(reads) == 0, f"read {sum(reads)} records back from the file: {reads}"
    table = await rows(db_engine)
    assert {uid: row["category"] for uid, row in table.items()} == {
        f"m{k}": f"c{35 + k}" for k in range(5)}


async def test_replaying_the_spool_gives_the_same_rows(
        tmp_path: Path, db_engine: AsyncEngine) -> None:
    keeper = RecordKeeper(keeper_settings(tmp_path, batch_max=3), db_engine)
    await keeper.start()
    for n in range(12):
        await keeper.record(CallUpdate(f"r{n % 4}", T0 + n, arrived_at=T0 + 100 - n,
                                       category=f"cat{n}", caller_number="08" if n < 4 else None))
    await settled(keeper)
    await keeper.stop()
    before = await rows(db_engine)

    # As if the cursor had never moved: every update is applied a second time.
    (tmp_path / "spool" / "cursor.json").unlink()
    replay = RecordKeeper(keeper_settings(tmp_path, batch_max=3), db_engine)
    await replay.start()
    assert replay.state()["pending"] == 12
    await settled(replay)
    await replay.stop()
    after = await rows(db_engine)
    assert len(after) == 4
    assert after == before
    assert after["r1"]["category"] == "cat9" and after["r1"]["arrived_at"] == ts(T0 + 91)


def expected_rows(updates: list[CallUpdate]) -> dict[str, dict[str, Any]]:
    """The upsert rules, written out plainly as a reference."""
    table: dict[str, dict[str, Any]] = {}
    for update in updates:
        row = table.setdefault(update.uniqueid, {})
        if update.caller_number is not None:
            row["caller_number"] = update.caller_number
        if update.category is not None:
            row["category"] = update.category
        if update.arrived_at is not None:
            row["arrived_at"] = min(row.get("arrived_at", update.arrived_at), update.arrived_at)
        if update.answered_by is not None:
            row["answered_by"] = update.answered_by
    return {uid: {**row, "arrived_at": ts(row["arrived_at"])} for uid, row in table.items()}


# fresh_max 5: memory overflows during the outage, so the applier must catch up from the
# spool file and then go back to memory, without losing or repeating a record.
@pytest.mark.parametrize("fresh_max", [keeper_module.FRESH_MAX, 5])
async def test_nothing_is_lost_while_the_database_is_down(
        tmp_path: Path, postgres_factory: Callable[[], Awaitable[RunningPostgres]],
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        fresh_max: int) -> None:
    monkeypatch.setattr(keeper_module, "FRESH_MAX", fresh_max)
    failed_applies: list[str] = []
    real_apply = RecordStore.apply

    async def counted_apply(self: RecordStore, updates: Any) -> Any:
        try:
            return await real_apply(self, updates)
        except Exception as exc:
            failed_applies.append(type(exc).__name__)
            raise

    monkeypatch.setattr(RecordStore, "apply", counted_apply)
    private = await postgres_factory()
    engine = make_engine(DatabaseSettings(url=private.url, connect_timeout_seconds=1))
    keeper = RecordKeeper(keeper_settings(tmp_path, batch_max=7), engine)
    await keeper.start()
    updates = [CallUpdate(f"down-{n % 10}", T0 + n, arrived_at=T0 + 1000 - n,
                          category=f"c{n}", caller_number=f"08{n}" if n < 10 else None,
                          answered_by=f"PJSIP/{n}" if n % 3 == 0 else None)
               for n in range(50)]
    try:
        with caplog.at_level(logging.WARNING, logger="ntpd_ivr.calls.keeper"):
            for n, update in enumerate(updates):
                if n == 15:
                    await asyncio.to_thread(private.server.stop)
                    assert not private.server.running()
                await keeper.record(update)
            await eventually(lambda: keeper.state()["database"] == "unreachable",
                             "seen as unreachable")
            await eventually(lambda: len(failed_applies) >= 4,
                             "several retries, each failing")
            state = keeper.state()
            assert state["pending"] > 0 and state["last_error"]
            await asyncio.to_thread(private.server.start)
            await settled(keeper)
        outage_lines = [r for r in caplog.records if "database unreachable" in r.getMessage()]
        assert len(outage_lines) == 1, "one warning per outage, not one per retry"
        assert "database reachable again" in caplog.text
        assert keeper.state()["database"] == "ok"
        assert keeper.state()["applied_total"] == 50
        table = await rows(engine)
        expected = expected_rows(updates)
        assert set(table) == set(expected) and len(table) == 10
        for uid, row in expected.items():
            assert {k: table[uid][k] for k in row} == row, uid
    finally:
        await keeper.stop()
        await engine.dispose()


CRASHING_WRITER = textwrap.dedent("""
    import asyncio, os, sys
    from ntpd_ivr.calls.keeper import RecordKeeper
    from ntpd_ivr.calls.values import CallUpdate
    from ntpd_ivr.settings import RecordsSettings

    async def main():
        keeper = RecordKeeper(RecordsSettings(spool_dir=sys.argv[1]), None)
        await keeper.start()
        for n in range(30):
            await keeper.record(CallUpdate(f"crash-{n % 6}", 1.7e9 + n, category=f"c{n}",
                                           arrived_at=1.7e9 + 100 - n))
        print("recorded", flush=True)
        os.kill(os.getpid(), 9)  # no stop(), no flush, no atexit: a real crash

    asyncio.run(main())
""")


async def test_keeper_restarted_after_a_crash_applies_what_was_pending(
        tmp_path: Path, db_engine: AsyncEngine) -> None:
    spool_dir = tmp_path / "spool"
    crashed = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", CRASHING_WRITER, str(spool_dir)],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONWARNINGS": "error"})
    assert crashed.returncode == -9 and crashed.stdout == "recorded\n", crashed.stderr

    keeper = RecordKeeper(keeper_settings(tmp_path), db_engine)
    await keeper.start()
    assert keeper.state()["pending"] == 30
    await settled(keeper)
    await keeper.stop()
    table = await rows(db_engine)
    assert len(table) == 6
    assert table["crash-5"]["category"] == "c29"
    assert table["crash-5"]["arrived_at"] == ts(1.7e9 + 100 - 29)


async def test_compaction_with_the_database_keeps_every_update(
        tmp_path: Path, db_engine: AsyncEngine) -> None:
    keeper = RecordKeeper(keeper_settings(tmp_path, batch_max=10), db_engine,
                          compact_bytes=2000)
    await keeper.start()
    for round_ in range(3):
        await asyncio.gather(*(keeper.record(CallUpdate(f"k{n}", T0 + n, category=f"r{round_}"))
                               for n in range(40)))
        await settled(keeper)
    await keeper.stop()
    segments = sorted(p.name for p in (tmp_path / "spool").glob("calls-*.jsonl"))
    assert len(segments) == 1 and segments[0] != "calls-000000000001.jsonl", segments
    table = await rows(db_engine)
    assert len(table) == 40 and {row["category"] for row in table.values()} == {"r2"}


async def test_migration_0003_puts_recorded_callers_in_canonical_form(
        postgres: RunningPostgres) -> None:
    engine = make_engine(DatabaseSettings(url=postgres.url))
    insert = text("INSERT INTO calls (uniqueid, caller_number) VALUES (:u, :n)")
    try:
        await asyncio.to_thread(migrate.downgrade, postgres.url, "0002")
        async with engine.begin() as connection:
            await connection.execute(text("TRUNCATE calls"))
            await connection.execute(insert, [
                {"u": "m1", "n": "081234567890"}, {"u": "m2", "n": "6281234567890"},
                {"u": "m3", "n": "+6281234567890"}, {"u": "m4", "n": "<unknown>"},
                {"u": "m5", "n": "anonymous"}, {"u": "m6", "n": None}, {"u": "m7", "n": "112"}])
        await asyncio.to_thread(migrate.upgrade, postgres.url)
        async with engine.connect() as connection:
            rows = dict((await connection.execute(
                text("SELECT uniqueid, caller_number FROM calls"))).all())
        assert rows == {"m1": "+6281234567890", "m2": "+6281234567890", "m3": "+6281234567890",
                        "m4": "unknown", "m5": "withheld", "m6": None, "m7": "112"}
    finally:
        await asyncio.to_thread(migrate.upgrade, postgres.url)
        async with engine.begin() as connection:
            await connection.execute(text("TRUNCATE calls"))
        await engine.dispose()
