"""The bench's own arithmetic: which steps it runs near the knee and in what order, the
ratio and CPU per call it reports, and the held-callers figures and limits."""

from __future__ import annotations

import math

import pytest

from ntpd_ivr.bench.held import HeldLevel, HeldLimits, held_levels, rtp_call_capacity
from ntpd_ivr.bench.load import CallTiming, peak_concurrent
from ntpd_ivr.bench.runner import (
    StepResult,
    active_channels,
    controller_alive,
    cpu_ms_per_call,
    fine_rates,
    interleaved_ramps,
    knee,
    path_top,
    ramps,
    ratio_line,
    rotated,
)
from ntpd_ivr.bench.stack import LagReader
from ntpd_ivr.errors import StackError


def step(path: str, rate: float, carried: bool, cpu_ms: float = math.nan) -> StepResult:
    return StepResult(path, rate, 10, 10, 0, 1.0, 2.0, 800.0, 900.0, 1.0, 60.0, None, None,
                      carried, controller_cpu_ms_per_call=cpu_ms)


# ---- fine steps near the knee ------------------------------------------------------------

@pytest.mark.parametrize(("carried", "failed", "step_size", "expected"), [
    (80, 120, 10, [90, 100, 110]),
    (120, 160, 10, [130, 140, 150]),
    (20, 40, 10, [30]),
    (10, 20, 10, []),           # nothing strictly between
    (5, 10, 10, []),
    (80, 115, 10, [90, 100, 110]),
    (80, 120, 0, []),           # --fine-step 0: only the coarse rates
    (None, 5, 10, []),          # the first step failed: no knee to refine
    (320, None, 10, []),        # never failed: the ramp did not reach the knee
])
def test_fine_rates_fill_the_gap_between_the_knees_coarse_steps(
        carried: float | None, failed: float | None, step_size: float,
        expected: list[float]) -> None:
    assert fine_rates(carried, failed, step_size) == expected


def test_knee_is_the_last_carried_and_first_failed_step_in_the_order_run() -> None:
    steps = [step("a", 5, True), step("a", 10, True), step("a", 20, False)]
    assert knee(steps) == (10, 20)
    assert knee([step("a", 5, False)]) == (None, 5)
    assert knee([step("a", 5, True), step("a", 10, True)]) == (10, None)
    assert knee([]) == (None, None)


# ---- interleaving ----------------------------------------------------------------------------

def test_rotated_shifts_the_order_each_round() -> None:
    assert [rotated("abc", k) for k in range(4)] == ["abc", "bca", "cab", "abc"]
    assert rotated("", 3) == ""


def test_interleaved_ramps_rotate_paths_and_end_each_at_its_first_failure() -> None:
    limit = {"a": 40, "b": 80, "c": 10}          # highest rate each path carries
    ran: list[tuple[str, float]] = []

    def run_step(path: str, rate: float) -> StepResult:
        ran.append((path, rate))
        return step(path, rate, rate <= limit[path])

    rates = [5, 10, 20, 40, 80, 160]
    steps = interleaved_ramps({p: rates for p in "abc"}, run_step)
    assert ran == [("a", 5), ("b", 5), ("c", 5),
                   ("b", 10), ("c", 10), ("a", 10),
                   ("c", 20), ("a", 20), ("b", 20),   # c fails at 20 and ends
                   ("a", 40), ("b", 40),
                   ("b", 80), ("a", 80),              # a fails at 80 and ends
                   ("b", 160)]                        # b fails at 160
    assert [s.rate for s in steps if s.path == "a"] == [5, 10, 20, 40, 80]
    assert knee([s for s in steps if s.path == "b"]) == (80, 160)


def test_interleaved_fine_ramps_of_unequal_length() -> None:
    ran: list[tuple[str, float]] = []

    def run_step(path: str, rate: float) -> StepResult:
        ran.append((path, rate))
        return step(path, rate, True)

    interleaved_ramps({"a": [90, 100, 110], "c": [30]}, run_step, first_turn=1)
    assert ran == [("c", 30), ("a", 90), ("a", 100), ("a", 110)]


