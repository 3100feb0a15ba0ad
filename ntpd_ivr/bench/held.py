"""The held-callers run: callers who press nothing in the menu, then wait in the queue with
every call-taker paused, raised level by level (e.g. 250, 500, 1000 at once). What it
costs the controller to keep them (RSS, event-loop lag, CPU) and whether every one of them
still gets exactly one call record. SIPp hangs each caller up itself after a bounded hold
(sipp-scenarios/bench-held-caller.xml); all traffic stays on loopback.
"""

from __future__ import annotations

import math
import re
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ntpd_ivr.bench.load import CallerLoad, caller_prefix, peak_concurrent
from ntpd_ivr.bench.stack import (
    TAKER_QUEUE,
    ProcSampler,
    StackUnderTest,
    check_records,
    open_files_limit,
    proc_sample,
    set_takers_paused,
)
from ntpd_ivr.errors import StackError

# A silent caller spends the menu and the digit timeout in the IVR, capped by the routing
# config's max_seconds_in_ivr (10 s), before Queue(): 12 s leaves a margin.
IVR_SECONDS = 12.0
# What one held call keeps open in Asterisk (RTP and RTCP sockets, timers and alert pipes
# of the channel and its hold music, the FastAGI socket while in the menu): 6 measured
# here with 20 held callers (138 open files, 18 idle). Used for the limit check before a
# level; each level reports the real figure (Asterisk's open files at its peak).
FDS_PER_HELD_CALL = 6
SIPP_MAX_SOCKET = 50000  # what CallerLoad passes to SIPp (-max_socket)
HELD_STEP_BASE = 700     # caller-number steps of the held run (the ramps use 0..699)


