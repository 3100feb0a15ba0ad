"""`ntpd-ivr bench` and `ntpd-ivr bench-faults`: capacity ramps per IVR path, surge, soak,
and faults under load. Figures come only from what SIPp, /proc and the `calls` table say.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ntpd_ivr.bench.baseline import BASELINE_PATH
from ntpd_ivr.bench.held import held_run
from ntpd_ivr.bench.load import (
    PATH_NAMES,
    CallerLoad,
    LoadResult,
    TakerPool,
    caller_prefix,
    run_calls,
    run_tag,
)
from ntpd_ivr.bench.stack import BenchStack, ProcSampler, check_records
from ntpd_ivr.errors import StackError
from ntpd_ivr.stats import percentile

DEFAULT_RATES = (5, 10, 20, 40, 80, 120, 160, 240, 320)
DEFAULT_FINE_STEP = 10.0  # calls/s between the knee's two coarse steps
MAX_FAILURE_RATIO = 0.001  # > 0.1 % failed calls ends a ramp


def _progress(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def cpu_ms_per_call(cpu_seconds: float, offered: int) -> float:
    """Controller CPU per call offered in a step (ms); NaN for a step with no call."""
    return cpu_seconds * 1000 / offered if offered > 0 else math.nan


@dataclass
class StepResult:
    path: str
    rate: float
    offered: int
    succeeded: int
    failed: int
    invite_200_p50_ms: float
    invite_200_p99_ms: float
    taker_p50_ms: float
    taker_p99_ms: float
    controller_cpu_s: float
    controller_peak_rss_mb: float
    records_rows: int | None
    records_ok: bool | None
    carried: bool
    controller_cpu_ms_per_call: float = math.nan
    loop_lag_p99_ms: float = math.nan    # the controller's event loop, from /healthz
    loop_lag_max_ms: float = math.nan
    phase: str = "coarse"                # coarse, or fine (the steps near the knee)
    seq: int = 0                         # order in which the steps ran, over all paths


Labels = Mapping[str, str]  # path key -> what the bench prints ("r" -> "a@main")
NO_LABELS: Labels = MappingProxyType({})


def _label(path: str, labels: Labels) -> str:
    return labels.get(path, path)


def _step_line(s: StepResult, labels: Labels = NO_LABELS) -> str:
    rec = "" if s.records_ok is None else \
        f" records {s.records_rows}/{s.succeeded} {'ok' if s.records_ok else 'MISMATCH'}"
    return (f"path {_label(s.path, labels)} {s.rate:g}/s: {s.succeeded}/{s.offered} ok, "
            f"{s.failed} failed, "
            f"INVITE->200 p50 {s.invite_200_p50_ms:.1f} p99 {s.invite_200_p99_ms:.1f} ms, "
            f"to taker p50 {s.taker_p50_ms:.0f} p99 {s.taker_p99_ms:.0f} ms, "
            f"{'floor server' if s.path == 'f' else 'controller'} "
            f"{s.controller_cpu_s:.1f} CPU s = "
            f"{s.controller_cpu_ms_per_call:.1f} ms/call, {s.controller_peak_rss_mb:.0f} MB, "
            f"loop lag p99 {s.loop_lag_p99_ms:.1f} max {s.loop_lag_max_ms:.1f} ms"
            f"{rec} -> {'carried' if s.carried else 'NOT carried'}")


def measure_step(stack: BenchStack, path: str, rate: float, seconds: float, prefix: str, *,
                 talk_ms: int, p99_limit_ms: float, taker_p99_limit_ms: float) -> StepResult:
    rows: int | None = None
    records_ok: bool | None = None
    # Path f's CPU is its own server's; the controller's lag is read all the same.
    with ProcSampler(lambda: stack.ivr_pid(path),
                     health_url=stack.controller.health_url) as sampler:
        result = run_calls(stack.target, path, rate, seconds, prefix, talk_ms=talk_ms)
        if path in ("a", BASELINE_PATH):
            # Inside the sampling: writing the step's records is part of its cost.
            check = check_records(stack.settings_file, prefix, [c.number for c in result.calls])
            rows, records_ok = check.rows, check.ok
    p99 = result.answer_ms(99)
    # INVITE->200 stays low long after the queue behind it is saturated (a 10 s step at
    # 120 calls/s passed on it with callers waiting 41 s, and a 60 s surge at that rate
    # then failed most calls): a rate is carried only if callers still reach a human fast.
    taker_p99 = result.taker_ms(99)
    carried = (result.offered > 0 and result.failure_ratio <= MAX_FAILURE_RATIO
               and not math.isnan(p99) and p99 <= p99_limit_ms
               and not math.isnan(taker_p99) and taker_p99 <= taker_p99_limit_ms)
    cpu = sampler.cpu_seconds()
    return StepResult(path, rate, result.offered, result.succeeded, result.failed,
                      result.answer_ms(50), p99, result.taker_ms(50), result.taker_ms(99),
                      cpu, sampler.peak_rss_mb(), rows, records_ok, carried,
                      cpu_ms_per_call(cpu, result.offered),
                      sampler.lag.p99_ms(), sampler.lag.max_ms())


StepRunner = Callable[[str, float], StepResult]


def rotated(paths: str, turn: int) -> str:
    """The paths in the order of one round: shifted by one each round (abc, bca, cab)."""
    if not paths:
        return paths
    k = turn % len(paths)
    return paths[k:] + paths[:k]


def interleaved_ramps(schedule: Mapping[str, Sequence[float]], run_step: StepRunner, *,
                      first_turn: int = 0) -> list[StepResult]:
    """Ramp every path at once: round k runs the k-th rate of each path whose ramp goes
    on, in an order rotated by one each round, so that no path always runs first (after a
    pause) or last, and a busy neighbour hits every path alike. A path's ramp ends at its
    first step not carried."""
    paths = "".join(schedule)
    ended: set[str] = set()
    steps: list[StepResult] = []
    for k in range(max((len(r) for r in schedule.values()), default=0)):
        for path in rotated(paths, first_turn + k):
            if path in ended or k >= len(schedule[path]):
                continue
            step = run_step(path, schedule[path][k])
            steps.append(step)
            if not step.carried:
                ended.add(path)
    return steps


def knee(steps: Sequence[StepResult]) -> tuple[float | None, float | None]:
    """(last carried rate, first rate not carried) of one path's steps in the order run."""
    carried: float | None = None
    for step in steps:
        if not step.carried:
            return carried, step.rate
        carried = step.rate
    return carried, None