# ---- what the summary reports -------------------------------------------------------------

def test_cpu_ms_per_call_is_cpu_seconds_over_calls_offered() -> None:
    assert cpu_ms_per_call(12.0, 1200) == pytest.approx(10.0)
    assert cpu_ms_per_call(0.5, 50) == pytest.approx(10.0)
    assert math.isnan(cpu_ms_per_call(1.0, 0))


def test_path_top_is_the_highest_carried_rate_with_the_first_rate_not_carried() -> None:
    steps = [step("a", 80, True, 9.0), step("a", 120, False), step("a", 90, True, 9.5),
             step("a", 100, True, 9.8), step("a", 110, False), step("b", 120, True, 1.0)]
    top = path_top("a", steps)
    assert (top.rate, top.not_carried, top.cpu_ms_per_call) == (100, 110, 9.8)
    assert path_top("b", steps).not_carried is None
    assert path_top("c", steps).rate == 0


def test_ratio_line_names_the_steps_it_came_from() -> None:
    a = path_top("a", [step("a", 110, True), step("a", 120, False)])
    b = path_top("b", [step("b", 120, True), step("b", 130, False)])
    assert ratio_line(a, b) == "a/b = 0.92 (a=110, b=120; first not carried: a 120, b 130)"
    c = path_top("c", [step("c", 5, False)])
    assert ratio_line(a, c) == "a/c = n/a (c carried no step)"
    never = path_top("b", [step("b", 320, True)])
    assert ratio_line(a, never).endswith("first not carried: a 120, b none)")


# ---- the controller's loop lag, read from /healthz --------------------------------------

def loop(total: int, recent: list[float]) -> dict[str, object]:
    return {"samples_total": total, "recent_ms": recent}


def test_lag_reader_takes_every_new_sample_once_and_counts_what_it_missed() -> None:
    reader = LagReader()
    reader.feed(loop(50, [1.0] * 50))                 # baseline: before the step
    reader.feed(loop(53, [1.0] * 47 + [2.0, 3.0, 4.0]))
    reader.feed(loop(53, [1.0] * 47 + [2.0, 3.0, 4.0]))  # nothing new
    assert reader.samples_ms == [2.0, 3.0, 4.0]
    reader.feed(loop(163, [9.0] * 100))               # 110 new, window holds 100
    assert len(reader.samples_ms) == 103 and reader.missed == 10
    assert reader.max_ms() == 9.0 and reader.p99_ms() == 9.0


def test_lag_reader_restarts_its_baseline_when_the_controller_restarts() -> None:
    reader = LagReader()
    reader.feed(loop(500, [1.0] * 100))
    reader.feed(loop(3, [5.0, 6.0, 7.0]))             # a new process: count went down
    reader.feed(loop(4, [5.0, 6.0, 7.0, 8.0]))
    assert reader.samples_ms == [8.0]
    assert math.isnan(LagReader().p99_ms())


# ---- held callers -----------------------------------------------------------------------

def test_held_levels_rise_to_the_target() -> None:
    assert held_levels(1000) == [250, 500, 750, 1000]
    assert held_levels(1000, 3) == [334, 667, 1000]
    assert held_levels(20, 1) == [20]
    assert held_levels(2, 4) == [1, 2]
    assert held_levels(0) == []


def test_peak_concurrent_counts_calls_up_at_once() -> None:
    def call(start: float, answer: float, end: float) -> CallTiming:
        return CallTiming("n", start, answer - start, end - start)

    calls = [call(0, 0.1, 10), call(1, 1.1, 5), call(2, 2.1, 12), call(10, 10.1, 11)]
    assert peak_concurrent(calls) == 3
    # One ends as the next is answered: not both up at once.
    assert peak_concurrent([call(0, 1, 5), call(4, 5, 9)]) == 1
    assert peak_concurrent([]) == 0


