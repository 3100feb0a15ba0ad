"""`make bench-failover`: the two-node center (stack/hastack.py) under path-a load through
the Kamailio edge: a baseline run with no fault, then one run each: SIGKILL the active
Asterisk node, SIGKILL a controller, restart Kamailio, and last the whole site dark (both
nodes, both controllers and the database killed: new calls go to the second site,
bench/site.py). For each: the detection time, the
calls that failed (in progress when the fault struck vs. offered after it), the calls
sent to the fallback queue, the records lost (a successful call, or one cut by the fault,
without its `calls` row), INVITE->200 and time-to-call-taker percentiles and their
ratios to the baseline's.

Load only to 127.0.0.0/8, bounded in count (rate x seconds) and time."""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ntpd_ivr.bench.load import CallerLoad, LoadResult, TakerPool, caller_prefix, run_tag
from ntpd_ivr.bench.site import first_overflow_after
from ntpd_ivr.bench.stack import check_records, open_call_rows
from ntpd_ivr.errors import StackError
from ntpd_ivr.stack.devstack import TAKER_IP
from ntpd_ivr.stack.hastack import HaLayout, HaStack
from ntpd_ivr.stack.secondsite import FIRST_SITE_REGION, SecondSite, kill_site, restore_site

# The faults `make bench-failover` runs after its baseline (BENCH_ARGS="--faults db": some).
FAULTS = ("node", "controller", "edge", "db", "site")


def _progress(message: str) -> None:
    print(f"[bench-failover] {message}", flush=True)


@dataclass(frozen=True)
class Fault:
    """What a fault did: when it struck and when the edge (or the node) had noticed."""

    struck_at: float
    detected_at: float | None
    how_detected: str


@dataclass(frozen=True)
class FailoverResult:
    name: str
    rate: float
    offered: int
    succeeded: int
    failed_in_progress: int    # INVITE sent before the fault struck
    failed_new: int            # INVITE sent after it
    detection_s: float | None
    how_detected: str
    fallback_calls: int
    records_expected: int
    records_lost: int
    duplicated: int
    records_open: int          # rows still without an end after the drain
    answer_p50_ms: float       # INVITE -> 200 OK (through the edge)
    answer_p99_ms: float
    taker_p50_ms: float        # INVITE -> a call-taker (BYE less the talk time)
    taker_p99_ms: float
    carried_per_s: float       # succeeded calls / load duration

    def line(self, baseline: FailoverResult | None = None) -> str:
        detection = f"{self.detection_s:.2f} s" if self.detection_s is not None else "-"
        ratios = ""
        if baseline is not None and baseline is not self:
            ratios = (f" (x{self.answer_p99_ms / baseline.answer_p99_ms:.2f} and "
                      f"x{self.taker_p99_ms / baseline.taker_p99_ms:.2f} the baseline's p99)")
        return (f"{self.name}: {self.rate:g} calls/s offered, {self.carried_per_s:.1f} "
                f"carried; offered {self.offered}, succeeded {self.succeeded}, failed in "
                f"progress {self.failed_in_progress}, failed new {self.failed_new}; detection "
                f"{detection} ({self.how_detected}); fallback queue {self.fallback_calls}; "
                f"records lost {self.records_lost} of {self.records_expected}, duplicated "
                f"{self.duplicated}, left without an end {self.records_open}; "
                f"INVITE->200 p50/p99 {self.answer_p50_ms:.0f}/"
                f"{self.answer_p99_ms:.0f} ms, to a call-taker p50/p99 "
                f"{self.taker_p50_ms:.0f}/{self.taker_p99_ms:.0f} ms{ratios}")


def _fallback_count(stack: HaStack) -> int:
    total = 0
    for node in stack.nodes:
        if node.asterisk is not None and node.asterisk.messages_log.exists():
            total += node.asterisk.messages_log.read_text(errors="replace").count(
                "NTPD fallback ")
    return total