def fine_rates(last_carried: float | None, first_failed: float | None,
               step: float) -> list[float]:
    """The rates strictly between the knee's two coarse steps, `step` apart: with 80
    carried and 120 not, 90, 100, 110. None when either end is missing (nothing carried,
    or nothing failed: the ramp did not reach the knee) or `step` is 0."""
    if last_carried is None or first_failed is None or step <= 0:
        return []
    n = math.ceil((first_failed - last_carried) / step - 1e-9) - 1
    return [last_carried + step * i for i in range(1, n + 1)]


@dataclass(frozen=True)
class PathTop:
    path: str
    rate: float                   # the highest carried rate (0: none)
    not_carried: float | None     # the first rate not carried (None: none was)
    cpu_ms_per_call: float        # controller CPU per call at the top step


def path_top(path: str, steps: Sequence[StepResult]) -> PathTop:
    mine = [s for s in steps if s.path == path]
    carried = [s for s in mine if s.carried]
    top = max(carried, key=lambda s: s.rate, default=None)
    failed = [s.rate for s in mine if not s.carried]
    return PathTop(path, top.rate if top else 0.0, min(failed, default=None),
                   top.controller_cpu_ms_per_call if top else math.nan)


def ratio_line(x: PathTop, y: PathTop, labels: Labels = NO_LABELS) -> str:
    """'a/b = 0.92 (a=110, b=120; first not carried: a 120, b 130)'."""
    xn, yn = _label(x.path, labels), _label(y.path, labels)

    def above(t: PathTop, name: str) -> str:
        return f"{name} {t.not_carried:g}" if t.not_carried is not None else f"{name} none"

    name = f"{xn}/{yn}"
    if y.rate <= 0:
        return f"{name} = n/a ({yn} carried no step)"
    return (f"{name} = {x.rate / y.rate:.2f} ({xn}={x.rate:g}, {yn}={y.rate:g}; "
            f"first not carried: {above(x, xn)}, {above(y, yn)})")


