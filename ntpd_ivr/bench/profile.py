"""`ntpd-ivr bench-profile`: where the controller's CPU goes under path-a load.

A bench stack, SIPp callers on path a at one rate, and py-spy sampling the controller
process meanwhile. It prints the controller's CPU ms per call and the top frames: by self
time (where the CPU is spent) and inclusive (which of our functions lead there), and
keeps py-spy's raw output and a flame graph (SVG) beside them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ntpd_ivr.bench.load import TakerPool, caller_prefix, run_calls, run_tag
from ntpd_ivr.bench.stack import BenchStack, ProcSampler
from ntpd_ivr.errors import StackError

# Frames that are a thread waiting, not working: py-spy samples them all the same when a
# thread sits in a blocking call (the spool's executor, the loop watchdog, epoll).
IDLE_FRAMES = ("_worker (concurrent/futures/thread.py", "Condition.wait (threading.py",
               "EpollSelector.select (selectors.py")


def _progress(message: str) -> None:
    print(f"[profile] {message}", flush=True)


@dataclass(frozen=True)
class Profile:
    samples: int  # busy samples, idle frames left out
    self_time: list[tuple[str, int]]
    inclusive: list[tuple[str, int]]

    def lines(self, top: int) -> list[str]:
        out = [f"{self.samples} busy samples (idle waits left out)", "self time:"]
        out += [f"  {100 * n / self.samples:5.1f}%  {frame}" for frame, n in self.self_time[:top]]
        out.append("inclusive (ntpd_ivr frames):")
        out += [f"  {100 * n / self.samples:5.1f}%  {frame}" for frame, n in self.inclusive[:top]]
        return out


def read_raw(text: str) -> Profile:
    """py-spy's raw format: one `frame;frame;...;leaf count` line per distinct stack."""
    own: Counter[str] = Counter()
    within: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if frames[-1].startswith(IDLE_FRAMES):
            continue
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            if "ntpd_ivr/" in frame and "__main__" not in frame and "cli.py" not in frame:
                within[frame] += n
    return Profile(total, own.most_common(), within.most_common())


def profile(*, rate: float, seconds: float, talk_ms: int, top: int, out: Path,
            keep: bool = False) -> int:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise StackError("py-spy is not installed: pip install -e '.[bench]' (make bench does)")
    out.mkdir(parents=True, exist_ok=True)
    stack = BenchStack(keep=keep)
    try:
        stack.up()
        ip, ports = stack.taker_contacts
        takers = TakerPool(ip, ports, talk_ms=talk_ms)
        try:
            pid = stack.controller.pid
            assert pid is not None
            raw, svg = out / "profile-raw.txt", out / "profile.svg"
            command = [spy, "record", "-p", str(pid), "-r", "200",
                       "-d", str(round(seconds + talk_ms / 1000 + 3))]
            _progress(f"py-spy on the controller (pid {pid}) while SIPp places {rate:g} calls/s "
                      f"on path a for {seconds:g} s")
            recorders = [subprocess.Popen([*command, "-f", form, "-o", str(path)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                         for form, path in (("raw", raw), ("flamegraph", svg))]
            with ProcSampler(lambda: stack.controller.pid) as sampler:
                result = run_calls(stack.target, "a", rate, seconds,
                                   caller_prefix("a", run_tag(), 1), talk_ms=talk_ms)
            for recorder in recorders:
                _, err = recorder.communicate(timeout=seconds + 120)
                if recorder.returncode != 0:
                    raise StackError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
        finally:
            takers.stop()
    finally:
        stack.down()
    cpu_ms = 1000 * sampler.cpu_seconds() / max(1, result.offered)
    lines = [f"path a at {rate:g} calls/s for {seconds:g} s: {result.succeeded}/{result.offered} "
             f"ok, INVITE->200 p99 {result.answer_ms(99):.1f} ms, to a call-taker p99 "
             f"{result.taker_ms(99):.0f} ms; controller {sampler.cpu_seconds():.2f} CPU s = "
             f"{cpu_ms:.2f} ms per call",
             *read_raw(raw.read_text()).lines(top)]
    (out / "profile-top.txt").write_text("\n".join(lines) + "\n")
    for line in lines:
        print(line)
    _progress(f"wrote {raw}, {svg} and {out / 'profile-top.txt'}")
    return 0