def _progress(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def held_levels(target: int, steps: int = 4) -> list[int]:
    """Levels raised step-wise to `target` in `steps` equal parts: 1000 -> 250, 500, 750,
    1000; 1000 -> 334, 667, 1000 for 3. Never 0, never twice the same."""
    if target <= 0:
        return []
    levels = [max(1, math.ceil(target * i / steps)) for i in range(1, steps + 1)]
    return sorted(set(levels))


def rtp_call_capacity(rtp_conf: str) -> int | None:
    """Calls the RTP port range of an rtp.conf allows: one even port (RTP, with RTCP on
    the odd port above) per call leg. None if the file does not set the range."""
    found = dict(re.findall(r"^\s*(rtpstart|rtpend)\s*=\s*(\d+)", rtp_conf, re.MULTILINE))
    if "rtpstart" not in found or "rtpend" not in found:
        return None
    return (int(found["rtpend"]) - int(found["rtpstart"])) // 2


@dataclass(frozen=True)
class HeldLimits:
    """What bounds the number of held calls on this machine, read before the run."""

    asterisk_open_files: int | None   # Asterisk's soft RLIMIT_NOFILE
    asterisk_fds_idle: int            # open before any held call
    rtp_calls: int | None             # from the running Asterisk's rtp.conf
    sipp_open_files: int              # our soft RLIMIT_NOFILE, which SIPp inherits
    sipp_max_socket: int = SIPP_MAX_SOCKET

    def most_calls(self) -> int | None:
        """The most held calls these limits allow, by the estimate (None: no bound known)."""
        bounds = [b for b in (self.rtp_calls, self.sipp_max_socket) if b is not None]
        if self.asterisk_open_files is not None:
            bounds.append((self.asterisk_open_files - self.asterisk_fds_idle)
                          // FDS_PER_HELD_CALL)
        return min(bounds, default=None)

    def line(self) -> str:
        return (f"limits: Asterisk open files {self.asterisk_open_files} "
                f"({self.asterisk_fds_idle} open idle, ~{FDS_PER_HELD_CALL} per held call), "
                f"RTP ports for {self.rtp_calls} calls (rtp.conf), SIPp -max_socket "
                f"{self.sipp_max_socket}, ulimit -n {self.sipp_open_files} for SIPp "
                f"-> at most ~{self.most_calls()} held calls")


def read_limits(stack: StackUnderTest) -> HeldLimits:
    process = stack.asterisk.process
    pid = process.pid if process is not None else None
    idle = proc_sample(pid) if pid is not None else None
    rtp_conf = stack.asterisk.host_path(f"{stack.asterisk.etc}/rtp.conf")
    return HeldLimits(open_files_limit(pid) if pid is not None else None,
                      idle.open_fds if idle is not None else 0,
                      rtp_call_capacity(rtp_conf.read_text()) if rtp_conf.exists() else None,
                      resource.getrlimit(resource.RLIMIT_NOFILE)[0])


@dataclass
class HeldLevel:
    level: int                   # callers asked to be held at once
    rate: float                  # calls/s while placing them
    hold_s: float                # how long each caller stays before SIPp hangs up
    offered: int
    held: int                    # answered, held the whole hold, hung up by SIPp
    failed: int
    peak_concurrent: int         # from SIPp's times: calls up at once
    in_queue: int | None         # callers in the queue at mid-hold (queue show)
    controller_peak_rss_mb: float
    controller_cpu_s: float
    loop_lag_p99_ms: float       # every sample of the controller's loop during the level
    loop_lag_max_ms: float
    loop_lag_samples: int
    loop_lag_missed: int         # fell out of /healthz's window between two polls
    asterisk_peak_fds: int
    records_rows: int
    records_missing: int
    records_duplicated: int
    records_ok: bool

    def shortfall(self) -> str | None:
        """Why this level does not count as held (None: it does)."""
        if self.failed or self.offered < self.level:
            return f"{self.failed} of {self.offered} calls failed"
        if self.peak_concurrent < self.level:
            return f"only {self.peak_concurrent} calls were up at once"
        if self.in_queue is not None and self.in_queue < self.level:
            return f"only {self.in_queue} callers were in the queue at mid-hold"
        if not self.records_ok:
            return (f"records {self.records_rows}/{self.held}: {self.records_missing} missing, "
                    f"{self.records_duplicated} duplicated")
        return None

    def line(self) -> str:
        return (f"held {self.level}: {self.held}/{self.offered} held {self.hold_s:.0f} s and "
                f"hung up by SIPp, {self.failed} failed, {self.peak_concurrent} up at once, "
                f"{self.in_queue} in the queue at mid-hold; controller RSS peak "
                f"{self.controller_peak_rss_mb:.0f} MB, {self.controller_cpu_s:.1f} CPU s, "
                f"loop lag p99 {self.loop_lag_p99_ms:.1f} max {self.loop_lag_max_ms:.1f} ms "
                f"({self.loop_lag_samples} samples, {self.loop_lag_missed} missed); "
                f"Asterisk {self.asterisk_peak_fds} open files; records "
                f"{self.records_rows}/{self.held}, {self.records_missing} missing, "
                f"{self.records_duplicated} duplicated "
                f"-> {'ok' if self.shortfall() is None else 'NOT held: ' + str(self.shortfall())}")


def _queue_callers(stack: StackUnderTest) -> int | None:
    try:
        shown = stack.asterisk.cli(f"queue show {TAKER_QUEUE}", timeout=30)
    except (StackError, OSError):
        return None
    found = re.search(r"has (\d+) calls?", shown)
    return int(found.group(1)) if found else None


def hold_one_level(stack: StackUnderTest, level: int, rate: float, plateau_seconds: float,
                   prefix: str) -> HeldLevel:
    placing = level / rate
    hold_s = placing + IVR_SECONDS + plateau_seconds  # the last caller queued, all still up
    asterisk = stack.asterisk.process
    with ProcSampler(stack.controller_pid, interval=1.0,
                     health_url=stack.health_url) as controller, \
            ProcSampler(lambda: asterisk.pid if asterisk else None, interval=2.0) as ast:
        load = CallerLoad(stack.target, "a", rate, level, prefix, talk_ms=0,
                          pause_ms=round(hold_s * 1000), scenario="bench-held-caller.xml",
                          max_concurrent=level + 10)
        time.sleep(placing + IVR_SECONDS + plateau_seconds / 2)
        in_queue = _queue_callers(stack)
        result = load.wait(timeout=placing + hold_s + 60)
    check = check_records(stack.settings_file, prefix, [c.number for c in result.calls],
                          wait_seconds=30)
    return HeldLevel(level, rate, hold_s, result.offered, result.succeeded, result.failed,
                     peak_concurrent(result.calls), in_queue, controller.peak_rss_mb(),
                     controller.cpu_seconds(), controller.lag.p99_ms(),
                     controller.lag.max_ms(), len(controller.lag.samples_ms),
                     controller.lag.missed,
                     ast.peak_open_fds(), check.rows, len(check.missing),
                     len(check.duplicated), check.ok)


def held_run(stack: StackUnderTest, levels: Sequence[int], rate: float,
             plateau_seconds: float, tag: str,
             progress: Callable[[str], None] = _progress) -> tuple[list[HeldLevel], str]:
    """Each level in turn, until one falls short or the limits forbid the next. Returns
    the levels run and where (and why) the run stopped."""
    limits = read_limits(stack)
    progress(limits.line())
    done: list[HeldLevel] = []
    set_takers_paused(stack.asterisk, True)
    try:
        for i, level in enumerate(levels):
            most = limits.most_calls()
            if most is not None and level > most:
                return done, f"stopped before {level}: the limits allow about {most}"
            progress(f"held callers: {level} at {rate:g} calls/s, silent in the menu, then "
                     f"in {TAKER_QUEUE} with every call-taker paused")
            result = hold_one_level(stack, level, rate, plateau_seconds,
                                    caller_prefix("a", tag, HELD_STEP_BASE + i))
            done.append(result)
            progress(result.line())
            if (why := result.shortfall()) is not None:
                return done, f"stopped at {level}: {why}"
            time.sleep(3)  # let Asterisk free the last level's channels
    finally:
        set_takers_paused(stack.asterisk, False)
    return done, f"reached {levels[-1]}" if levels else "no level asked"