def cpu_ratio_line(steps: Sequence[StepResult], x: str, y: str,
                   labels: Labels = NO_LABELS, what: str = "controller CPU per call") -> str:
    """Controller CPU per call of path `x` against path `y` at each rate both carried, in
    one interleaved run: 'a/a@main CPU per call: 5/s 3.1/3.0 ms = 1.03, ...; median 1.02'."""
    def carried(path: str) -> dict[float, float]:
        return {s.rate: s.controller_cpu_ms_per_call for s in steps
                if s.path == path and s.carried and s.offered > 0}

    mine, theirs = carried(x), carried(y)
    common = sorted(set(mine) & set(theirs))
    name = f"{_label(x, labels)}/{_label(y, labels)} {what}"
    if not common:
        return f"{name}: n/a (no rate carried by both)"
    ratios = [mine[r] / theirs[r] if theirs[r] > 0 else math.nan for r in common]
    return (f"{name}: " + ", ".join(f"{r:g}/s {mine[r]:.2f}/{theirs[r]:.2f} ms = {q:.2f}"
                                    for r, q in zip(common, ratios, strict=True))
            + f"; median {statistics.median(ratios):.2f}")


Measure = Callable[[str, float, int], StepResult]  # (path, rate, step number) -> step


DRAIN_TIMEOUT_SECONDS = 180.0


def active_channels(cli_output: str) -> int | None:
    """'0 active channels' (Asterisk's `core show channels count`) -> 0."""
    found = re.search(r"^(\d+) active channels?", cli_output, re.M)
    return int(found.group(1)) if found else None


def wait_for_idle_asterisk(stack: BenchStack, timeout: float = DRAIN_TIMEOUT_SECONDS,
                           stuck_seconds: float = 10.0) -> None:
    """Until Asterisk has no channel left, then 2 s more. A step past a path's knee can
    leave calls behind it (SIPp gives up on them, Asterisk and the pyst2 processes do
    not): interleaved, they would load whichever path's step came next. Channels whose
    count has not moved for `stuck_seconds` are no load (a caller SIPp abandoned without
    a BYE waits in the fallback queue, silent): the bench says so and goes on."""
    assert stack.dev.asterisk is not None
    deadline = time.monotonic() + timeout
    left: int | None = None
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        try:
            now = active_channels(stack.dev.asterisk.cli("core show channels count"))
        except (StackError, OSError):
            now = None
        if now == 0:
            break
        if now != left:
            left, last_change = now, time.monotonic()
        elif time.monotonic() - last_change >= stuck_seconds:
            _progress(f"Asterisk keeps {left} idle channel(s) left by a failed step; going on")
            break
        time.sleep(1.0)
    else:
        _progress(f"Asterisk still has {left} channel(s) after {timeout:g} s; going on")
    time.sleep(2.0)


def controller_alive(stack: BenchStack, after: str) -> None:
    """Stop the bench when the controller has gone (its watchdog ends it when its event
    loop stalls): every later figure would be the fallback queue's, not the controller's."""
    if stack.controller.pid is None:
        raise StackError(f"the controller exited during {after}; the figures after it would "
                         f"measure the fallback queue, so the bench stops here (see "
                         f"{stack.controller.log_path})")


