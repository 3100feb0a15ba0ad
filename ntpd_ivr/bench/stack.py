"""What a benchmark runs against: a stack with the bench trunks, the controller as a
subprocess (so a fault run can SIGKILL it), /proc sampling of that process, and the
`calls` table read back for the records check."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ntpd_ivr.bench.baseline import Baseline, export
from ntpd_ivr.errors import StackError
from ntpd_ivr.numbers import canonical_caller, canonical_prefix
from ntpd_ivr.stack.asterisk import AsteriskInstance
from ntpd_ivr.stack.controller import ControllerProcess, health
from ntpd_ivr.stack.devstack import TAKER_IP, DevStack, StackLayout
from ntpd_ivr.stats import percentile

PYST2_SCRIPT = Path(__file__).with_name("pyst2_ivr.py")
FLOOR_VARIABLE = "NTPD_FLOOR_AGI"  # dialplan/ntpd-bench.conf [ntpd-bench-floor]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _progress(message: str) -> None:
    print(f"[bench] {message}", flush=True)


@dataclass(frozen=True)
class ProcSample:
    at: float
    cpu_s: float
    rss_mb: float
    open_fds: int


def proc_sample(pid: int) -> ProcSample | None:
    """CPU seconds (user+system), resident memory and open files of a process, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        statm = Path(f"/proc/{pid}/statm").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime, stime
    rss_mb = int(statm.split()[1]) * PAGE_KB / 1024
    return ProcSample(time.time(), cpu, rss_mb, fds)


def open_files_limit(pid: int) -> int | None:
    """The soft RLIMIT_NOFILE of a running process (None if unknown or unlimited)."""
    try:
        text = Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return int(soft) if soft.isdigit() else None
    return None


class LagReader:
    """Every event-loop lag sample the controller took while we polled /healthz, exactly
    once: its "loop" section holds the recent samples and a running count."""

    def __init__(self) -> None:
        self.samples_ms: list[float] = []
        self.missed = 0          # samples that fell out of the window between two polls
        self._seen: int | None = None

    def feed(self, loop: dict[str, Any]) -> None:
        total, recent = int(loop["samples_total"]), list(loop["recent_ms"])
        if self._seen is not None and total >= self._seen:
            new = total - self._seen
            taken = recent[len(recent) - min(new, len(recent)):] if new else []
            self.samples_ms += [float(v) for v in taken]
            self.missed += new - len(taken)
        self._seen = total       # the first poll (or a restarted controller) is a baseline

    def p99_ms(self) -> float:
        return percentile(self.samples_ms, 99)

    def max_ms(self) -> float:
        return max(self.samples_ms, default=math.nan)


class ProcSampler:
    """Samples a (possibly restarted) process every `interval` s in a thread; with a
    health URL, also reads the controller's event-loop lag from it."""

    def __init__(self, pid_of: Callable[[], int | None], interval: float = 0.5,
                 health_url: str | None = None) -> None:
        self.pid_of, self.interval, self.health_url = pid_of, interval, health_url
        self.samples: list[tuple[int, ProcSample]] = []
        self.lag = LagReader()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        pid = self.pid_of()
        if pid is not None:
            sample = proc_sample(pid)
            if sample is not None:
                self.samples.append((pid, sample))
        if self.health_url is not None:
            body = health(self.health_url)
            if body is not None and isinstance(body.get("loop"), dict):
                self.lag.feed(body["loop"])

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> ProcSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._sample()

    def cpu_seconds(self) -> float:
        """CPU used during sampling, summed over each process id seen."""
        by_pid: dict[int, list[float]] = {}
        for pid, sample in self.samples:
            by_pid.setdefault(pid, []).append(sample.cpu_s)
        return sum(max(v) - min(v) for v in by_pid.values())

    def peak_rss_mb(self) -> float:
        return max((s.rss_mb for _, s in self.samples), default=math.nan)

    def peak_open_fds(self) -> int:
        return max((s.open_fds for _, s in self.samples), default=0)


async def _call_rows(settings_file: Path, prefix: str, open_only: bool = False) -> list[str]:
    from ntpd_ivr.calls.repository import CallsRepository
    from ntpd_ivr.db.session import make_engine
    from ntpd_ivr.settings import load_settings

    engine = make_engine(load_settings(settings_file).database)
    try:
        return await CallsRepository(engine).caller_numbers(prefix, open_only=open_only)
    finally:
        await engine.dispose()


def call_rows(settings_file: Path, prefix: str) -> list[str]:
    """Caller numbers of the `calls` rows whose caller number starts with `prefix`."""
    return asyncio.run(_call_rows(settings_file, prefix))


def _files(settings: Path | Sequence[Path]) -> list[Path]:
    """One center's settings, or several centers' (a second site's records too)."""
    return [settings] if isinstance(settings, Path) else list(settings)


