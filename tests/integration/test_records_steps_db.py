"""CallStep rows and the 0002 columns against a real PostgreSQL (see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.calls.keeper import RecordKeeper
from ntpd_ivr.calls.values import CallStep, CallUpdate
from ntpd_ivr.settings import RecordsSettings
from tests.integration.test_records_db import T0, rows, settled, ts


@pytest.fixture
async def engine(db_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    async with db_engine.begin() as connection:
        await connection.execute(text("TRUNCATE call_events"))
    yield db_engine


async def events(engine: AsyncEngine) -> list[tuple[str, str, object, dict[str, object]]]:
    async with engine.connect() as connection:
        result = await connection.execute(text(
            "SELECT uniqueid, kind, at, detail FROM call_events ORDER BY at, kind, id"))
        return [tuple(row) for row in result]  # type: ignore[misc]


async def test_steps_are_stored_once_even_when_the_spool_is_replayed(
        tmp_path: Path, engine: AsyncEngine) -> None:
    settings = RecordsSettings(spool_dir=str(tmp_path / "spool"), batch_max=2,
                               retry_seconds=0.1)
    keeper = RecordKeeper(settings, engine)
    await keeper.start()
    recorded: list[CallUpdate | CallStep] = [
        CallUpdate("s1", T0, arrived_at=T0, region="muba", priority=10),
        CallStep("s1", T0 + 1, "ivr.digit", {"digit": "1"}),
        CallStep("s1", T0 + 2, "agent.ring_no_answer", {"member": "taker-1"}),
        CallStep("s1", T0 + 2, "agent.ring_no_answer", {"member": "taker-2"}),
        CallStep("s1", T0 + 1, "ivr.digit", {"digit": "1"}),  # the same step again
        CallUpdate("s1", T0 + 3, abandoned_at=T0 + 3, disposition="abandoned-in-queue"),
    ]
    for item in recorded:
        await keeper.record(item)
    await settled(keeper)
    await keeper.stop()
    first = await events(engine)
    assert [(uid, kind, detail) for uid, kind, _, detail in first] == [
        ("s1", "ivr.digit", {"digit": "1"}),
        ("s1", "agent.ring_no_answer", {"member": "taker-1"}),
        ("s1", "agent.ring_no_answer", {"member": "taker-2"})]
    assert first[0][2] == ts(T0 + 1)

    (tmp_path / "spool" / "cursor.json").unlink()  # replay everything
    replay = RecordKeeper(settings, engine)
    await replay.start()
    await settled(replay)
    await replay.stop()
    assert await events(engine) == first
    row = (await rows(engine))["s1"]
    assert (row["region"], row["priority"], row["disposition"], row["abandoned_at"],
            row["reconciled"]) == ("muba", 10, "abandoned-in-queue", ts(T0 + 3), False)


async def test_reconciled_flag_is_never_cleared_by_a_later_update(
        tmp_path: Path, engine: AsyncEngine) -> None:
    keeper = RecordKeeper(RecordsSettings(spool_dir=str(tmp_path / "spool")), engine)
    await keeper.start()
    await keeper.record(CallUpdate("r1", T0, arrived_at=T0, reconciled=True))
    await settled(keeper)
    await keeper.record(CallUpdate("r1", T0 + 1, ended_at=T0 + 9))
    await settled(keeper)
    await keeper.stop()
    row = (await rows(engine))["r1"]
    assert row["reconciled"] is True and row["ended_at"] == ts(T0 + 9)
