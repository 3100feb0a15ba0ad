"""`ntpd-ivr bench-surge` (`make bench-surge`): what surge mode does for the callers with
another emergency when the lines fill after an earthquake, against no surge mode, in one
command (issue 24, item 4).

A bench stack (Asterisk 22, PostgreSQL, the controller polling a local CAP feed that serves
the recorded BMKG InaTEWS sample with its times moved to now), two call-taker stand-ins that
take one call at a time and talk `talk_ms` to every caller (sipp-scenarios/
bench-prank-taker.xml). SIPp callers (bench-prank-caller.xml, the key `key_delay_ms` after
the answer: during the announcement or the menu) at a rate above what the two can answer:
80 % ask about the event (they press 8), 20 % have another emergency (1, 2, 3 or 4 in turn).
Segments alternate between the two modes (off, surge, surge, off...) so that a neighbour's
load hits both alike; surge mode is turned on and off by the supervisor's routes between
segments, and the queue drains in between.

- off:   no surge mode: 8 is a wrong key in the menu, the caller waits as unclassified;
- surge: the announcement, 8 = the information and a hang-up (docs/alerts.md).

Figures from PostgreSQL (`calls`, `call_events`), per mode, for the other emergencies: time
to a human (answered_at - arrived_at, IVR included) p50/p95 and their queue wait
(answered_at - queued_at) p95 over those answered, the abandon rate (offered, not answered:
a caller gives up `patience_s` after the answer), how many were sent to the information
branch (must be 0); for the callers about the event, how many were answered by a human and
how many were informed. All traffic on 127.0.0.0/8, every SIPp process bounded in calls
(-m) and time (-timeout).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp

from ntpd_ivr.bench.prank import callers, ratio, sipp_created
from ntpd_ivr.bench.runner import wait_for_idle_asterisk
from ntpd_ivr.bench.stack import TAKER_QUEUE, BenchStack
from ntpd_ivr.bench.web import web_login
from ntpd_ivr.calls.repository import CallsRepository
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.errors import StackError
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.sipp import SCENARIOS, sipp_binary
from ntpd_ivr.stats import percentile

MODES = ("off", "surge")
ABOUT_PREFIX = "0813"   # callers about the event: 0813 + run tag + counter
OTHER_PREFIX = "0819"   # callers with another emergency
OTHER_KEYS = "1234"     # ambulance, fire, police, disaster
INFORMED = ("surge-information", "surge-information-operator")
SAMPLE = Path(__file__).resolve().parents[2] / "tests" / "data" / "cap" / "inatews_gempa_m58.xml"
_CAP_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")


def _progress(message: str) -> None:
    print(f"[bench-surge] {message}", flush=True)


@dataclass(frozen=True)
class SurgeBench:
    rate: float = 1.0                 # calls/s offered, all kinds
    segment_seconds: float = 60.0     # arrivals per segment
    rounds: int = 1                   # off+surge pairs
    other_share: float = 0.2
    talk_ms: int = 6000               # each call-taker, every call
    key_delay_ms: int = 3000          # the key, after the answer
    patience_s: float = 45.0          # from the answer (IVR) to giving up
    takers: int = 4                   # call-taker stand-ins, one call each
    # What a caller about the event presses without surge mode: 8 is a wrong key there
    # (unclassified, behind every category); 4 is "disaster" (bencana), the category's
    # priority, beside the police and disaster callers.
    about_key_off: str = "8"
    seed: int = 24

    def counts(self) -> dict[str, int]:
        total = round(self.rate * self.segment_seconds)
        other = round(total * self.other_share)
        return {"other": other, "about": total - other}


@dataclass
class ModeFigures:
    mode: str
    other_placed: int = 0             # calls SIPp created; offered = recorded
    about_placed: int = 0
    other_offered: int = 0
    other_answered: int = 0
    other_informed: int = 0           # sent to the information branch: must stay 0
    other_announced: int = 0          # heard the announcement (surge mode on for them)
    other_waits: list[float] = field(default_factory=list)
    other_queue_waits: list[float] = field(default_factory=list)
    about_offered: int = 0
    about_answered: int = 0
    about_informed: int = 0

    @property
    def abandon_rate(self) -> float:
        if not self.other_offered:
            return math.nan
        return 1 - self.other_answered / self.other_offered

    def p(self, q: float) -> float:
        return percentile(self.other_waits, q)

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "other_placed": self.other_placed,
                "about_placed": self.about_placed, "other_offered": self.other_offered,
                "other_answered": self.other_answered,
                "other_abandon_rate": round(self.abandon_rate, 4),
                "other_informed": self.other_informed,
                "other_announced": self.other_announced,
                "other_time_to_human_p50_s": round(self.p(50), 2),
                "other_time_to_human_p95_s": round(self.p(95), 2),
                "other_queue_wait_p95_s": round(percentile(self.other_queue_waits, 95), 2),
                "about_offered": self.about_offered, "about_answered": self.about_answered,
                "about_informed": self.about_informed}


def replayed_alert(now: datetime) -> bytes:
    """The recorded InaTEWS sample with every CAP time moved by the same amount, so that
    its `sent` is now (still current, its times in order)."""
    data = SAMPLE.read_bytes()
    sent = datetime.fromisoformat(_CAP_TIME.search(data).group().decode())  # type: ignore[union-attr]
    shift = timedelta(seconds=int((now - sent).total_seconds()))
    return _CAP_TIME.sub(lambda m: (datetime.fromisoformat(m.group().decode()) + shift)
                         .isoformat().encode(), data)


class AlertFeed:
    """The alert on 127.0.0.1 (a free port), from a thread: what the controller polls."""

    def __init__(self, body: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{SAMPLE.name}"

    def __enter__(self) -> AlertFeed:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Supervisor:
    """The stack's supervisor on the web app: turns surge mode on from the alert, and off."""

    def __init__(self, base: str, password: str) -> None:
        self.base, self.password = base, password

    async def _session(self) -> tuple[aiohttp.ClientSession, str]:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     timeout=aiohttp.ClientTimeout(total=20))
        try:
            return http, await web_login(http, self.base, "supervisor", self.password)
        except BaseException:
            await http.close()
            raise

    async def _surge(self, on: bool, wait_s: float = 60.0) -> dict[str, Any] | None:
        http, token = await self._session()
        try:
            if not on:
                async with http.post(f"{self.base}/api/surge/off",
                                     headers={"X-CSRF-Token": token}) as reply:
                    if reply.status != 200:
                        raise StackError(f"surge off: {reply.status} {await reply.text()}")
                return None
            deadline = time.monotonic() + wait_s
            while True:  # the poller reads the feed at start, then every poll_seconds
                async with http.get(f"{self.base}/api/alerts") as reply:
                    recent = (await reply.json())["recent"] if reply.status == 200 else []
                if recent:
                    break
                if time.monotonic() > deadline:
                    raise StackError("the replayed alert never reached the controller")
                await asyncio.sleep(0.5)
            async with http.post(f"{self.base}/api/alerts/{recent[0]['id']}/surge",
                                 headers={"X-CSRF-Token": token}) as reply:
                if reply.status != 200:
                    raise StackError(f"surge on: {reply.status} {await reply.text()}")
                mode: dict[str, Any] = (await reply.json())["surge"]
                return mode
        finally:
            await http.close()

    def surge(self, on: bool) -> dict[str, Any] | None:
        return asyncio.run(self._surge(on))


