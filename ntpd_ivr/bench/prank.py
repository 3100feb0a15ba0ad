"""`ntpd-ivr bench-prank` (`make bench-prank`): what the prank policy does for genuine
callers when the call-takers are overloaded, against plain FIFO, in one command.

A bench stack (Asterisk 22, PostgreSQL, the controller), two call-taker stand-ins that take
one call at a time and talk long to genuine callers, briefly to prank and silent ones
(sipp-scenarios/bench-prank-taker.xml). SIPp callers (bench-prank-caller.xml) at a rate
above what the two can answer: 80 % from a pool of repeat numbers seeded with a week of
strikes (pranks press 1, silent callers press nothing), 20 % genuine from fresh numbers
(pressing 1 or 3). Segments alternate between the two modes (policy, fifo, policy, fifo...)
so that a neighbour's load hits both alike; between segments the controller loads its
routing file again (SIGHUP) and the queue drains.

- policy: the routing example's [prank] policy and category priorities;
- fifo:   no policy, every category at one priority: app_queue answers in arrival order.

Figures from PostgreSQL (`calls`: arrived_at, answered_at; `call_events`), per mode, for
genuine callers: time to a human (answered_at - arrived_at) p50/p95 over those answered,
the abandon rate (offered, not answered), how many were blocked (must be 0); the same
counts for the pool; and the ratios FIFO / policy. All traffic on 127.0.0.0/8, every SIPp
process bounded in calls (-m) and time (-timeout).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ntpd_ivr.bench.runner import wait_for_idle_asterisk
from ntpd_ivr.bench.stack import TAKER_MEMBERS, TAKER_QUEUE, BenchStack
from ntpd_ivr.calls.repository import CallsRepository
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.errors import StackError
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.prank import store
from ntpd_ivr.prank.config import PrankPolicy
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.controller import health
from ntpd_ivr.stack.devstack import OPERATOR_IP, ROUTING_CONFIG
from ntpd_ivr.stack.sipp import SCENARIOS, sipp_binary
from ntpd_ivr.stats import percentile

MODES = ("policy", "fifo")
POOL_PREFIX = "0812"      # repeat prank/silent numbers: 0812 + 8 digits
GENUINE_PREFIX = "0819"   # fresh genuine numbers: 0819 + run tag + counter


def _progress(message: str) -> None:
    print(f"[bench-prank] {message}", flush=True)


@dataclass(frozen=True)
class PrankBench:
    rate: float = 0.8                 # calls/s offered, all kinds
    segment_seconds: float = 60.0     # arrivals per segment
    rounds: int = 2                   # policy+fifo pairs
    genuine_share: float = 0.2
    silent_share: float = 0.4         # of the pool's calls
    pool_size: int = 40
    genuine_talk_ms: int = 12000
    short_talk_ms: int = 2000
    patience_s: float = 40.0          # from the answer (IVR) to giving up
    seed: int = 112

    def counts(self) -> dict[str, int]:
        total = self.rate * self.segment_seconds
        genuine = round(total * self.genuine_share)
        silent = round((total - genuine) * self.silent_share)
        return {"genuine": genuine, "silent": silent, "prank": round(total) - genuine - silent}


@dataclass
class ModeFigures:
    mode: str
    genuine_placed: int = 0           # calls SIPp created (its own count); offered = recorded
    pool_placed: int = 0
    genuine_offered: int = 0
    genuine_answered: int = 0
    genuine_blocked: int = 0
    genuine_waits: list[float] = field(default_factory=list)
    pool_offered: int = 0
    pool_answered: int = 0
    pool_blocked: int = 0
    pool_escaped: int = 0

    @property
    def abandon_rate(self) -> float:
        if not self.genuine_offered:
            return math.nan
        return 1 - self.genuine_answered / self.genuine_offered

    def p(self, q: float) -> float:
        return percentile(self.genuine_waits, q)

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "genuine_placed": self.genuine_placed,
                "pool_placed": self.pool_placed, "genuine_offered": self.genuine_offered,
                "genuine_answered": self.genuine_answered,
                "genuine_abandon_rate": round(self.abandon_rate, 4),
                "genuine_blocked": self.genuine_blocked,
                "genuine_time_to_human_p50_s": round(self.p(50), 2),
                "genuine_time_to_human_p95_s": round(self.p(95), 2),
                "pool_offered": self.pool_offered, "pool_answered": self.pool_answered,
                "pool_blocked": self.pool_blocked, "pool_escaped": self.pool_escaped}


def fifo_routing(text: str) -> str:
    """The routing file without the policy and with one priority for every category."""
    text = re.sub(r"^enabled = true", "enabled = false", text, count=1, flags=re.M)
    text = re.sub(r"^life_threatening = true", "life_threatening = false", text, flags=re.M)
    return re.sub(r"^priority = \d+", "priority = 5", text, flags=re.M)


def pool_numbers(size: int, rng: random.Random) -> list[str]:
    return sorted({POOL_PREFIX + "".join(rng.choices("0123456789", k=8))
                   for _ in range(size)})


def seeded_strikes(number: str, index: int, policy: PrankPolicy, now: datetime,
                   rng: random.Random) -> list[datetime]:
    """A week of strikes: a fifth with 1, a fifth at warn, a quarter deprioritised, the
    rest blocked (block_at strikes within the last block_hours)."""
    share = index % 20
    if share < 4:
        count, span = 1, 6 * 24.0
    elif share < 8:
        count, span = policy.warn_at, 6 * 24.0
    elif share < 13:
        count, span = policy.deprioritise_at, 6 * 24.0
    else:
        count, span = policy.block_at, policy.block_hours * 0.8
    return sorted(now - timedelta(hours=rng.uniform(0.1, span)) for _ in range(count))


async def seed(settings_file: Path, pool: list[str], policy: PrankPolicy,
               rng: random.Random) -> None:
    engine = make_engine(load_settings(settings_file).database)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            for index, number in enumerate(pool):
                for at in seeded_strikes(number, index, policy, now, rng):
                    await store.add_strike(conn, store.Strike(
                        canonical_caller(number), at,
                        "silent" if index % 2 else "prank", "bench-seed"))
    finally:
        await engine.dispose()


def _scenario(workdir: Path, name: str, text: str) -> Path:
    path = workdir / name
    path.write_text(text)
    return path


class Segmented(Protocol):
    """What a bench's callers need of its settings (this bench's and bench-surge's)."""

    @property
    def segment_seconds(self) -> float: ...

    @property
    def patience_s(self) -> float: ...