def open_call_rows(settings_file: Path | Sequence[Path], prefix: str,
                   within_s: float = 0.0) -> list[str]:
    """The same for the rows without an end (a call still up, or one nobody closed),
    waiting up to `within_s` for them to be closed (a restarted controller completes
    them from the CDR once its spool has drained): those still open at the end."""
    deadline = time.monotonic() + within_s
    while True:
        rows = [row for file in _files(settings_file) for row in asyncio.run(
            _call_rows(file, canonical_prefix(prefix), open_only=True))]
        if not rows or time.monotonic() > deadline:
            return rows
        time.sleep(1.0)


@dataclass(frozen=True)
class RecordsCheck:
    expected: int          # SIPp's successful calls
    rows: int
    missing: list[str]     # successful SIPp calls without a row
    duplicated: list[str]  # caller numbers with more than one row

    @property
    def ok(self) -> bool:
        return self.rows == self.expected and not self.missing and not self.duplicated


def check_records(settings_file: Path | Sequence[Path], prefix: str, succeeded: list[str],
                  wait_seconds: float = 20.0) -> RecordsCheck:
    """Compare SIPp's successful calls with the `calls` rows (of one center, or of
    several: a call is in one of them), waiting for writes to land."""
    deadline = time.monotonic() + wait_seconds
    # Records hold callers in canonical form (ntpd_ivr/numbers.py): 0891... is +62891...
    prefix, succeeded = canonical_prefix(prefix), [canonical_caller(n) for n in succeeded]
    while True:
        error: Exception | None
        try:
            rows = [row for file in _files(settings_file) for row in call_rows(file, prefix)]
        except Exception as exc:  # database still down: try again until the deadline
            rows, error = [], exc
        else:
            error = None
        counts = Counter(rows)
        missing = sorted(set(succeeded) - set(counts))
        duplicated = sorted(n for n, c in counts.items() if c > 1)
        check = RecordsCheck(len(succeeded), len(rows), missing, duplicated)
        if (check.ok and error is None) or time.monotonic() > deadline:
            return check
        time.sleep(1.0)


BENCH_OPEN_FILES = 65536


