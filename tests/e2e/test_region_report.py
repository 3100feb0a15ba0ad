"""A call's region and priority, from the routing decision to the `calls` row to
`ntpd-ivr report --region`, as a supervisor would run it against the live stack."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest

from ntpd_ivr.stack.devstack import DevStack

from .conftest import Controller, Takers, caller, dial, record

pytestmark = pytest.mark.e2e


async def report(stack: DevStack, start: datetime, end: datetime,
                 region: str) -> dict[str, Any]:
    """`ntpd-ivr report --format json` in a subprocess, with the stack's settings file."""
    proc = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "ntpd_ivr", "report", "--config", str(stack.layout.settings_file),
        "--from", start.isoformat(), "--to", end.isoformat(), "--region", region,
        "--format", "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures: dict[str, Any] = json.loads(proc.stdout)
    return figures


@pytest.mark.parametrize(("prefix", "digit", "region", "other_region", "priority"), [
    ("08", "1", "sumsel", "muba", 10),    # the operator trunk's region; ambulance
    ("0714", "3", "muba", "sumsel", 8),   # Sekayu's area code; police, queued at the province
])
async def test_region_and_priority_reach_the_row_and_the_report(
        stack: DevStack, running_controller: Controller, takers: Takers, prefix: str,
        digit: str, region: str, other_region: str, priority: int) -> None:
    number = caller(prefix)
    await dial(stack, number, digit)
    row, _ = await record(stack, number, kinds=frozenset({"route.decision"}))
    assert (row["region"], row["priority"]) == (region, priority)

    # A window holding only this call: earlier tests' calls must not count.
    start = row["arrived_at"]
    end = start + timedelta(milliseconds=1)
    mine = await report(stack, start, end, region)
    assert (mine["region"], mine["offered"], mine["answered"], mine["by_region"]) == (
        region, 1, 1, {region: 1})
    other = await report(stack, start, end, other_region)
    assert (other["offered"], other["by_region"]) == (0, {})
