"""`ntpd-ivr config reload` against the real Asterisk, with a caller on the line."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from ntpd_ivr.stack.devstack import DevStack

from .conftest import Controller, Takers
from .test_first_call import finished_call, new_caller, silent_caller_in_the_menu, who_answered

pytestmark = pytest.mark.e2e


async def test_reload_keeps_the_call_in_progress(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    caller = new_caller()
    placing = await silent_caller_in_the_menu(stack, running_controller, caller)

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
