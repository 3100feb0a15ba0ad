"""The idle bench's CPU window (ntpd_ivr/bench/idle.py) on this test's own process."""

from __future__ import annotations

import os
import time

import pytest

from ntpd_ivr.bench.idle import window
from ntpd_ivr.errors import StackError


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_sleeping_process_is_charged_little_and_a_busy_one_much() -> None:
    idle, _, load = window(os.getpid(), 0.3)
    busy, busy_s, _ = window(os.getpid(), 0.0, during=lambda: _spin(0.3))
    # ms of CPU per second of the window: a sleep is charged (almost) nothing; 0.3 s of
    # spinning is charged 0.3 s however long a loaded machine makes it take (10x: 100).
    assert idle < 50
    assert busy > 50 and busy > 5 * idle
    assert 0.25 < busy_s < 0.6  # the spin's 0.3 CPU seconds (and the test's own bits)
    assert len(load.split()) == 3


def test_a_process_gone_is_said() -> None:
    with pytest.raises(StackError, match="ended"):
        window(2**22 + 1, 0.0)
