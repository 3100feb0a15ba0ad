"""The pure parts of `ntpd-ivr bench-prank`: the FIFO routing file, the call mix, the
seeded week of strikes and the report's figures."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

from ntpd_ivr.bench.prank import (
    ModeFigures,
    PrankBench,
    fifo_routing,
    pool_numbers,
    report,
    seeded_strikes,
)
from ntpd_ivr.prank.config import PrankPolicy
from ntpd_ivr.prank.policy import decide, standing_of
from ntpd_ivr.routing.config import parse_routing_config
from ntpd_ivr.stack.devstack import ROUTING_CONFIG


def test_fifo_routing_has_no_policy_and_one_priority() -> None:
    fifo = parse_routing_config(fifo_routing(ROUTING_CONFIG.read_text()), "fifo.toml")
    assert not fifo.prank.default.enabled
    assert {c.priority for c in fifo.categories.values()} == {5}
    policy = parse_routing_config(ROUTING_CONFIG.read_text(), "policy.toml")
    assert policy.prank.default.enabled and len({c.priority for c in
                                                 policy.categories.values()}) > 1


def test_the_call_mix_is_80_percent_pool() -> None:
    counts = PrankBench(rate=1.0, segment_seconds=100).counts()
    assert counts == {"genuine": 20, "silent": 32, "prank": 48}


def test_the_seeded_pool_has_every_level() -> None:
    rng, policy, now = random.Random(1), PrankPolicy(), datetime.now(UTC)
    pool = pool_numbers(40, rng)
    levels = Counter(decide(standing_of(seeded_strikes(n, i, policy, now, rng), policy, now),
                            policy).level for i, n in enumerate(pool))
    assert levels == {"struck": 8, "warn": 8, "deprioritise": 10, "block": 14}


def test_report_gives_the_ratios() -> None:
    policy = ModeFigures("policy", genuine_placed=10, genuine_offered=10, genuine_answered=10,
                         genuine_waits=[1.0] * 9 + [2.0])
    fifo = ModeFigures("fifo", genuine_placed=10, genuine_offered=10, genuine_answered=8,
                       genuine_waits=[10.0] * 7 + [30.0])
    text = report(PrankBench(), {"policy": policy, "fifo": fifo}, "T")
    assert "p50 10.0x, p95 15.0x" in text
    assert "20.0% (fifo) vs 0.0% (policy)" in text