async def _figures(settings_file: Path, other: list[str], about: list[str],
                   figures: ModeFigures, since: datetime, wait_s: float = 30.0) -> None:
    engine = make_engine(load_settings(settings_file).database)
    others = {canonical_caller(n) for n in other}
    abouts = {canonical_caller(n) for n in about}
    calls = CallsRepository(engine)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            rows, kinds = await calls.calls_with_steps(since, others | abouts,
                                                       ("surge.announcement",))
            ended = [r for r in rows if r["ended_at"] is not None]
            if (len(ended) == len(rows) and len([r for r in rows
                                                 if r["caller_number"] in others])
                    >= len(others)) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
    finally:
        await engine.dispose()
    announced = {u for u, _ in kinds}
    for row in rows:
        answered = row["answered_at"] is not None
        informed = row["route_reason"] in INFORMED or row["category"] in INFORMED
        if row["caller_number"] in others:
            figures.other_offered += 1
            figures.other_informed += informed
            figures.other_announced += row["uniqueid"] in announced
            if answered:
                figures.other_answered += 1
                figures.other_waits.append(
                    (row["answered_at"] - row["arrived_at"]).total_seconds())
                if row["queued_at"] is not None:
                    figures.other_queue_waits.append(
                        (row["answered_at"] - row["queued_at"]).total_seconds())
        else:
            figures.about_offered += 1
            figures.about_answered += answered
            figures.about_informed += informed