def callers(workdir: Path, kind: str, numbers: list[tuple[str, str]], config: Segmented,
            scenario: Path, target: str) -> subprocess.Popen[bytes]:
    inf = workdir / f"{kind}.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{n};{d};\n" for n, d in numbers))
    period_ms = max(1, round(config.segment_seconds * 1000 / len(numbers)))
    limit = config.segment_seconds + config.patience_s + 60
    with (workdir / f"{kind}.log").open("wb") as log:  # SIPp keeps its own copy
        return subprocess.Popen(
            [sipp_binary(), target, "-sf", str(scenario), "-inf", str(inf), "-i", OPERATOR_IP,
             "-p", "0", "-s", "112", "-r", "1", "-rp", str(period_ms), "-m",
             str(len(numbers)),
             # SIPp's default limit of simultaneous calls (from the rate and a short call)
             # would hold arrivals back while callers wait in the queue: allow them all.
             "-l", str(len(numbers)), "-timeout", f"{int(limit)}s", "-nostdin", "-trace_err"],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT)


async def _figures(settings_file: Path, genuine: list[str], pool: list[str],
                   figures: ModeFigures, since: datetime, wait_s: float = 30.0) -> None:
    engine = make_engine(load_settings(settings_file).database)
    wanted = {canonical_caller(n) for n in genuine}
    pool_set = {canonical_caller(n) for n in pool}
    calls = CallsRepository(engine)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            rows, kinds = await calls.calls_with_steps(since, wanted | pool_set,
                                                       ("prank.blocked", "prank.escape"))
            ended = [r for r in rows if r["ended_at"] is not None]
            if (len(ended) == len(rows) and len([r for r in rows
                                                 if r["caller_number"] in wanted])
                    >= len(wanted)) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
    finally:
        await engine.dispose()
    blocked = {u for u, k in kinds if k == "prank.blocked"}
    escaped = {u for u, k in kinds if k == "prank.escape"}
    for row in rows:
        answered = row["answered_at"] is not None
        if row["caller_number"] in wanted:
            figures.genuine_offered += 1
            figures.genuine_blocked += row["uniqueid"] in blocked
            if answered:
                figures.genuine_answered += 1
                figures.genuine_waits.append(
                    (row["answered_at"] - row["arrived_at"]).total_seconds())
        else:
            figures.pool_offered += 1
            figures.pool_answered += answered
            figures.pool_blocked += row["uniqueid"] in blocked
            figures.pool_escaped += row["uniqueid"] in escaped


