"""A short load through path (a) -- the operator trunk, the controller's FastAGI IVR --
with the bench's own SIPp scenarios: no call may fail and every successful call must have
exactly one row in `calls`. Bounded: 20 calls/s for 3 s (60 calls) on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ntpd_ivr.bench.load import TakerPool, caller_prefix, run_calls, run_tag
from ntpd_ivr.bench.stack import check_records
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
