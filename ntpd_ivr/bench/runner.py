"""`ntpd-ivr bench` and `ntpd-ivr bench-faults`: capacity ramps per IVR path, surge, soak,
and faults under load. Figures come only from what SIPp, /proc and the `calls` table say.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

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
from ntpd_ivr.stats import percentile

DEFAULT_RATES = (5, 10, 20, 40, 80, 120, 160, 240, 320)
MAX_FAILURE_RATIO = 0.001  # > 0.1 % failed calls ends a ramp


def _progress(message: str) -> None:
    print(f"[bench] {message}", flush=True)


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


def _step_line(s: StepResult) -> str:
    rec = "" if s.records_ok is None else \
        f" records {s.records_rows}/{s.succeeded} {'ok' if s.records_ok else 'MISMATCH'}"
    return (f"path {s.path} {s.rate:g}/s: {s.succeeded}/{s.offered} ok, {s.failed} failed, "
            f"INVITE->200 p50 {s.invite_200_p50_ms:.1f} p99 {s.invite_200_p99_ms:.1f} ms, "
            f"to taker p50 {s.taker_p50_ms:.0f} p99 {s.taker_p99_ms:.0f} ms, "
            f"controller {s.controller_cpu_s:.1f} CPU s, {s.controller_peak_rss_mb:.0f} MB"
            f"{rec} -> {'carried' if s.carried else 'NOT carried'}")


def measure_step(stack: BenchStack, path: str, rate: float, seconds: float, prefix: str, *,
                 talk_ms: int, p99_limit_ms: float, taker_p99_limit_ms: float) -> StepResult:
    with ProcSampler(stack.controller) as sampler:
        result = run_calls(stack.target, path, rate, seconds, prefix, talk_ms=talk_ms)
    rows: int | None = None
    records_ok: bool | None = None
    if path == "a":
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
    return StepResult(path, rate, result.offered, result.succeeded, result.failed,
                      result.answer_ms(50), p99, result.taker_ms(50), result.taker_ms(99),
                      sampler.cpu_seconds(), sampler.peak_rss_mb(), rows, records_ok, carried)


def ramp(stack: BenchStack, path: str, rates: Sequence[float], seconds: float, tag: str, *,
         talk_ms: int, p99_limit_ms: float, taker_p99_limit_ms: float,
         step_base: int = 0) -> list[StepResult]:
    steps: list[StepResult] = []
    for i, rate in enumerate(rates):
        _progress(f"path {path} ({PATH_NAMES[path]}): {rate:g} calls/s for {seconds:g} s ...")
        step = measure_step(stack, path, rate, seconds, caller_prefix(path, tag, step_base + i),
                            talk_ms=talk_ms, p99_limit_ms=p99_limit_ms,
                            taker_p99_limit_ms=taker_p99_limit_ms)
        _progress(_step_line(step))
        steps.append(step)
        if not step.carried:
            break
        time.sleep(2)  # let Asterisk settle between steps
    return steps


def top_rate(steps: Sequence[StepResult]) -> float:
    return max((s.rate for s in steps if s.carried), default=0.0)


def write_steps_csv(steps: Sequence[StepResult], path: Path) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(asdict(steps[0])))
        writer.writeheader()
        for s in steps:
            writer.writerow({k: (f"{v:.3f}" if isinstance(v, float) else v)
                             for k, v in asdict(s).items()})


def plot_ramp(steps: Sequence[StepResult], path: Path, p99_limit_ms: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for p in sorted({s.path for s in steps}):
        mine = [s for s in steps if s.path == p]
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
    with ProcSampler(stack.controller, interval=1.0) as sampler:
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


def bench(*, paths: str, rates: Sequence[float], step_seconds: float, p99_limit_ms: float,
          taker_p99_limit_ms: float, talk_ms: int, surge_hold: float, soak_minutes: float,
          soak_rate: float | None, out: Path, keep: bool = False) -> int:
    out.mkdir(parents=True, exist_ok=True)
    stack = BenchStack(keep=keep)
    tag = run_tag()
    try:
        stack.up()
        ip, ports = stack.taker_contacts
        takers = TakerPool(ip, ports, talk_ms=talk_ms)
        try:
            steps: list[StepResult] = []
            for n, path in enumerate(paths):
                steps += ramp(stack, path, rates, step_seconds, tag, talk_ms=talk_ms,
                              p99_limit_ms=p99_limit_ms,
                              taker_p99_limit_ms=taker_p99_limit_ms, step_base=n * 100)
            write_steps_csv(steps, out / "bench-ramp.csv")
            plot_ramp(steps, out / "bench-ramp.png", p99_limit_ms)
            tops = {p: top_rate([s for s in steps if s.path == p]) for p in paths}
            _progress("highest sustained calls/s (<= 0.1 % failed, INVITE->200 p99 <= "
                      f"{p99_limit_ms:g} ms, to a call-taker p99 <= {taker_p99_limit_ms:g} ms): "
                      + ", ".join(f"{p}={v:g}" for p, v in tops.items()))
            if "a" in tops:
                for other in ("b", "c"):
                    if tops.get(other):
                        _progress(f"ratio a/{other}: {tops['a'] / tops[other]:.2f}")
            top = tops.get("a", 0.0)
            if surge_hold > 0 and top > 0:
                surge = timed_run(stack, "surge", [(1, 10), (top, surge_hold)], tag, 900,
                                  talk_ms=talk_ms)
                plot_timed(surge, out / "bench-surge.png")
            if soak_minutes > 0 and top > 0:
                rate = soak_rate or max(1.0, top / 2)
                soak = timed_run(stack, "soak", [(rate, soak_minutes * 60)], tag, 950,
                                 talk_ms=talk_ms)
                plot_timed(soak, out / "bench-soak.png")
        finally:
            takers.stop()
        _progress(f"wrote {out}/bench-ramp.csv and charts in {out}")
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