def sipp_created(log: Path) -> int:
    """'Total Calls created' from SIPp's last statistics screen in its output."""
    found = re.findall(r"Total Calls created\s*\|\s*\|\s*(\d+)",
                       log.read_text(errors="replace"))
    return int(found[-1]) if found else 0


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b and not math.isnan(a) and not math.isnan(b) else math.nan


def report(config: PrankBench, results: dict[str, ModeFigures], started: str) -> str:
    policy, fifo = results["policy"], results["fifo"]
    lines = [
        f"bench-prank {started}: {config.rounds} round(s) of policy + fifo segments, "
        f"{config.segment_seconds:g} s of arrivals each at {config.rate:g} calls/s "
        f"({config.counts()}), 2 call-takers (talk {config.genuine_talk_ms} ms genuine, "
        f"{config.short_talk_ms} ms prank/silent), patience {config.patience_s:g} s, pool of "
        f"{config.pool_size} numbers seeded with strikes",
        "genuine = genuine calls recorded in PostgreSQL (of those SIPp placed); pool likewise",
        f"{'mode':<8}{'genuine':>12}{'answered':>9}{'abandon':>9}{'blocked':>8}"
        f"{'p50 s':>8}{'p95 s':>8}{'pool':>10}{'answered':>9}{'blocked':>8}{'escaped':>8}"]
    for figures in (policy, fifo):
        lines.append(
            f"{figures.mode:<8}"
            f"{f'{figures.genuine_offered}/{figures.genuine_placed}':>12}"
            f"{figures.genuine_answered:>9}"
            f"{figures.abandon_rate:>9.1%}{figures.genuine_blocked:>8}{figures.p(50):>8.1f}"
            f"{figures.p(95):>8.1f}{f'{figures.pool_offered}/{figures.pool_placed}':>10}"
            f"{figures.pool_answered:>9}"
            f"{figures.pool_blocked:>8}{figures.pool_escaped:>8}")
    lines.append(
        f"ratios fifo/policy: time to a human p50 {ratio(fifo.p(50), policy.p(50))}x, "
        f"p95 {ratio(fifo.p(95), policy.p(95))}x; genuine abandon rate "
        f"{fifo.abandon_rate:.1%} (fifo) vs {policy.abandon_rate:.1%} (policy); genuine "
        f"callers blocked under the policy: {policy.genuine_blocked}")
    return "\n".join(lines)


def _reload(stack: BenchStack, text: str) -> None:
    stack.dev.routing_file.write_text(text)
    pid = stack.controller.pid
    if pid is None:
        raise RuntimeError("the controller is not running")
    os.kill(pid, signal.SIGHUP)
    time.sleep(1.0)