def report(config: SurgeBench, results: dict[str, ModeFigures], started: str) -> str:
    off, surge = results["off"], results["surge"]
    lines = [
        f"bench-surge {started}: {config.rounds} round(s) of off + surge segments, "
        f"{config.segment_seconds:g} s of arrivals each at {config.rate:g} calls/s "
        f"({config.counts()}), {config.takers} call-takers (one call each, talk "
        f"{config.talk_ms} ms), key {config.key_delay_ms} ms after the answer, patience "
        f"{config.patience_s:g} s; callers about the event press {config.about_key_off} "
        f"without surge mode, 8 with it",
        "other = callers with another emergency recorded in PostgreSQL (of those SIPp "
        "placed); about = callers about the event, likewise; times to a human in s",
        f"{'mode':<7}{'other':>8}{'answered':>9}{'abandon':>9}{'informed':>9}{'p50':>7}"
        f"{'p95':>7}{'queue p95':>10}{'about':>8}{'answered':>9}{'informed':>9}"]
    for figures in (off, surge):
        lines.append(
            f"{figures.mode:<7}{f'{figures.other_offered}/{figures.other_placed}':>8}"
            f"{figures.other_answered:>9}{figures.abandon_rate:>9.1%}"
            f"{figures.other_informed:>9}{figures.p(50):>7.1f}{figures.p(95):>7.1f}"
            f"{percentile(figures.other_queue_waits, 95):>10.1f}"
            f"{f'{figures.about_offered}/{figures.about_placed}':>8}"
            f"{figures.about_answered:>9}{figures.about_informed:>9}")
    p95_ratio = ratio(off.p(95), surge.p(95))
    lines.append(
        f"other emergencies: time to a human p95 {p95_ratio}x lower with surge mode (goal >= 3x: "
        f"{'met' if not math.isnan(p95_ratio) and p95_ratio >= 3 else 'NOT met'}), p50 "
        f"{ratio(off.p(50), surge.p(50))}x; abandon rate {off.abandon_rate:.1%} (off) vs "
        f"{surge.abandon_rate:.1%} (surge); sent to the information branch: "
        f"{off.other_informed + surge.other_informed}; heard the announcement in surge "
        f"mode: {surge.other_announced}/{surge.other_offered}")
    return "\n".join(lines)


def _wait_for_takers(stack: BenchStack, members: tuple[str, ...],
                     timeout: float = 30.0) -> None:
    """Until the queue sees every stand-in reachable (its SIPp answered a qualify)."""
    assert stack.dev.asterisk is not None
    deadline = time.monotonic() + timeout
    while True:
        shown = stack.dev.asterisk.cli(f"queue show {TAKER_QUEUE}")
        lines = [line for line in shown.splitlines() if any(f"({m})" in line for m in members)]
        if len(lines) >= len(members) and not any("Unavailable" in line for line in lines):
            return
        if time.monotonic() > deadline:
            raise StackError(f"call-taker stand-ins not reachable in {timeout:g} s:\n{shown}")
        time.sleep(0.5)


