"""SIPp load for the benchmarks: bench callers on one IVR path, call-takers that carry load.

Every call of a run has its own caller number, `<prefix><call number>`, with a prefix of
fixed length per run, so the bench can match SIPp's calls to the `calls` table and to
what the call-takers answered (sipp-scenarios/bench-caller.xml, bench-taker.xml).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ntpd_ivr.errors import StackError
from ntpd_ivr.stack.sipp import SCENARIOS, sipp_binary
from ntpd_ivr.stats import percentile

# Three IVR paths on one Asterisk, each reached from its own trunk (source address); "r"
# (`bench --baseline-rev`, ntpd_ivr/bench/baseline.py) is path a with another revision's
# controller: a's trunk and a's caller numbers, so that both are routed alike. "f" is the
# floor: the smallest FastAGI server that answers the same IVR (ntpd_ivr/bench/floor.py).
PATH_SOURCES = {"a": "127.0.0.2", "b": "127.0.0.6", "c": "127.0.0.7", "r": "127.0.0.2",
                "f": "127.0.0.14"}
PATH_NAMES = {"a": "controller FastAGI IVR", "b": "pure dialplan Read()",
              "c": "pyst2 AGI, process per call",
              "r": "controller FastAGI IVR of the baseline revision",
              "f": "floor: minimal asyncio FastAGI, no records/routing/AMI"}
_PATH_DIGIT = {"a": "1", "b": "2", "c": "3", "r": "1", "f": "4"}


def run_tag() -> str:
    return f"{random.randrange(100):02d}"


def caller_prefix(path: str, tag: str, step: int) -> str:
    """Fixed length (9 digits): 089, path digit, run tag (2), step (3). Paths a and r
    share their digit: their steps differ by step number."""
    return f"089{_PATH_DIGIT[path]}{tag}{step % 1000:03d}"


@dataclass(frozen=True)
class CallTiming:
    number: str            # the caller number, <prefix><call number>
    invite_at: float       # epoch seconds the INVITE was sent
    answer_s: float        # INVITE -> 200 OK
    bye_s: float           # INVITE -> BYE from Asterisk (the call-taker hung up)


@dataclass
class LoadResult:
    path: str
    rate: float
    prefix: str
    offered: int
    calls: list[CallTiming]
    returncode: int
    output_tail: str
    started_at: float
    ended_at: float
    talk_ms: int
    offered_numbers: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return len(self.calls)

    @property
    def failed(self) -> int:
        return self.offered - self.succeeded

    @property
    def failure_ratio(self) -> float:
        return self.failed / self.offered if self.offered else 0.0

    def answer_ms(self, q: float) -> float:
        return percentile((c.answer_s * 1000 for c in self.calls), q)

    def taker_ms(self, q: float) -> float:
        """Time to reach a call-taker: INVITE -> BYE, less the call-taker's talk time."""
        return percentile((c.bye_s * 1000 - self.talk_ms for c in self.calls), q)


def _parse_caller_logs(workdir: Path, prefix: str) -> tuple[list[str], list[CallTiming]]:
    offered: list[str] = []
    done: list[CallTiming] = []
    for log in workdir.glob("*_logs.log"):
        for line in log.read_text(errors="replace").splitlines():
            parts = line.strip().split(";")
            if parts[0] == "S" and len(parts) == 2:
                offered.append(prefix + parts[1])
            elif parts[0] == "E" and len(parts) == 8:
                t = [float(x) for x in parts[2:]]
                t0, t1, t2 = t[0] + t[1] / 1e6, t[2] + t[3] / 1e6, t[4] + t[5] / 1e6
                done.append(CallTiming(prefix + parts[1], t0, t1 - t0, t2 - t0))
    return offered, done