def _drain(stack: HaStack, within_s: float = 120.0) -> None:
    """Wait (bounded) until neither node has a call up: each run starts from a quiet
    stack, not from the previous run's queue."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        counts = [node.asterisk.cli("core show channels count")
                  for node in stack.nodes if node.asterisk is not None]
        if all(re.search(r"^0 active call", out, re.M) for out in counts):
            return
        time.sleep(1.0)
    _progress(f"calls still up after {within_s:g} s: starting the next run anyway")


def _invite_time(result: LoadResult, number: str) -> float:
    """When SIPp sent call `number` (<prefix><n>): the n-th call of a steady rate."""
    return result.started_at + (int(number[len(result.prefix):]) - 1) / result.rate


def failover_run(stack: HaStack, name: str, rate: float, seconds: float, fault_at: float,
                 fault: Callable[[], Fault] | None, recover: Callable[[], None], prefix: str,
                 *, talk_ms: int, also_records: Sequence[Path] = ()) -> FailoverResult:
    """Path-a load through the edge for `seconds`; `fault` at `fault_at` (None: the
    baseline); once the load is done, `recover` (node or controller back) and the records
    check: every successful call, and every call cut by the fault (its controller had
    seen it arrive), must have its row."""
    _progress(f"{name}: {rate:g} calls/s for {seconds:g} s, fault at {fault_at:g} s")
    fallbacks_before = _fallback_count(stack)
    load = CallerLoad(f"127.0.0.1:{stack.layout.edge_port}", "a", rate,
                      max(1, round(rate * seconds)), prefix, talk_ms=talk_ms,
                      scenario="ha-caller.xml")
    struck: list[Fault] = []
    timer = threading.Timer(fault_at, lambda: struck.append(fault()) if fault else None)
    timer.start()
    result = load.wait(timeout=seconds + talk_ms / 1000 + 90)
    timer.join(timeout=30)
    if fault is not None and not struck:
        raise RuntimeError(f"{name}: the fault did not run")
    what = struck[0] if struck else Fault(math.inf, None, "no fault: the baseline")
    recover()
    succeeded = {c.number for c in result.calls}
    failed = [n for n in result.offered_numbers if n not in succeeded]
    in_progress = [n for n in failed if _invite_time(result, n) < what.struck_at]
    expected = sorted(succeeded) + in_progress
    _drain(stack)
    # A call's record is at the center that took it: this one, or the second site.
    centers = [stack.nodes[0].layout.settings_file, *also_records]
    records = check_records(centers, prefix, expected, wait_seconds=120)
    # Every row ends: calls whose Hangup a dead controller missed are completed from the
    # CDR when it is back, the calls cut on a killed node are closed once it is back
    # (calls/reconcile.py). Bounded: what is still open after 120 s is reported.
    still_open = open_call_rows(centers, prefix, within_s=120)
    outcome = FailoverResult(
        name, rate, len(result.offered_numbers), len(succeeded), len(in_progress),
        len(failed) - len(in_progress),
        (what.detected_at - what.struck_at) if what.detected_at is not None else None,
        what.how_detected, _fallback_count(stack) - fallbacks_before, len(expected),
        len(records.missing), len(records.duplicated), len(still_open), result.answer_ms(50),
        result.answer_ms(99), result.taker_ms(50), result.taker_ms(99),
        len(succeeded) / max(1e-9, result.ended_at - result.started_at))
    _progress(outcome.line())
    return outcome


def bench_failover(*, rate: float, seconds: float, fault_at: float, talk_ms: int,
                   out: Path, keep: bool = False, faults: str = "") -> int:
    """`faults`: comma-separated names of FAULTS to run; empty, all."""
    from ntpd_ivr.bench.dbfailover import DatabaseFault, database_runs

    wanted = {n.strip() for n in faults.split(",") if n.strip()} or set(FAULTS)
    if wanted - set(FAULTS):
        raise StackError(f"--faults: unknown {', '.join(sorted(wanted - set(FAULTS)))}; "
                         f"choose from {','.join(FAULTS)}")

    out.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="ntpd-ivr-bench-ha-"))
    layout = HaLayout.ephemeral(run_dir, f"bench-ha-{os.getpid()}")
    site = SecondSite(run_dir / "second-site", f"bench-site2-{os.getpid()}",
                      layout.nodes[0].taker_ports)
    stack = HaStack(replace(layout, second_site=site.node, overflow_region=FIRST_SITE_REGION))
    tag = run_tag()
    results: list[FailoverResult] = []
    site_line = ""
    database: list[tuple[FailoverResult, DatabaseFault]] = []
    try:
        _progress(f"the second site on {site.bind} (its own Asterisk, controller, database)")
        with ThreadPoolExecutor(1, thread_name_prefix="second-site") as starting:
            site_up = starting.submit(site.start)
            stack.up()
            site_up.result()
        site.let_standins_take_many()
        stack.start_controllers()
        stack.let_standins_take_many()
        stack.wait_node_active(0, True, timeout=10)
        stack.wait_node_active(1, True, timeout=10)
        takers = TakerPool(TAKER_IP, stack.layout.nodes[0].taker_ports, talk_ms=talk_ms)
        try:
            results.append(failover_run(
                stack, "baseline (no fault)", rate, seconds, fault_at, None, lambda: None,
                caller_prefix("a", tag, 699), talk_ms=talk_ms))

            def kill_node() -> Fault:
                _progress("SIGKILL the active Asterisk node (node-a)")
                struck = stack.kill_node(0)
                detected = stack.wait_node_active(0, False, timeout=10)
                return Fault(struck, detected, "edge's OPTIONS probe marks it inactive")

            def node_back() -> None:
                stack.restart_node(0)
                stack.wait_node_active(0, True, timeout=15)
                deadline = time.monotonic() + 30
                while not stack.controllers[0].healthy() and time.monotonic() < deadline:
                    time.sleep(0.5)
                stack.let_standins_take_many()

            if "node" in wanted:
                results.append(failover_run(
                    stack, "kill -9 active node", rate, seconds, fault_at, kill_node, node_back,
                    caller_prefix("a", tag, 700), talk_ms=talk_ms))

            def kill_controller() -> Fault:
                _progress("SIGKILL node-a's controller")
                struck = time.time()
                stack.controllers[0].kill()
                # No detection to wait for: each call's FastAGI connect is refused at once,
                # and the dialplan asks the other node's controller.
                return Fault(struck, struck, "per call: FastAGI connect refused, at once")

            def controller_back() -> None:
                stack.controllers[0].start()

            if "controller" in wanted:
                results.append(failover_run(
                    stack, "kill -9 node-a's controller", rate, seconds, fault_at,
                    kill_controller, controller_back, caller_prefix("a", tag, 701),
                    talk_ms=talk_ms))

            def restart_edge() -> Fault:
                _progress("restarting Kamailio")
                struck = time.time()
                back = stack.restart_edge()
                return Fault(struck, back, "edge answering again (restart time)")

            if "edge" in wanted:
                results.append(failover_run(
                    stack, "restart Kamailio", rate, seconds, fault_at, restart_edge,
                    lambda: None, caller_prefix("a", tag, 702), talk_ms=talk_ms))
            # The PostgreSQL pair (stack/patroni.py): kill -9 the primary, a switchover,
            # a desk saving incidents throughout (bench/dbfailover.py).
            if "db" in wanted:
                database = database_runs(
                    stack, lambda name, fault, recover, prefix: failover_run(
                        stack, name, rate, seconds, fault_at, lambda: Fault(*fault()),
                        recover, prefix, talk_ms=talk_ms),
                    tag=tag, prefixes=(caller_prefix("a", tag, 703),
                                       caller_prefix("a", tag, 704)))
                results += [result for result, _ in database]
            # Last: it kills everything of the first site, the database pair too.
            if "site" in wanted:
                site_struck: list[float] = []

                def kill_whole_site() -> Fault:
                    _progress("SIGKILL the whole site: both nodes, both controllers, PostgreSQL")
                    struck = kill_site(stack)
                    site_struck.append(struck)
                    detected = max(stack.wait_node_active(i, False, timeout=10) for i in (0, 1))
                    return Fault(struck, detected, "edge's OPTIONS probes: both nodes inactive")

                def site_back() -> None:
                    restore_site(stack)
                    for index in (0, 1):
                        stack.wait_node_active(index, True, timeout=15)
                    stack.let_standins_take_many()

                dark_prefix = caller_prefix("a", tag, 705)
                dark = failover_run(
                    stack, "whole site dark", rate, seconds, fault_at, kill_whole_site,
                    site_back, dark_prefix, talk_ms=talk_ms,
                    also_records=(site.layout.settings_file,))
                results.append(dark)
                reached = first_overflow_after(site.layout.settings_file, dark_prefix,
                                               site_struck[0]) if site_struck else None
                site_line = ("\nwhole site dark: the first new call arrived at the second site "
                             + (f"{reached:.2f} s" if reached is not None else "never")
                             + " after the kill")
                _progress(site_line.strip())
        finally:
            takers.stop()
        with (out / "bench-failover.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["fault", "rate", "carried_per_s", "offered", "succeeded",
                             "failed_in_progress", "failed_new", "detection_s",
                             "fallback_calls", "records_expected", "records_lost",
                             "duplicated", "records_open", "invite_200_p50_ms", "invite_200_p99_ms",
                             "to_taker_p50_ms", "to_taker_p99_ms"])
            for r in results:
                writer.writerow([r.name, r.rate, f"{r.carried_per_s:.1f}", r.offered,
                                 r.succeeded, r.failed_in_progress, r.failed_new,
                                 "" if r.detection_s is None else f"{r.detection_s:.2f}",
                                 r.fallback_calls, r.records_expected, r.records_lost,
                                 r.duplicated, r.records_open, f"{r.answer_p50_ms:.0f}",
                                 f"{r.answer_p99_ms:.0f}", f"{r.taker_p50_ms:.0f}",
                                 f"{r.taker_p99_ms:.0f}"])
        summary = "\n".join([*(r.line(results[0]) for r in results),
                             *(fault.line() for _, fault in database)]) + site_line
        (out / "bench-failover.txt").write_text(summary + "\n")
        print("\n" + summary, flush=True)
        _progress(f"wrote {out}/bench-failover.csv and bench-failover.txt")
    finally:
        stack.down()
        site.down()
        if keep:
            print(f"kept {run_dir}")
        else:
            stack.destroy()
            site.destroy()
            shutil.rmtree(run_dir, ignore_errors=True)
    return 0 if all(r.records_lost == 0 and r.failed_new == 0 for r in results) and all(
        f.saves.lost == 0 and f.saves.duplicated == 0 for _, f in database) else 1