def test_rtp_capacity_from_rtp_conf() -> None:
    assert rtp_call_capacity("[general]\nrtpstart = 10000\nrtpend = 20000\n") == 5000
    assert rtp_call_capacity("[general]\nrtpstart=10000\n") is None


def test_limits_bound_the_held_calls() -> None:
    limits = HeldLimits(asterisk_open_files=1024, asterisk_fds_idle=24, rtp_calls=5000,
                        sipp_open_files=1024)
    assert limits.most_calls() == (1024 - 24) // 6
    assert "at most ~166 held calls" in limits.line()
    roomy = HeldLimits(asterisk_open_files=65536, asterisk_fds_idle=24, rtp_calls=5000,
                       sipp_open_files=65536)
    assert roomy.most_calls() == 5000


def held(**changes: object) -> HeldLevel:
    base: dict[str, object] = dict(
        level=100, rate=25.0, hold_s=36.0, offered=100, held=100, failed=0,
        peak_concurrent=100, in_queue=100, controller_peak_rss_mb=70.0, controller_cpu_s=3.0,
        loop_lag_p99_ms=2.0, loop_lag_max_ms=5.0, loop_lag_samples=500, loop_lag_missed=0,
        asterisk_peak_fds=700, records_rows=100, records_missing=0, records_duplicated=0,
        records_ok=True)
    base.update(changes)
    return HeldLevel(**base)  # type: ignore[arg-type]


def test_a_level_is_held_only_if_every_caller_was_held_in_the_queue_and_recorded() -> None:
    assert held().shortfall() is None
    assert "-> ok" in held().line()
    assert held(held=98, failed=2).shortfall() == "2 of 100 calls failed"
    assert held(peak_concurrent=80).shortfall() == "only 80 calls were up at once"
    assert held(in_queue=60).shortfall() == "only 60 callers were in the queue at mid-hold"
    assert held(in_queue=None).shortfall() is None      # no CLI answer: judged on the rest
    assert held(records_ok=False, records_rows=99, records_missing=1).shortfall() == \
        "records 99/100: 1 missing, 0 duplicated"


def test_ramps_refine_each_paths_knee_in_10_calls_per_second_steps() -> None:
    limit = {"a": 115, "b": 120}      # what each path really carries
    ran: list[tuple[str, float, int]] = []

    def measure(path: str, rate: float, seq: int) -> StepResult:
        ran.append((path, rate, seq))
        return step(path, rate, rate <= limit[path])

    steps = ramps("ab", [5, 10, 20, 40, 80, 120, 160], 10, measure, settle=lambda: None,
                  progress=lambda _: None)
    fine = [(s.path, s.rate) for s in steps if s.phase == "fine"]
    # a: 80 carried, 120 not -> 90, 100, 110 (all carried); b: 120 carried, 160 not ->
    # 130 fails and ends b's fine ramp. The rounds go on rotating (ba, ab, ...).
    assert fine == [("b", 130), ("a", 90), ("a", 100), ("a", 110)]
    assert [seq for _, _, seq in ran] == list(range(len(ran)))     # unique caller prefixes
    assert [s.seq for s in steps] == list(range(len(steps)))
    a, b = path_top("a", steps), path_top("b", steps)
    assert ratio_line(a, b) == "a/b = 0.92 (a=110, b=120; first not carried: a 120, b 130)"


def test_active_channels_reads_asterisks_count() -> None:
    shown = "12 active channels\n6 active calls\n3071 calls processed\n"
    assert active_channels(shown) == 12
    assert active_channels("1 active channel\n1 active call\n") == 1
    assert active_channels("No such command 'core show channels count'") is None


def test_the_bench_stops_when_the_controller_is_gone() -> None:
    class Controller:
        pid: int | None = 4242
        log_path = "/tmp/controller.log"

    class Stack:
        controller = Controller()

    stack = Stack()
    controller_alive(stack, "the surge")  # type: ignore[arg-type]
    stack.controller.pid = None
    with pytest.raises(StackError, match=r"exited during the surge.*fallback queue"):
        controller_alive(stack, "the surge")  # type: ignore[arg-type]
