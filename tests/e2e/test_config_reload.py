"""`ntpd-ivr config reload` against the real Asterisk, with a caller on the line."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from ntpd_ivr.stack.devstack import OPERATOR_IP, DevStack
from ntpd_ivr.stack.sipp import place_call

from .conftest import Controller, Takers
from .test_first_call import finished_call, new_caller, who_answered

pytestmark = pytest.mark.e2e


async def test_reload_keeps_the_call_in_progress(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    caller = new_caller()
    # A silent caller is in the menu for ~10 s: reload while the call is live.
    placing = asyncio.create_task(asyncio.to_thread(
        lambda: place_call(f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0,
                           digit=None, caller=caller, timeout=60)))
    deadline = time.monotonic() + 10
    while running_controller.health()[1]["fastagi"]["active_sessions"] == 0:
        assert time.monotonic() < deadline, "the call never reached the IVR"
        await asyncio.sleep(0.1)

    reload = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "ntpd_ivr", "config", "reload", "--config",
                         str(stack.layout.settings_file)],
        capture_output=True, text=True, timeout=60)
    assert reload.returncode == 0, reload.stdout + reload.stderr
    assert reload.stdout.split() == ["pbx_config.so:", "Success", "res_pjsip.so:", "Success",
                                     "app_queue.so:", "Success"]
    assert "ntpd-emergency" in stack.asterisk.cli("dialplan show ntpd-emergency") \
        if stack.asterisk else False

    result = await placing
    assert result.ok, result.output[-3000:]
    await asyncio.sleep(0.5)
    taker = who_answered(takers)
    row = await finished_call(stack, caller)
    assert (row["route_reason"], row["answered_by"]) == ("no-input", taker)