def raise_open_files_limit(wanted: int = BENCH_OPEN_FILES) -> int:
    """Raise this process's soft RLIMIT_NOFILE (to the hard limit, or as root to `wanted`)
    before the stack starts: Asterisk, PostgreSQL and SIPp inherit it, and 1,000 held
    callers need some 6,000 open files in Asterisk alone, where a login shell gives 1,024.
    Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    if hard != resource.RLIM_INFINITY and hard < wanted and os.geteuid() == 0:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
    return max(soft, target)


TAKER_MEMBERS = ("PJSIP/taker-1", "PJSIP/taker-2")
# In bench stacks only (pjsip-bench.conf), in no queue until a bench adds them.
BENCH_TAKER_MEMBERS = ("PJSIP/taker-3", "PJSIP/taker-4")
TAKER_QUEUE = "takers-default"


def set_takers_paused(asterisk: AsteriskInstance, paused: bool) -> None:
    """Pause (or unpause) both call-takers in the queue 112 callers wait in: a caller
    there then waits with no call-taker free, as in a surge (the held-callers run)."""
    for member in TAKER_MEMBERS:
        if paused:
            asterisk.cli(f"queue pause member {member} queue {TAKER_QUEUE} reason bench-held")
        else:
            asterisk.cli(f"queue unpause member {member} queue {TAKER_QUEUE}")


@dataclass(frozen=True)
class StackUnderTest:
    """What a held-callers run needs of a stack: the bench's own, or an end-to-end test's."""

    target: str                                # SIP address:port of Asterisk
    settings_file: Path                        # the controller's (for the records check)
    asterisk: AsteriskInstance
    controller_pid: Callable[[], int | None]
    health_url: str


class FloorServer:
    """The floor's FastAGI server (ntpd_ivr/bench/floor.py, path f) in a process of its
    own, on a free loopback port."""

    def __init__(self, log_path: Path) -> None:
        from ntpd_ivr.stack.ports import free_port

        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"agi://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def start(self, timeout: float = 15.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ntpd_ivr.bench.floor", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"the floor's FastAGI server exited; see {self.log_path}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.1)
        raise StackError(f"the floor's FastAGI server did not listen; see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class BenchStack:
    """An ephemeral stack with the bench trunks, its controller, the pyst2 AGI and the
    floor's FastAGI server; with `baseline_rev`, also another revision's controller, run
    in turn with this one's (`use_baseline`)."""

    def __init__(self, keep: bool = False, baseline_rev: str | None = None) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="ntpd-ivr-bench-"))
        layout = StackLayout.ephemeral(self.run_dir, name=f"bench-{os.getpid()}")
        self.dev = DevStack(layout, bench=True)
        self.own_controller = ControllerProcess(layout.settings_file, layout.web_port,
                                                self.run_dir / "controller.log")
        self.controller = self.own_controller  # the one running
        self.floor = FloorServer(self.run_dir / "floor.log")
        self.baseline_controller: ControllerProcess | None = None
        self.baseline: Baseline | None = None
        if baseline_rev is not None:
            try:
                baseline = export(baseline_rev, self.run_dir)
            except StackError:
                shutil.rmtree(self.run_dir, ignore_errors=True)
                raise
            _progress(f"{baseline.label}: {baseline.commit[:12]} exported to {baseline.tree}")
            self.baseline = baseline
            self.baseline_controller = ControllerProcess(
                layout.settings_file, layout.web_port,
                self.run_dir / f"controller-{baseline.commit[:12]}.log",
                tree=baseline.tree, env=baseline.env())
        self.keep = keep

    def use_baseline(self, baseline: bool) -> None:
        """Run the baseline's controller (or this tree's) from now on: the other one is
        stopped first (they share the ports, the spool and the database)."""
        wanted = self.baseline_controller if baseline else self.own_controller
        if wanted is None:
            raise StackError("no baseline revision in this run")
        if wanted is self.controller and wanted.pid is not None:
            return
        self.controller.stop()
        self.controller = wanted
        wanted.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.dev.layout.sip_port}"

    @property
    def settings_file(self) -> Path:
        return self.dev.layout.settings_file

    @property
    def taker_contacts(self) -> tuple[str, tuple[int, int]]:
        return TAKER_IP, self.dev.layout.taker_ports

    def add_takers(self, count: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """`count` (2 to 4) call-taker stand-ins in the 112 callers' queue, each taking one
        call at a time (ringinuse=no: humans, not a switch): taker-1 and taker-2 are there
        already, taker-3 and taker-4 (pjsip-bench.conf) are added at run time. Returns the
        members and the ports their SIPp must answer on, at TAKER_IP."""
        if not 2 <= count <= len(TAKER_MEMBERS) + len(BENCH_TAKER_MEMBERS):
            raise StackError(f"call-taker stand-ins: 2 to 4, not {count}")
        assert self.dev.asterisk is not None
        extra = BENCH_TAKER_MEMBERS[:count - len(TAKER_MEMBERS)]
        for member in extra:
            name = member.split("/", 1)[1]
            self.dev.asterisk.cli(f"queue add member {member} to {TAKER_QUEUE} penalty 0 "
                                  f"as {name}")
        members = TAKER_MEMBERS + extra
        for member in members:
            self.dev.asterisk.cli(f"queue set ringinuse no on {member} in {TAKER_QUEUE}")
        ports = self.dev.layout.taker_ports + self.dev.layout.bench_taker_ports[:len(extra)]
        return members, ports

    def ivr_pid(self, path: str) -> int | None:
        """The process whose CPU a step of `path` is charged: the floor's server for path
        f, the controller for every other path (idle for b and c)."""
        return self.floor.pid if path == "f" else self.controller.pid

    def under_test(self) -> StackUnderTest:
        assert self.dev.asterisk is not None
        return StackUnderTest(self.target, self.settings_file, self.dev.asterisk,
                              lambda: self.controller.pid, self.controller.health_url)

    def up(self) -> None:
        _progress(f"bringing up a bench stack in {self.run_dir}")
        raise_open_files_limit()
        self.dev.up()
        self.install_pyst2()
        self.prepare_queue()
        self.floor.start()
        self.prepare_floor()
        self.controller.start()
        _progress("stack up: Asterisk, PostgreSQL, controller, the floor's FastAGI server")

    def prepare_floor(self) -> None:
        """Tell the dialplan where the floor's server listens (a global, runtime only)."""
        assert self.dev.asterisk is not None
        self.dev.asterisk.cli(f"dialplan set global {FLOOR_VARIABLE} {self.floor.url}")

    def install_pyst2(self) -> None:
        """The pyst2 AGI runs where Asterisk runs: copy it and pyst2 into the root."""
        import asterisk  # pyst2's package

        assert self.dev.asterisk is not None
        dest = self.dev.asterisk.host_path(f"{self.dev.asterisk.base}/bench-agi")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PYST2_SCRIPT, dest / PYST2_SCRIPT.name)
        (dest / PYST2_SCRIPT.name).chmod(0o755)
        package = Path(asterisk.__file__).parent
        shutil.rmtree(dest / "asterisk", ignore_errors=True)
        shutil.copytree(package, dest / "asterisk",
                        ignore=shutil.ignore_patterns("__pycache__"))

    def prepare_queue(self) -> None:
        """Let each call-taker stand-in take many calls at once (ringinuse=yes, runtime
        only, this stack only): the bench measures the IVR, not two humans' capacity."""
        assert self.dev.asterisk is not None
        for member in TAKER_MEMBERS:
            self.dev.asterisk.cli(f"queue set ringinuse yes on {member} in {TAKER_QUEUE}")

    def restart_asterisk(self) -> None:
        assert self.dev.asterisk is not None
        self.dev.asterisk.stop()
        self.dev.asterisk.start()
        self.prepare_queue()
        self.prepare_floor()

    def down(self) -> None:
        self.controller.stop()
        self.floor.stop()
        self.dev.down()
        if not self.keep:
            self.dev.destroy()
            shutil.rmtree(self.run_dir, ignore_errors=True)
