"""A short load through path (a) -- the operator trunk, the controller's FastAGI IVR --
with the bench's own SIPp scenarios: no call may fail and every successful call must have
exactly one row in `calls`. Bounded: 20 calls/s for 3 s (60 calls) on loopback.
Then a tiny held-callers run: 20 silent callers held in the queue with both call-takers
paused, hung up by SIPp after 16 s; every one held and recorded once."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from ntpd_ivr.bench.held import held_run
from ntpd_ivr.bench.load import TakerPool, caller_prefix, run_calls, run_tag
from ntpd_ivr.bench.stack import StackUnderTest, check_records
from ntpd_ivr.stack.devstack import TAKER_IP, DevStack

from .conftest import Controller

pytestmark = pytest.mark.e2e

TALK_MS = 500


@pytest.fixture
def load_takers(stack: DevStack) -> Iterator[TakerPool]:
    """Both call-takers taking many calls at once (ringinuse=yes for this test only)."""
    assert stack.asterisk is not None
    members = ("PJSIP/taker-1", "PJSIP/taker-2")
    pool = TakerPool(TAKER_IP, stack.layout.taker_ports, talk_ms=TALK_MS)
    for member in members:
        stack.asterisk.cli(f"queue set ringinuse yes on {member} in takers-default")
    try:
        yield pool
    finally:
        for member in members:
            stack.asterisk.cli(f"queue set ringinuse no on {member} in takers-default")
        pool.stop()


def test_short_load_on_path_a_loses_no_call_and_no_record(
        stack: DevStack, running_controller: Controller, load_takers: TakerPool) -> None:
    prefix = caller_prefix("a", run_tag(), 0)
    result = run_calls(f"127.0.0.1:{stack.layout.sip_port}", "a", rate=20, seconds=3,
                       prefix=prefix, talk_ms=TALK_MS, extra_timeout=40)

    assert result.offered == 60, result.output_tail
    assert result.failed == 0, result.output_tail
    succeeded = [c.number for c in result.calls]
    assert len(set(succeeded)) == 60
    # Each caller was answered by a call-taker (not dropped, not only queued).
    assert set(succeeded) <= set(load_takers.answered())
    check = check_records(stack.layout.settings_file, prefix, succeeded)
    assert check.ok, check
    assert check.rows == 60


def test_held_callers_are_held_in_the_queue_and_each_recorded_once(
        stack: DevStack, running_controller: Controller) -> None:
    assert stack.asterisk is not None
    process = running_controller.process
    under_test = StackUnderTest(
        f"127.0.0.1:{stack.layout.sip_port}", stack.layout.settings_file, stack.asterisk,
        lambda: process.pid if process is not None else None,
        f"http://127.0.0.1:{stack.layout.web_port}/healthz")
    lines: list[str] = []

    levels, stopped = held_run(under_test, [20], rate=10, plateau_seconds=2,
                               tag=run_tag(), progress=lines.append)

    assert stopped == "reached 20", "\n".join(lines)
    [level] = levels
    assert level.shortfall() is None, level.line()
    assert (level.offered, level.held, level.failed) == (20, 20, 0)
    assert level.peak_concurrent == 20 and level.in_queue == 20
    assert (level.records_rows, level.records_missing, level.records_duplicated) == (20, 0, 0)
    # Read from /healthz while the callers were held: every 0.1 s sample, once.
    assert level.loop_lag_samples > 100
    assert not math.isnan(level.loop_lag_p99_ms) and level.loop_lag_max_ms < 1000
    assert level.controller_peak_rss_mb > 0 and level.asterisk_peak_fds > 20
    # The call-takers are free again for the tests after this one.
    assert "paused" not in stack.asterisk.cli("queue show takers-default").lower()