def peak_concurrent(calls: Iterable[CallTiming]) -> int:
    """The most calls that were up at once (from 200 OK to the end of the call)."""
    edges = sorted([(c.invite_at + c.answer_s, 1) for c in calls]
                   + [(c.invite_at + c.bye_s, -1) for c in calls])  # at a tie, ends first
    up = peak = 0
    for _, delta in edges:
        up += delta
        peak = max(peak, up)
    return peak


class CallerLoad:
    """One SIPp caller process: `rate` calls/s for `calls` calls on one IVR path.

    `pause_ms` is the scenario's default pause: the delay before the digit in
    bench-caller.xml, the hold before SIPp hangs up in bench-held-caller.xml."""

    def __init__(self, target: str, path: str, rate: float, calls: int, prefix: str, *,
                 talk_ms: int, digit: str = "1", pause_ms: int = 500,
                 dialed: str = "112", scenario: str = "bench-caller.xml",
                 max_concurrent: int | None = None) -> None:
        self.path, self.rate, self.calls, self.prefix = path, rate, calls, prefix
        self.talk_ms = talk_ms
        self.workdir = Path(tempfile.mkdtemp(prefix="ntpd-bench-caller-"))
        self.started_at = time.time()
        limit = max_concurrent if max_concurrent is not None else max(100, int(rate * 120))
        self.process = subprocess.Popen(
            [sipp_binary(), target, "-sf", str(SCENARIOS / scenario),
             "-i", PATH_SOURCES[path], "-p", "0", "-s", dialed,
             "-key", "caller", prefix, "-key", "digit", digit, "-d", str(pause_ms),
             "-r", f"{rate:g}", "-m", str(calls), "-l", str(limit),
             "-nostdin", "-trace_logs", "-trace_err", "-max_socket", "50000"],
            cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)

    def wait(self, timeout: float) -> LoadResult:
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Bounded in time: calls still in progress count as failed.
            os.killpg(self.process.pid, signal.SIGKILL)
            _, err = self.process.communicate()
        ended = time.time()
        offered, done = _parse_caller_logs(self.workdir, self.prefix)
        errors = "".join(p.read_text(errors="replace")[-2000:]
                         for p in self.workdir.glob("*_errors.log"))
        result = LoadResult(self.path, self.rate, self.prefix, max(len(offered), len(done)),
                            done, self.process.returncode,
                            (err.decode(errors="replace") + errors)[-3000:],
                            self.started_at, ended, self.talk_ms, offered)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return result


def run_calls(target: str, path: str, rate: float, seconds: float, prefix: str, *,
              talk_ms: int, extra_timeout: float = 120.0) -> LoadResult:
    calls = max(1, round(rate * seconds))
    load = CallerLoad(target, path, rate, calls, prefix, talk_ms=talk_ms)
    return load.wait(timeout=seconds + talk_ms / 1000 + extra_timeout)


class TakerPool:
    """Bench call-takers at both static contacts, each taking many concurrent calls."""

    def __init__(self, ip: str, ports: Iterable[int], talk_ms: int) -> None:
        self.talk_ms = talk_ms
        self.workdir = Path(tempfile.mkdtemp(prefix="ntpd-bench-takers-"))
        self.processes = [
            subprocess.Popen(
                [sipp_binary(), "-sf", str(SCENARIOS / "bench-taker.xml"), "-i", ip,
                 "-p", str(port), "-d", str(talk_ms), "-m", "10000000", "-nostdin",
                 "-trace_logs", "-max_socket", "50000"],
                cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
            for port in ports]
        time.sleep(0.5)  # let SIPp bind before Asterisk rings it
        for proc in self.processes:
            if proc.poll() is not None:
                code = proc.returncode
                self.stop()
                raise StackError(f"bench call-taker exited with {code}")

    def answered(self) -> list[str]:
        """Caller numbers of the calls the call-takers answered and hung up so far."""
        found: list[str] = []
        for log in self.workdir.glob("*_logs.log"):
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("T;"):
                    found.append(line[2:].strip())
        return found

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)