def bench_surge(config: SurgeBench, out: Path, keep: bool = False) -> int:
    rng = random.Random(config.seed)
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    results = {mode: ModeFigures(mode) for mode in MODES}
    takers: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="ntpd-bench-surge-"))
    feed = AlertFeed(replayed_alert(datetime.now(UTC)))
    saved = {k: os.environ.get(k) for k in ("NTPD_IVR_ALERTS_FEEDS",
                                            "NTPD_IVR_ALERTS_POLL_SECONDS")}
    os.environ.update({"NTPD_IVR_ALERTS_FEEDS": feed.url, "NTPD_IVR_ALERTS_POLL_SECONDS": "5"})
    stack = BenchStack(keep=keep)  # its controller inherits the environment above
    try:
        with feed:
            stack.up()
            assert stack.dev.asterisk is not None
            members, ports = stack.add_takers(config.takers)  # one call at a time each
            supervisor = Supervisor(f"http://127.0.0.1:{stack.dev.layout.web_port}",
                                    stack.dev.secrets["web_supervisor_password"])
            taker_xml = (SCENARIOS / "bench-prank-taker.xml").read_text()
            for key, value in {"genuine_prefix": "0", "genuine_talk_ms": config.talk_ms,
                               "short_talk_ms": config.talk_ms}.items():
                taker_xml = taker_xml.replace("{{" + key + "}}", str(value))
            taker_sf = workdir / "taker.xml"
            taker_sf.write_text(taker_xml)
            ip, _ = stack.taker_contacts
            for port in ports:
                takers.append(subprocess.Popen(
                    [sipp_binary(), "-sf", str(taker_sf), "-i", ip, "-p", str(port), "-m",
                     "100000", "-timeout", "7200s", "-nostdin"], cwd=workdir,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            _wait_for_takers(stack, members)
            caller_xml = (SCENARIOS / "bench-prank-caller.xml").read_text().replace(
                "{{patience_ms}}", str(int(config.patience_s * 1000))).replace(
                '<pause milliseconds="500"/>', f'<pause milliseconds="{config.key_delay_ms}"/>')
            caller_sf = workdir / "caller.xml"
            caller_sf.write_text(caller_xml)
            counts = config.counts()
            tag = f"{rng.randrange(100):02d}"
            serial = 0
            for round_no in range(config.rounds):
                order = MODES if round_no % 2 == 0 else MODES[::-1]
                for mode in order:
                    surge = supervisor.surge(mode == "surge")
                    _progress(f"surge mode {'on: ' + str(surge['headline']) if surge else 'off'}")
                    about, other = [], []
                    for _ in range(counts["about"]):
                        serial += 1
                        about.append(f"{ABOUT_PREFIX}{tag}{serial:06d}")
                    for _ in range(counts["other"]):
                        serial += 1
                        other.append(f"{OTHER_PREFIX}{tag}{serial:06d}")
                    segment_start = datetime.now(UTC) - timedelta(seconds=1)
                    _progress(f"round {round_no + 1}, {mode}: {sum(counts.values())} calls "
                              f"over {config.segment_seconds:g} s")
                    seg_dir = workdir / f"{round_no}-{mode}"
                    seg_dir.mkdir()
                    procs = [
                        callers(seg_dir, "about",
                                [(n, "8" if mode == "surge" else config.about_key_off)
                                 for n in about], config, caller_sf, stack.target),
                        callers(seg_dir, "other",
                                 [(n, OTHER_KEYS[i % len(OTHER_KEYS)])
                                  for i, n in enumerate(other)],
                                 config, caller_sf, stack.target)]
                    bound = config.segment_seconds + config.patience_s + 120
                    for proc in procs:
                        try:
                            proc.wait(timeout=bound)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                            proc.wait()
                    wait_for_idle_asterisk(stack, timeout=120)
                    results[mode].about_placed += sipp_created(seg_dir / "about.log")
                    results[mode].other_placed += sipp_created(seg_dir / "other.log")
                    asyncio.run(_figures(stack.settings_file, other, about, results[mode],
                                         segment_start))
                    _progress(json.dumps(results[mode].as_dict()))
            supervisor.surge(False)
        text = report(config, results, started)
        print(text)
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"bench-surge-{started.replace(':', '')}"
        stem.with_suffix(".txt").write_text(text + "\n")
        stem.with_suffix(".json").write_text(json.dumps(
            {"config": asdict(config), "started": started,
             "modes": {m: f.as_dict() for m, f in results.items()}}, indent=2))
        _progress(f"written {stem}.txt and .json")
        return 0 if results["off"].other_informed + results["surge"].other_informed == 0 else 1
    finally:
        for taker in takers:
            taker.kill()
            taker.wait()
        stack.down()
        shutil.rmtree(workdir, ignore_errors=True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