def ramps(paths: str, rates: Sequence[float], fine_step: float, measure: Measure, *,
          settle: Callable[[], None] = lambda: time.sleep(2.0),
          progress: Callable[[str], None] = _progress,
          labels: Labels = NO_LABELS) -> list[StepResult]:
    """Coarse ramps of all paths interleaved, then (per path) `fine_step` steps between
    its last carried coarse rate and its first rate not carried, interleaved likewise."""
    seq = 0
    phase = "coarse"

    def run_step(path: str, rate: float) -> StepResult:
        nonlocal seq
        progress(f"path {_label(path, labels)} ({PATH_NAMES[path]}, {phase}): "
                 f"{rate:g} calls/s ...")
        step = measure(path, rate, seq)
        step.phase, step.seq = phase, seq
        seq += 1
        progress(_step_line(step, labels))
        settle()  # the next step, of whichever path, starts on an idle Asterisk
        return step

    steps = interleaved_ramps({p: rates for p in paths}, run_step)
    fine = {p: fine_rates(*knee([s for s in steps if s.path == p]), fine_step) for p in paths}
    fine = {p: r for p, r in fine.items() if r}
    if fine:
        progress("fine steps near the knee: " + "; ".join(
            f"{p} {', '.join(f'{r:g}' for r in rs)}" for p, rs in fine.items()))
        phase = "fine"
        steps += interleaved_ramps(fine, run_step, first_turn=len(rates))
    return steps


def summary_lines(steps: Sequence[StepResult], paths: str, p99_limit_ms: float,
                  taker_p99_limit_ms: float,
                  labels: Labels = NO_LABELS) -> list[str]:
    tops = {p: path_top(p, steps) for p in paths}
    lines = ["highest sustained calls/s (<= 0.1 % failed, INVITE->200 p99 <= "
             f"{p99_limit_ms:g} ms, to a call-taker p99 <= {taker_p99_limit_ms:g} ms): "
             + ", ".join(f"{_label(p, labels)}={t.rate:g}" for p, t in tops.items())]
    if "a" in tops:
        lines += [ratio_line(tops["a"], tops[other], labels)
                  for other in "bcf" + BASELINE_PATH if other in tops]
        if "f" in tops:  # how far the controller is from the protocol's own cost
            lines.append(cpu_ratio_line(steps, "a", "f", labels,
                                        "CPU per call (controller / floor server)"))
    if BASELINE_PATH in tops:
        lines += [ratio_line(tops[BASELINE_PATH], tops[other], labels)
                  for other in "bc" if other in tops]
        if "a" in tops:
            lines.append(cpu_ratio_line(steps, "a", BASELINE_PATH, labels))
    for p in paths:
        mine = sorted((s for s in steps if s.path == p), key=lambda s: s.rate)
        whose = "floor server" if p == "f" else "controller"
        lines.append(f"{whose} CPU per call offered, path {_label(p, labels)}: " + ", ".join(
            f"{s.rate:g}/s {s.controller_cpu_ms_per_call:.1f} ms" for s in mine)
            + (f"; at the top ({tops[p].rate:g}/s) {tops[p].cpu_ms_per_call:.1f} ms"
               if tops[p].rate else ""))
    return lines


def write_csv(rows: Sequence[Any], path: Path) -> None:
    """One dataclass per row (steps, held levels), floats to 3 decimals."""
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.3f}" if isinstance(v, float) else v)
                             for k, v in asdict(row).items()})


