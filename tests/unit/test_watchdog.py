"""The loop watchdog ends a process whose event loop is stuck, and only then."""

import subprocess
import sys
import time

from ntpd_ivr.watchdog import EXIT_LOOP_STALLED

SCRIPT = """
import asyncio, time
from ntpd_ivr.watchdog import LoopWatchdog

async def main(block: bool) -> None:
    dog = LoopWatchdog(stall_seconds=0.5)
    dog.start()
    if block:
        time.sleep(600)          # a blocking call on the loop: what must never happen
    else:
        for _ in range(15):      # a busy but healthy loop
            await asyncio.sleep(0.1)
    await dog.stop()
    print("loop finished")

asyncio.run(main({block}))
"""


def run(block: bool) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(block=block)],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def test_a_stalled_loop_ends_the_process_quickly() -> None:
    code, output, took = run(block=True)
    assert code == EXIT_LOOP_STALLED, output
    assert "event loop stalled" in output
    assert "loop finished" not in output
    # Long before the 10 min block would have ended on its own (the subprocess timeout
    # is 2 min): only the watchdog can have ended it.
    assert took < 120


def test_a_healthy_loop_is_left_alone() -> None:
    code, output, _ = run(block=False)
    assert code == 0, output
    assert "loop finished" in output
