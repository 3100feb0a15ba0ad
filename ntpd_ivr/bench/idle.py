"""The controller's background cost with no calls: CPU per second of an idle controller.

`python -m ntpd_ivr.bench.idle [--baseline-rev REV]` brings up a bench stack (Asterisk,
PostgreSQL, the controller), lets the controller settle, and reads its CPU seconds
(utime+stime from /proc/<pid>/stat: other processes' load changes how long our work
takes, not how much CPU it is charged) over a window. With `--baseline-rev` the two
controllers run in turn on the same stack, the order rotating each round, as `make bench`
does for path a@REV. `--healthz-sides` alternates windows without and with /healthz
polled as `make bench` polls it; `--path-b-rate R` runs path-b calls (pure dialplan: the
controller sees only their AMI events) during each window. `--profile` adds one py-spy
window per controller, after the measured ones (py-spy's sampling is not free).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ntpd_ivr.bench.load import TakerPool, caller_prefix, run_calls, run_tag
from ntpd_ivr.bench.profile import read_raw
from ntpd_ivr.bench.stack import BenchStack, proc_sample
from ntpd_ivr.errors import StackError
from ntpd_ivr.stack.controller import health


def window(pid: int, seconds: float, during: Callable[[], object] | None = None
           ) -> tuple[float, float, str]:
    """The process's CPU ms per second over `seconds` (or while `during` runs), its CPU
    seconds in all, and the load average at the end."""
    before = proc_sample(pid)
    if during is None:
        time.sleep(seconds)
    else:
        during()
    after = proc_sample(pid)
    if before is None or after is None:
        raise StackError(f"process {pid} ended during the window")
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    cpu_s = after.cpu_s - before.cpu_s
    return 1000 * cpu_s / (after.at - before.at), cpu_s, load


class _Poller:
    """GET /healthz every 0.5 s in a thread, as the bench's ProcSampler does."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            health(self.url)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _path_b(stack: BenchStack, rate: float, seconds: float, talk_ms: int
            ) -> Callable[[], object]:
    """What runs during a window at load: SIPp callers on path b (pure dialplan), so the
    controller only sees their AMI events, as it sees path a's. The window lasts until
    the last call ends: the rate's seconds, then the talk time and SIPp's tail."""
    tag = run_tag()
    step = iter(range(1, 1000))

    def calls() -> object:
        result = run_calls(stack.target, "b", rate, seconds,
                           caller_prefix("b", tag, next(step)), talk_ms=talk_ms)
        print(f"[idle] path b: {result.succeeded}/{result.offered} ok", flush=True)
        return result
    return calls


def _windows(stack: BenchStack, args: argparse.Namespace,
             during: Callable[[], object] | None) -> dict[str, list[float]]:
    sides = [False, True] if args.baseline_rev else [False]
    polls = [False, True] if args.healthz_sides else [False]
    windows = [(baseline, poll) for baseline in sides for poll in polls]
    results: dict[str, list[float]] = {}
    for round_no in range(args.rounds):
        shift = round_no % len(windows)
        for baseline, poll in windows[shift:] + windows[:shift]:
            if args.baseline_rev:
                stack.use_baseline(baseline)
            pid = stack.controller.pid
            assert pid is not None
            time.sleep(args.settle)
            poller = _Poller(stack.controller.health_url) if poll else None
            try:
                ms, cpu_s, load = window(pid, args.seconds, during)
            finally:
                if poller is not None:
                    poller.stop()
            name = (f"@{args.baseline_rev}" if baseline else "this tree") + (
                " +healthz" if poll else "")
            results.setdefault(name, []).append(ms)
            per_call = (f" = {1000 * cpu_s / round(args.path_b_rate * args.seconds):.2f} ms "
                        "per call offered" if during is not None else "")
            print(f"[idle] round {round_no + 1} {name}: {ms:.2f} ms CPU/s{per_call}; "
                  f"load {load}", flush=True)
    return results


def _profiles(stack: BenchStack, args: argparse.Namespace,
              during: Callable[[], object] | None) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    args.profile.mkdir(parents=True, exist_ok=True)
    for baseline in ([False, True] if args.baseline_rev else [False]):
        if args.baseline_rev:
            stack.use_baseline(baseline)
        time.sleep(args.settle)
        raw = args.profile / f"idle-{'baseline' if baseline else 'tree'}.txt"
        recorder = subprocess.Popen(
            [spy, "record", "-p", str(stack.controller.pid), "-f", "raw", "-r", "200",
             "-d", str(int(args.seconds)), "--nonblocking", "-o", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if during is not None:
            during()
        recorder.wait(timeout=args.seconds + 120)
        name = f"@{args.baseline_rev}" if baseline else "this tree"
        print(f"[idle] profile of {name} ({raw}):")
        print("\n".join(read_raw(raw.read_text()).lines(15)), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-rev", default=None,
                        help="also this revision's controller, in turn on the same stack")
    parser.add_argument("--seconds", type=float, default=60.0, help="one window")
    parser.add_argument("--settle", type=float, default=15.0,
                        help="wait after a (re)start before a window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None,
                        help="folder for one py-spy window per controller, after the rounds")
    parser.add_argument("--path-b-rate", type=float, default=0.0,
                        help="calls/s of pure-dialplan calls (path b) during each window: "
                             "the controller's cost at load for calls it has no part in; "
                             "0 = idle")
    parser.add_argument("--talk-ms", type=int, default=2000)
    parser.add_argument("--healthz-sides", action="store_true",
                        help="alternate windows without and with /healthz polled every "
                             "0.5 s, as make bench polls it")
    args = parser.parse_args(argv)
    stack = BenchStack(baseline_rev=args.baseline_rev)
    takers: TakerPool | None = None
    try:
        stack.up()
        during = None
        if args.path_b_rate:
            ip, ports = stack.taker_contacts
            takers = TakerPool(ip, ports, talk_ms=args.talk_ms)
            during = _path_b(stack, args.path_b_rate, args.seconds, args.talk_ms)
        results = _windows(stack, args, during)
        if args.profile is not None:
            _profiles(stack, args, during)
    finally:
        if takers is not None:
            takers.stop()
        stack.down()
    for name, values in results.items():
        print(f"[idle] {name}: " + ", ".join(f"{v:.2f}" for v in values)
              + f" ms CPU/s; median {statistics.median(values):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
