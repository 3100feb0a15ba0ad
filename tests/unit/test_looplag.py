"""The loop-lag monitor: percentiles over a bounded window, and a real blocked loop seen."""

from __future__ import annotations

import asyncio
import math
import time

from ntpd_ivr.looplag import LoopLagMonitor
from ntpd_ivr.stats import percentile


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7
    assert math.isnan(percentile([], 99))


def test_state_before_any_sample_says_none() -> None:
    state = LoopLagMonitor().state()
    assert state["lag_ms_p99"] is None and state["lag_ms_max"] is None
    assert state["window_samples"] == 0


def test_window_is_bounded_and_percentiles_in_ms() -> None:
    monitor = LoopLagMonitor(window=100)
    for _ in range(1000):
        monitor.add(5.0)           # old stalls fall out of the window
    for i in range(100):
        monitor.add(i / 1000)      # 0..99 ms
    state = monitor.state()
    assert state["window_samples"] == 100 and state["samples_total"] == 1100
    assert state["lag_ms_p50"] == 49.0
    assert state["lag_ms_p99"] == 98.0
    assert state["lag_ms_max"] == 99.0
    assert state["recent_ms"][:3] == [0.0, 1.0, 2.0] and len(state["recent_ms"]) == 100


def test_negative_lag_counts_as_zero() -> None:
    monitor = LoopLagMonitor()
    monitor.add(-0.001)
    assert monitor.state()["lag_ms_max"] == 0.0


async def samples(monitor: LoopLagMonitor, count: int) -> None:
    for _ in range(3000):  # a generous deadline: 60 s
        if monitor.state()["samples_total"] >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} samples: {monitor.state()}")


async def test_a_blocked_loop_shows_as_lag() -> None:
    monitor = LoopLagMonitor(interval=0.02)
    monitor.start()
    await samples(monitor, 5)
    # A blocking callback on the loop: what the monitor must see.
    asyncio.get_running_loop().call_soon(time.sleep, 0.3)
    await samples(monitor, 15)  # counted in samples, not seconds: a loaded loop is slower
    await monitor.stop()
    state = monitor.state()
    assert state["lag_ms_max"] is not None and state["lag_ms_max"] >= 250
    assert state["lag_ms_p50"] is not None and state["lag_ms_p50"] < 100