def bench_prank(config: PrankBench, out: Path, keep: bool = False) -> int:
    rng = random.Random(config.seed)
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    stack = BenchStack(keep=keep)
    workdir = Path(tempfile.mkdtemp(prefix="ntpd-bench-prank-"))
    takers: list[subprocess.Popen[bytes]] = []
    results = {mode: ModeFigures(mode) for mode in MODES}
    try:
        stack.up()
        assert stack.dev.asterisk is not None
        for member in TAKER_MEMBERS:  # one call at a time: two humans, not a switch
            stack.dev.asterisk.cli(f"queue set ringinuse no on {member} in {TAKER_QUEUE}")
        policy_text = ROUTING_CONFIG.read_text()
        from ntpd_ivr.routing.config import parse_routing_config

        policy = parse_routing_config(policy_text, str(ROUTING_CONFIG)).prank.default
        pool = pool_numbers(config.pool_size, rng)
        asyncio.run(seed(stack.settings_file, pool, policy, rng))
        _progress(f"seeded {len(pool)} pool numbers with a week of strikes")
        deadline = time.monotonic() + 30
        while (health(stack.controller.health_url) or {}).get("prank", {}).get(
                "numbers", 0) < len(pool):
            if time.monotonic() > deadline:
                raise StackError("the controller's strike view did not load the seeded pool")
            time.sleep(0.5)
        taker_xml = (SCENARIOS / "bench-prank-taker.xml").read_text()
        for key, value in {"genuine_prefix": GENUINE_PREFIX[1:],  # 0819 -> 819
                           "genuine_talk_ms": config.genuine_talk_ms,
                           "short_talk_ms": config.short_talk_ms}.items():
            taker_xml = taker_xml.replace("{{" + key + "}}", str(value))
        taker_sf = _scenario(workdir, "taker.xml", taker_xml)
        ip, ports = stack.taker_contacts
        for port in ports:
            takers.append(subprocess.Popen(
                [sipp_binary(), "-sf", str(taker_sf), "-i", ip, "-p", str(port), "-m", "100000",
                 "-timeout", "7200s", "-nostdin"], cwd=workdir,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        caller_xml = (SCENARIOS / "bench-prank-caller.xml").read_text().replace(
            "{{patience_ms}}", str(int(config.patience_s * 1000)))
        with_key = _scenario(workdir, "caller-key.xml", caller_xml)
        silent_xml = re.sub(r"<!-- dtmf -->.*?<!-- /dtmf -->", "", caller_xml, flags=re.S)
        silent = _scenario(workdir, "caller-silent.xml", silent_xml)
        counts = config.counts()
        tag = f"{rng.randrange(100):02d}"
        serial = 0
        for round_no in range(config.rounds):
            order = MODES if round_no % 2 == 0 else MODES[::-1]
            for mode in order:
                _reload(stack, policy_text if mode == "policy" else fifo_routing(policy_text))
                genuine = []
                for _ in range(counts["genuine"]):
                    serial += 1
                    genuine.append(f"{GENUINE_PREFIX}{tag}{serial:06d}")
                segment_start = datetime.now(UTC) - timedelta(seconds=1)
                _progress(f"round {round_no + 1}, {mode}: {sum(counts.values())} calls over "
                          f"{config.segment_seconds:g} s")
                seg_dir = workdir / f"{round_no}-{mode}"
                seg_dir.mkdir()
                procs = [
                    callers(seg_dir, "genuine", [(n, "1" if i % 2 else "3")
                                                  for i, n in enumerate(genuine)],
                             config, with_key, stack.target),
                    callers(seg_dir, "prank", [(rng.choice(pool), "1")
                                                for _ in range(counts["prank"])],
                             config, with_key, stack.target),
                    callers(seg_dir, "silent", [(rng.choice(pool), "")
                                                 for _ in range(counts["silent"])],
                             config, silent, stack.target)]
                bound = config.segment_seconds + config.patience_s + 120
                for proc in procs:
                    try:
                        proc.wait(timeout=bound)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                wait_for_idle_asterisk(stack, timeout=120)
                created = [sipp_created(seg_dir / f"{kind}.log")
                           for kind in ("genuine", "prank", "silent")]
                results[mode].genuine_placed += created[0]
                results[mode].pool_placed += created[1] + created[2]
                asyncio.run(_figures(stack.settings_file, genuine, pool, results[mode],
                                     segment_start))
                _progress(json.dumps(results[mode].as_dict()))
        text = report(config, results, started)
        print(text)
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"bench-prank-{started.replace(':', '')}"
        stem.with_suffix(".txt").write_text(text + "\n")
        stem.with_suffix(".json").write_text(json.dumps(
            {"config": asdict(config), "started": started,
             "modes": {m: f.as_dict() for m, f in results.items()}}, indent=2))
        _progress(f"written {stem}.txt and .json")
        return 0 if results["policy"].genuine_blocked == 0 else 1
    finally:
        for taker in takers:
            taker.kill()
            taker.wait()
        stack.down()
        shutil.rmtree(workdir, ignore_errors=True)
