"""`ntpd-ivr config reload` against the real Asterisk and controller, with a caller on the
line: the routing file is loaded again (SIGHUP), the call in progress keeps its route, the
next call gets the new one, and a bad file is refused with its file and key."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ntpd_ivr.stack.devstack import OPERATOR_IP, TAKER_IP, DevStack
from ntpd_ivr.stack.sipp import Taker, place_call

from .conftest import Controller, Takers, call_steps
from .test_first_call import finished_call, new_caller, silent_caller_in_the_menu, who_answered

pytestmark = pytest.mark.e2e

UNCLASSIFIED = "[categories.unclassified]     # 0, no key, a wrong key: a call-taker classifies\n"


def config_reload(stack: DevStack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ntpd_ivr", "config", "reload", "--config",
         str(stack.layout.settings_file)], capture_output=True, text=True, timeout=60)


async def route_priority(stack: DevStack, caller: str) -> int:
    row = await finished_call(stack, caller)
    steps = await call_steps(stack, row["uniqueid"])
    decisions = [s["detail"] for s in steps if s["kind"] == "route.decision"]
    assert len(decisions) == 1, steps
    return int(decisions[0]["priority"])


async def test_reload_keeps_the_call_in_progress(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    caller = new_caller()
    placing = await silent_caller_in_the_menu(stack, running_controller, caller)

    reload = await asyncio.to_thread(config_reload, stack)
    assert reload.returncode == 0, reload.stdout + reload.stderr
    for module in ("pbx_config.so", "res_pjsip.so", "app_queue.so"):
        assert f"{module}: Success" in reload.stdout.splitlines(), reload.stdout
    assert "controller (pid " in reload.stdout
    assert "ntpd-emergency" in stack.asterisk.cli("dialplan show ntpd-emergency") \
        if stack.asterisk else False

    result = await placing
    assert result.ok, result.output[-3000:]
    taker = await who_answered(takers)
    row = await finished_call(stack, caller)
    assert (row["route_reason"], row["answered_by"]) == ("no-input", taker)


@pytest.fixture
def routing_file(stack: DevStack) -> Iterator[str]:
    """The stack's routing file, put back (and reloaded) afterwards."""
    original = stack.routing_file.read_text()
    assert UNCLASSIFIED + "priority = 5\n" in original
    yield original
    stack.routing_file.write_text(original)
    assert config_reload(stack).returncode == 0


async def test_a_routing_reload_applies_to_the_next_call_not_the_live_one(
        stack: DevStack, running_controller: Controller, routing_file: str) -> None:
    stand_ins = [Taker(TAKER_IP, port, talk_ms=800, calls=3) for port in stack.layout.taker_ports]
    try:
        live = new_caller()
        placing = await silent_caller_in_the_menu(stack, running_controller, live)
        # Unclassified callers (this silent one) are queued at priority 5; the new file
        # says 6. The caller is in the menu while the reload happens.
        stack.routing_file.write_text(routing_file.replace(
            UNCLASSIFIED + "priority = 5\n", UNCLASSIFIED + "priority = 6\n"))
        reload = await asyncio.to_thread(config_reload, stack)
        assert reload.returncode == 0, reload.stdout + reload.stderr
        assert (await placing).ok
        assert await route_priority(stack, live) == 5

        def call_pressing_0(caller: str) -> None:
            result = place_call(f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0,
                                digit="0", caller=caller, digit_delay_ms=800, timeout=60)
            assert result.ok, result.output[-3000:]

        following = new_caller()
        await asyncio.to_thread(call_pressing_0, following)
        assert await route_priority(stack, following) == 6

        # A bad file: refused by the command, naming file and key; nothing reloaded.
        stack.routing_file.write_text(routing_file.replace(
            UNCLASSIFIED + "priority = 5\n", UNCLASSIFIED + 'priority = "high"\n'))
        refused = await asyncio.to_thread(config_reload, stack)
        assert refused.returncode == 2
        assert f"{stack.routing_file}: categories.unclassified.priority: expected int" \
            in refused.stderr, refused.stderr
        assert "Success" not in refused.stdout
        # ... and by the controller itself on SIGHUP: its running config stays.
        assert running_controller.process is not None
        os.kill(running_controller.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "routing config not reloaded, the running one stays" not in \
                running_controller.log_tail(200):
            assert time.monotonic() < deadline, running_controller.log_tail()
            await asyncio.sleep(0.2)
        assert "categories.unclassified.priority" in running_controller.log_tail(200)
        after_bad = new_caller()
        await asyncio.to_thread(call_pressing_0, after_bad)
        assert await route_priority(stack, after_bad) == 6
    finally:
        for taker in stand_ins:
            taker.stop()