def plot_ramp(steps: Sequence[StepResult], path: Path, p99_limit_ms: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for p in sorted({s.path for s in steps}):
        mine = sorted((s for s in steps if s.path == p), key=lambda s: s.rate)
        rates = [s.rate for s in mine]
        label = f"{p}: {PATH_NAMES[p]}"
        ax1.plot(rates, [s.invite_200_p99_ms for s in mine], marker="o", label=label)
        ax2.plot(rates, [s.taker_p99_ms for s in mine], marker="o", label=label)
    ax1.axhline(p99_limit_ms, color="grey", linestyle="--", label="p99 limit")
    for ax, title in ((ax1, "INVITE->200 p99 (ms)"), (ax2, "time to call-taker p99 (ms)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered calls/s")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@dataclass
class TimedRun:
    """A surge or soak: every call's timing and the controller's memory over time."""

    name: str
    rate: float
    loads: list[LoadResult] = field(default_factory=list)
    memory: list[tuple[float, float]] = field(default_factory=list)  # (t, rss MB)
    records_ok: bool | None = None
    records_rows: int = 0

    def summary(self) -> str:
        calls = [c for r in self.loads for c in r.calls]
        offered = sum(r.offered for r in self.loads)
        inv = [c.answer_s * 1000 for c in calls]
        talk = self.loads[0].talk_ms if self.loads else 0
        taker = [c.bye_s * 1000 - talk for c in calls]
        mem = [m for _, m in self.memory]
        return (f"{self.name}: {len(calls)}/{offered} ok, {offered - len(calls)} failed; "
                f"INVITE->200 p50 {percentile(inv, 50):.1f} p99 {percentile(inv, 99):.1f} ms; "
                f"to taker p50 {percentile(taker, 50):.0f} p99 {percentile(taker, 99):.0f} ms; "
                f"controller RSS {min(mem, default=math.nan):.0f}..{max(mem, default=math.nan):.0f}"
                f" MB; records {self.records_rows}/{len(calls)} "
                f"{'ok' if self.records_ok else 'MISMATCH'}")


def timed_run(stack: BenchStack, name: str, phases: Sequence[tuple[float, float]], tag: str,
              step: int, *, talk_ms: int) -> TimedRun:
    """Phases of (rate, seconds) on path a, one after the other, memory sampled meanwhile."""
    run = TimedRun(name, max(r for r, _ in phases))
    prefixes: list[str] = []
    loads: list[CallerLoad] = []
    with ProcSampler(lambda: stack.controller.pid, interval=1.0) as sampler:
        for i, (rate, seconds) in enumerate(phases):
            prefix = caller_prefix("a", tag, step + i)
            prefixes.append(prefix)
            _progress(f"{name}: {rate:g} calls/s for {seconds:g} s")
            loads.append(CallerLoad(stack.target, "a", rate, max(1, round(rate * seconds)),
                                    prefix, talk_ms=talk_ms))
            if i + 1 < len(phases):
                time.sleep(seconds)  # the next phase starts as this one stops placing calls
        for (_, seconds), load in zip(phases, loads, strict=True):
            run.loads.append(load.wait(timeout=seconds + talk_ms / 1000 + 180))
    run.memory = [(s.at, s.rss_mb) for _, s in sampler.samples]
    ok = True
    for prefix, load_result in zip(prefixes, run.loads, strict=True):
        check = check_records(stack.settings_file, prefix, [c.number for c in load_result.calls])
        run.records_rows += check.rows
        ok = ok and check.ok
    run.records_ok = ok
    _progress(run.summary())
    return run


def plot_timed(run: TimedRun, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    calls = sorted((c for r in run.loads for c in r.calls), key=lambda c: c.invite_at)
    t0 = min([c.invite_at for c in calls] + [t for t, _ in run.memory], default=0.0)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    ax1.plot([t - t0 for t, _ in run.memory], [m for _, m in run.memory])
    ax1.set_ylabel("controller RSS (MB)")
    ax1.set_title(f"{run.name}: controller memory and per-call INVITE->200")
    ax1.grid(True, alpha=0.3)
    ax2.scatter([c.invite_at - t0 for c in calls], [c.answer_s * 1000 for c in calls], s=2)
    ax2.set_yscale("log")
    ax2.set_ylabel("INVITE->200 (ms)")
    ax2.set_xlabel("seconds")
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def bench(*, paths: str, rates: Sequence[float], fine_step: float, step_seconds: float,
          p99_limit_ms: float, taker_p99_limit_ms: float, talk_ms: int, surge_hold: float,
          soak_minutes: float, soak_rate: float | None, held_levels: Sequence[int],
          held_rate: float, held_seconds: float, out: Path, keep: bool = False,
          baseline_rev: str | None = None) -> int:
    """With `baseline_rev`, path "r" (a@REV, ntpd_ivr/bench/baseline.py) joins the ramps:
    each of its steps runs REV's controller, every other step and all that follows the
    ramps this tree's."""
    out.mkdir(parents=True, exist_ok=True)
    stack = BenchStack(keep=keep, baseline_rev=baseline_rev)
    baseline = stack.baseline
    labels: dict[str, str] = {}
    if baseline is not None:
        labels[BASELINE_PATH] = baseline.label
        paths = paths.replace(BASELINE_PATH, "") + BASELINE_PATH
    tag = run_tag()
    summary: list[str] = []
    try:
        stack.up()
        ip, ports = stack.taker_contacts
        takers = TakerPool(ip, ports, talk_ms=talk_ms)
        try:
            def measure(path: str, rate: float, seq: int) -> StepResult:
                if labels:
                    stack.use_baseline(path == BASELINE_PATH)
                return measure_step(stack, path, rate, step_seconds,
                                    caller_prefix(path, tag, seq), talk_ms=talk_ms,
                                    p99_limit_ms=p99_limit_ms,
                                    taker_p99_limit_ms=taker_p99_limit_ms)

            _progress(f"ramps of {step_seconds:g} s per step, paths {paths or 'none'}")
            def settle() -> None:
                wait_for_idle_asterisk(stack)
                controller_alive(stack, "the last ramp step")

            steps = ramps(paths, rates, fine_step, measure, settle=settle, labels=labels)
            if baseline is not None:
                summary.append(f"{baseline.label} (path {BASELINE_PATH} in the CSV): "
                               f"commit {baseline.commit}")
                stack.use_baseline(False)  # the surge, held callers and soak: this tree's
            if steps:
                write_csv(steps, out / "bench-ramp.csv")
                plot_ramp(steps, out / "bench-ramp.png", p99_limit_ms)
                summary += summary_lines(steps, paths, p99_limit_ms, taker_p99_limit_ms,
                                         labels)
                for line in summary:
                    _progress(line)
            top = path_top("a", steps).rate
            if surge_hold > 0 and top > 0:
                surge = timed_run(stack, "surge", [(1, 10), (top, surge_hold)], tag, 900,
                                  talk_ms=talk_ms)
                plot_timed(surge, out / "bench-surge.png")
                summary.append(surge.summary())
                controller_alive(stack, "the surge")
            if held_levels:
                held, stopped = held_run(stack.under_test(), held_levels, held_rate,
                                         held_seconds, tag)
                if held:
                    write_csv(held, out / "bench-held.csv")
                summary += [h.line() for h in held] + [f"held callers: {stopped}"]
                _progress(f"held callers: {stopped}")
                controller_alive(stack, "the held callers")
            if soak_minutes > 0 and top > 0:
                rate = soak_rate or max(1.0, top / 2)
                soak = timed_run(stack, "soak", [(rate, soak_minutes * 60)], tag, 950,
                                 talk_ms=talk_ms)
                plot_timed(soak, out / "bench-soak.png")
                summary.append(soak.summary())
        finally:
            takers.stop()
        (out / "bench-summary.txt").write_text("".join(f"{line}\n" for line in summary))
        _progress(f"wrote the CSVs, charts and bench-summary.txt in {out}")
    finally:
        stack.down()
    return 0


@dataclass
class FaultResult:
    name: str
    offered: int
    answered_by_taker: int
    failed: int
    rows: int
    missing: list[str]
    duplicated: list[str]
    missing_while_down: int
    note: str

    def line(self) -> str:
        return (f"fault {self.name}: offered {self.offered}, answered by a call-taker "
                f"{self.answered_by_taker}, failed {self.failed}, record rows {self.rows}, "
                f"missing {len(self.missing)} (of which placed while the fault lasted: "
                f"{self.missing_while_down}), duplicated {len(self.duplicated)}. {self.note}")


def fault_run(stack: BenchStack, takers: TakerPool, name: str, rate: float, seconds: float,
              fault_at: float, fault: Callable[[], tuple[float, float]], prefix: str, *,
              talk_ms: int, note: str, records_wait: float = 60.0) -> FaultResult:
    """Path-a load for `seconds`; at `fault_at` run `fault`, which returns the window
    (start, end, epoch seconds) during which the fault lasted."""
    _progress(f"fault {name}: {rate:g} calls/s for {seconds:g} s, fault at {fault_at:g} s")
    load = CallerLoad(stack.target, "a", rate, max(1, round(rate * seconds)), prefix,
                      talk_ms=talk_ms)
    time.sleep(fault_at)
    window = fault()
    result = load.wait(timeout=seconds + talk_ms / 1000 + 180)
    time.sleep(talk_ms / 1000 + 1)
    answered = {n for n in takers.answered() if n.startswith(prefix)}
    check = check_records(stack.settings_file, prefix, [c.number for c in result.calls],
                          wait_seconds=records_wait)
    invite_at = {c.number: c.invite_at for c in result.calls}
    during = sum(1 for n in check.missing
                 if window[0] - 10 <= invite_at.get(n, 0) <= window[1] + 1)
    fr = FaultResult(name, result.offered, len(answered), result.failed, check.rows,
                     check.missing, check.duplicated, during, note)
    _progress(fr.line())
    return fr


def bench_faults(*, rate: float, db_down_seconds: float, talk_ms: int, out: Path,
                 keep: bool = False) -> int:
    out.mkdir(parents=True, exist_ok=True)
    stack = BenchStack(keep=keep)
    tag = run_tag()
    results: list[FaultResult] = []
    try:
        stack.up()
        ip, ports = stack.taker_contacts
        takers = TakerPool(ip, ports, talk_ms=talk_ms)
        try:
            def kill_controller() -> tuple[float, float]:
                start = time.time()
                _progress("SIGKILL the controller")
                stack.controller.kill()
                time.sleep(5)
                stack.controller.start()
                _progress(f"controller back after {time.time() - start:.1f} s")
                return start, time.time()

            results.append(fault_run(
                stack, takers, "controller SIGKILL + restart", rate, 30, 10, kill_controller,
                caller_prefix("a", tag, 500), talk_ms=talk_ms,
                note="Calls placed while the controller was down go to the fallback queue; "
                     "their records come from the CDR reconciliation (reconciled = true)."))

            def stop_postgres() -> tuple[float, float]:
                start = time.time()
                _progress(f"stopping PostgreSQL for {db_down_seconds:g} s")
                stack.dev.postgres.stop()
                time.sleep(db_down_seconds)
                stack.dev.postgres.start()
                _progress("PostgreSQL started again")
                return start, time.time()

            results.append(fault_run(
                stack, takers, f"PostgreSQL down {db_down_seconds:g} s", rate,
                db_down_seconds + 20, 10, stop_postgres, caller_prefix("a", tag, 501),
                talk_ms=talk_ms, records_wait=120,
                note="Records are spooled while the database is down and replayed after."))

            def restart_asterisk() -> tuple[float, float]:
                start = time.time()
                _progress("restarting Asterisk")
                stack.restart_asterisk()
                _progress(f"Asterisk back after {time.time() - start:.1f} s")
                return start, time.time()

            results.append(fault_run(
                stack, takers, "Asterisk restart", rate, 30, 10, restart_asterisk,
                caller_prefix("a", tag, 502), talk_ms=talk_ms,
                note="Calls in progress when Asterisk stops are cut by Asterisk itself."))
        finally:
            takers.stop()
        with (out / "bench-faults.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["fault", "offered", "answered_by_taker", "failed", "record_rows",
                             "missing", "missing_placed_during_fault", "duplicated"])
            for r in results:
                writer.writerow([r.name, r.offered, r.answered_by_taker, r.failed, r.rows,
                                 len(r.missing), r.missing_while_down, len(r.duplicated)])
        _progress(f"wrote {out}/bench-faults.csv")
    finally:
        stack.down()
    return 0
