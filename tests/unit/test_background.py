"""The one task supervisor: every failed task is logged, cancelled ones are not."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ntpd_ivr.background import Background


async def test_a_failed_task_is_logged_with_its_owner_and_name(
        caplog: pytest.LogCaptureFixture) -> None:
    background = Background("workspace")

    async def fail() -> None:
        raise RuntimeError("boom")

    task = background.spawn(fail(), name="pop-1")
    with caplog.at_level(logging.ERROR, logger="ntpd_ivr.background"):
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)  # the done callback runs on the next loop turn
    assert [r.getMessage() for r in caplog.records] == ["workspace task pop-1 failed"]
    assert not background.tasks


async def test_stop_cancels_what_runs_and_logs_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    background = Background("campaigns")
    started = asyncio.Event()

    async def wait_forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = background.spawn(wait_forever(), name="warning-campaigns")
    await started.wait()
    with caplog.at_level(logging.ERROR, logger="ntpd_ivr.background"):
        await background.stop()
    assert task.cancelled()
    assert not caplog.records
