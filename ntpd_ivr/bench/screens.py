"""`ntpd-ivr bench-screens`: the screens under path-a load (issue 26, item 3).

A bench stack, SIPp callers on path a at one rate, and in alternating steps ("off", "on",
rotated each round, so that neither always runs first) either no screen at all or:

- N real WebSocket clients, each its own logged-in user session (aiohttp): supervisors'
  walls (topic `wall`), call-takers' desks (`workspace`, `incidents`, as workspace.js)
  and agencies' screens (`dispatches`);
- a few headless Chromium pages (Playwright, /usr/bin/chromium): a wall, a desk, an
  agency screen, rendering what they are pushed;
- one slow client: a raw socket that subscribes to the wall and then reads nothing.

Every step reports the controller's CPU per call (/proc), the callers' INVITE->200 and
time to a call-taker (SIPp), the controller's event-loop lag (/healthz), and a FastAGI
probe: a separate process that opens a FastAGI session on the controller every
PROBE_INTERVAL s, as Asterisk does, and times its headers to the server's first command
(the secret check); the session is then refused (wrong secret) and costs no record.
The "on" steps add the push latency: for every call state a wall sees for the first time
(a call in the IVR, queued, talking), the frame's arrival at the client less the state's
`since`, which is the AMI event's own timestamp (Asterisk's clock, timestampevents=yes:
the same host's clock as the client's); and the hub's counters from /healthz (sockets
dropped for slowness, messages lost with them, wall states coalesced).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ntpd_ivr.bench.load import TakerPool, caller_prefix, run_calls, run_tag
from ntpd_ivr.bench.runner import controller_alive, write_csv
from ntpd_ivr.bench.stack import BenchStack, ProcSampler, check_records
from ntpd_ivr.bench.web import web_login
from ntpd_ivr.errors import StackError
from ntpd_ivr.stack.chromium import CHROMIUM, CHROMIUM_ARGS
from ntpd_ivr.stack.controller import health
from ntpd_ivr.stats import percentile

PROBE_INTERVAL = 0.1  # s between two FastAGI probes
WALL_TOPICS, DESK_TOPICS, AGENCY_TOPICS = ("wall",), ("workspace", "incidents"), ("dispatches",)


def _progress(message: str) -> None:
    print(f"[screens] {message}", flush=True)


# --- the FastAGI probe ------------------------------------------------------------------

def probe_once(host: str, port: int, n: int, timeout: float = 10.0) -> float | None:
    """One FastAGI session as Asterisk opens it: headers, then the time (s) to the
    server's first command. Answered as an unset variable, so the server refuses the
    session (no secret) before any handler, record or AMI action. None: no answer."""
    headers = (f"agi_network: yes\nagi_network_script: bench-probe\n"
               f"agi_request: agi://{host}:{port}/bench-probe\nagi_channel: Local/probe-{n}\n"
               f"agi_uniqueid: bench-probe-{os.getpid()}-{n}\nagi_callerid: probe\n\n")
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            start = time.perf_counter()
            conn.sendall(headers.encode())
            line = b""
            while not line.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    return None
                line += chunk
            took = time.perf_counter() - start
            with contextlib.suppress(OSError):
                conn.sendall(b"200 result=0\n")
            return took
    except OSError:
        return None


def probe_main(host: str, port: int, seconds: float, interval: float) -> None:
    """`python -m ntpd_ivr.bench.screens probe HOST PORT SECONDS INTERVAL`: probes for
    SECONDS, then one JSON line: the latencies (ms) and how many went unanswered."""
    took: list[float] = []
    failed = 0
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        one = probe_once(host, port, n)
        n += 1
        if one is None:
            failed += 1
        else:
            took.append(one * 1000)
        time.sleep(max(0.0, interval - (time.monotonic() - t0)))
    print(json.dumps({"ms": took, "failed": failed}))


class Probe:
    """The probe in its own process, so the screens' clients in this one never delay it."""

    def __init__(self, host: str, port: int, seconds: float,
                 interval: float = PROBE_INTERVAL) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ntpd_ivr.bench.screens", "probe", host, str(port),
             f"{seconds:g}", f"{interval:g}"], stdout=subprocess.PIPE, text=True)

    def wait(self, timeout: float) -> tuple[list[float], int]:
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return [], 0
        result = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        return list(result.get("ms", [])), int(result.get("failed", 0))


# --- the WebSocket screens ---------------------------------------------------------------

@dataclass
class Screen:
    kind: str               # wall, desk, agency
    user: str
    password: str
    topics: tuple[str, ...]
    http: aiohttp.ClientSession | None = None
    frames: int = 0
    bytes: int = 0
    closed_by_server: int = 0


def first_seen_latencies(frame: dict[str, Any], received: float, since_floor: float,
                         seen: set[tuple[str, str]]) -> list[float]:
    """A wall frame, whole ("state") or "changes": for each call state not seen before by
    this client (and entered after `since_floor`, the client's subscription),
    received - since, in ms."""
    data = frame.get("data") or {}
    if frame.get("kind") == "changes":
        calls = list(data.get("calls") or [])
    else:
        calls = list(data.get("ivr") or []) + list(data.get("talking") or [])
        for queued in (data.get("queues") or {}).values():
            calls += list(queued)
    out: list[float] = []
    for call in calls:
        key = (str(call.get("uniqueid")), str(call.get("state")))
        since = call.get("since")
        if key in seen or not isinstance(since, (int, float)):
            continue
        seen.add(key)
        if since >= since_floor:
            out.append((received - since) * 1000)
    return out


@dataclass
class ScreensRound:
    """What the screens saw during one "on" step."""
    push_ms: list[float] = field(default_factory=list)    # AMI timestamp -> frame at client
    as_of_ms: list[float] = field(default_factory=list)   # controller's receipt -> client
    frames: int = 0
    bytes: int = 0
    closed_by_server: int = 0
    connected: int = 0


class Screens:
    """N logged-in screens on their own event loop (a thread), opened and closed per step."""

    def __init__(self, base: str, screens: Sequence[Screen]) -> None:
        self.base, self.screens = base, list(screens)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._tasks: list[asyncio.Future[Any]] = []
        self._stop: asyncio.Event | None = None
        self.round = ScreensRound()

    def _run(self, work: Any, timeout: float = 300.0) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def login(self) -> None:
        async def all_in() -> None:
            for screen in self.screens:  # one at a time: the hashing is bounded (issue 19)
                screen.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
                await web_login(screen.http, self.base, screen.user, screen.password)
        self._run(all_in())

    async def _watch(self, screen: Screen, ready: asyncio.Event, opened: list[int]) -> None:
        assert screen.http is not None and self._stop is not None
        seen: set[tuple[str, str]] = set()
        r = self.round
        # permessage-deflate, as browsers ask for it: the server then deflates every frame.
        async with screen.http.ws_connect(f"{self.base}/ws", max_msg_size=0,
                                          compress=15) as ws:
            for n, topic in enumerate(screen.topics, start=1):
                await ws.send_str(json.dumps({"id": n, "type": "subscribe", "topic": topic}))
            since_floor = time.time()
            opened.append(1)
            if len(opened) == len(self.screens):
                ready.set()
            stop = asyncio.ensure_future(self._stop.wait())
            try:
                while not self._stop.is_set():
                    get = asyncio.ensure_future(ws.receive())
                    done, _ = await asyncio.wait({get, stop},
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if get not in done:
                        get.cancel()
                        break
                    message = get.result()
                    received = time.time()
                    if message.type != aiohttp.WSMsgType.TEXT:
                        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                            aiohttp.WSMsgType.CLOSING):
                            r.closed_by_server += 1
                        break
                    r.frames += 1
                    r.bytes += len(message.data)
                    frame = json.loads(message.data)
                    if (frame.get("topic") == "wall"
                            and frame.get("kind") in ("state", "changes")):
                        r.push_ms += first_seen_latencies(frame, received, since_floor, seen)
                        as_of = (frame.get("data") or {}).get("as_of")
                        if isinstance(as_of, (int, float)) and as_of >= since_floor:
                            r.as_of_ms.append((received - as_of) * 1000)
            finally:
                stop.cancel()

    def open(self) -> None:
        """Every screen connects and subscribes; returns once all have sent their
        subscriptions."""
        async def start() -> None:
            self._stop = asyncio.Event()
            self.round = ScreensRound()
            ready = asyncio.Event()
            opened: list[int] = []
            self._tasks = [asyncio.ensure_future(self._watch(s, ready, opened))
                           for s in self.screens]
            async with asyncio.timeout(60):
                await ready.wait()
            self.round.connected = len(opened)
        self._run(start())

    def close(self) -> ScreensRound:
        async def stop() -> None:
            assert self._stop is not None
            self._stop.set()
            results = await asyncio.gather(*self._tasks, return_exceptions=True)
            for failure in (r for r in results if isinstance(r, BaseException)):
                _progress(f"a screen failed: {failure!r}")
        self._run(stop())
        return self.round

    def shutdown(self) -> None:
        async def logout() -> None:
            for screen in self.screens:
                if screen.http is not None:
                    await screen.http.close()
        with contextlib.suppress(Exception):
            self._run(logout(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


# --- the slow client -------------------------------------------------------------------

def _frame(text: str) -> bytes:
    """A client's (masked) WebSocket text frame (RFC 6455 5.2), short payloads only."""
    payload = text.encode()
    assert len(payload) < 126
    mask = secrets.token_bytes(4)
    return (bytes([0x81, 0x80 | len(payload)]) + mask
            + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


class SlowClient:
    """A wall that never reads: a small receive buffer, one socket for the whole run. It
    subscribes to the wall in "on" steps and unsubscribes in "off" ones (it only ever
    writes), so that the kernel's buffers fill over the on steps as they would in a
    browser that hung, and "off" steps push nothing to it."""

    def __init__(self, host: str, port: int, cookie: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect((host, port))
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise StackError("the slow client's upgrade was refused")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise StackError(f"the slow client's upgrade: {head[:200]!r}")
        self.commands = 0
        self.gone = False  # the server closed it (a send failed: the hub dropped it)

    def subscribed(self, on: bool) -> None:
        self.commands += 1
        try:
            self.sock.sendall(_frame(json.dumps({"id": self.commands, "topic": "wall",
                                                 "type": "subscribe" if on else "unsubscribe"})))
        except OSError:
            self.gone = True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def session_cookie(http: aiohttp.ClientSession) -> str:
    return "; ".join(f"{c.key}={c.value}" for c in http.cookie_jar)


# --- Chromium --------------------------------------------------------------------------

class Browsers:
    """A few headless Chromium pages (Playwright's sync API, in a thread of their own):
    logged in once through the form, on their screen in "on" steps, blank otherwise."""

    def __init__(self, base: str, pages: Sequence[tuple[str, str, str]]) -> None:
        self.base, self.wanted = base, list(pages)  # (user, password, path)
        self._calls: list[tuple[Any, threading.Event, list[Any]]] = []
        self._cv = threading.Condition()
        self._done = False
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.error: BaseException | None = None
        self.thread.start()

    def _main(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                     args=CHROMIUM_ARGS)
                pages = []
                for user, password, path in self.wanted:
                    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
                    page.goto(self.base + "/login")
                    page.fill("#login-form input[name=user]", user)
                    page.fill("#login-form input[name=password]", password)
                    page.click("#login-form button[type=submit]")
                    page.wait_for_load_state()
                    pages.append((page, path))
                self.pages = pages
                while True:
                    with self._cv:
                        while not self._calls and not self._done:
                            self._cv.wait()
                        if self._done and not self._calls:
                            break
                        fn, event, out = self._calls.pop(0)
                    try:
                        out.append(fn())
                    except Exception as exc:
                        out.append(exc)
                    event.set()
                browser.close()
        except BaseException as exc:
            self.error = exc

    def _do(self, fn: Any, timeout: float = 120.0) -> Any:
        event, out = threading.Event(), []  # type: ignore[var-annotated]
        with self._cv:
            self._calls.append((fn, event, out))
            self._cv.notify()
        if not event.wait(timeout):
            raise StackError("Chromium did not answer in time")
        if self.error is not None:
            raise StackError(f"Chromium: {self.error!r}")
        if isinstance(out[0], Exception):
            raise out[0]
        return out[0]

    def show(self, on: bool) -> None:
        def go() -> None:
            for page, path in self.pages:
                page.goto(self.base + path if on else "about:blank")
        self._do(go)

    def stop(self) -> None:
        with self._cv:
            self._done = True
            self._cv.notify()
        self.thread.join(timeout=60)


def chromium_cpu_seconds() -> float:
    """CPU (user+system) of every Chromium process now running under this bench's user:
    the headless pages' rendering and scripts."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"chromium" not in cmd.split(b"\0", 1)[0] or b"--headless" not in cmd:
                continue
            if Path(f"/proc/{pid}").stat().st_uid != os.getuid():
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


# --- the run ----------------------------------------------------------------------------

@dataclass
class ScreensStep:
    mode: str                       # off (no screen) or on
    round: int
    rate: float
    offered: int
    succeeded: int
    invite_200_p99_ms: float
    taker_p99_ms: float
    controller_cpu_ms_per_call: float
    loop_lag_p99_ms: float
    probe_count: int
    probe_failed: int
    probe_p50_ms: float
    probe_p99_ms: float
    records_ok: bool
    records_rows: int = 0
    records_missing: int = 0        # SIPp's successful calls without a row
    records_duplicated: int = 0
    screens_connected: int = 0
    push_count: int = 0
    push_p50_ms: float = math.nan
    push_p99_ms: float = math.nan
    as_of_p50_ms: float = math.nan
    as_of_p99_ms: float = math.nan
    frames: int = 0
    frame_kb: float = 0.0
    closed_by_server: int = 0
    sockets_dropped: int = 0        # the hub's count over the step (-1: unknown)
    messages_dropped: int = 0
    wall_states_coalesced: int = 0
    chromium_cpu_s: float = math.nan
    load_average: str = ""

    def line(self) -> str:
        base = (f"round {self.round} screens {self.mode}: {self.succeeded}/{self.offered} ok at "
                f"{self.rate:g}/s, records {self.records_rows} rows, {self.records_missing} "
                f"missing, {self.records_duplicated} duplicated; "
                f"controller {self.controller_cpu_ms_per_call:.2f} ms/call; INVITE->200 p99 "
                f"{self.invite_200_p99_ms:.0f} ms, to a taker p99 {self.taker_p99_ms:.0f} ms; "
                f"loop lag p99 {self.loop_lag_p99_ms:.1f} ms; FastAGI probe p50 "
                f"{self.probe_p50_ms:.1f} p99 {self.probe_p99_ms:.1f} ms "
                f"({self.probe_count} probes, {self.probe_failed} unanswered)")
        if self.mode == "off":
            return base + f"; load {self.load_average}"
        return base + (
            f"; {self.screens_connected} screens: push p50 {self.push_p50_ms:.0f} p99 "
            f"{self.push_p99_ms:.0f} ms over {self.push_count} call states (as_of p50 "
            f"{self.as_of_p50_ms:.0f} p99 {self.as_of_p99_ms:.0f} ms), {self.frames} frames "
            f"{self.frame_kb:.0f} kB, closed by the server {self.closed_by_server}; hub: "
            f"{self.sockets_dropped} socket(s) dropped, {self.messages_dropped} message(s) lost "
            f"with them, {self.wall_states_coalesced} wall state(s) coalesced; Chromium "
            f"{self.chromium_cpu_s:.1f} CPU s; load {self.load_average}")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


LIVE_COUNTERS = ("sockets_dropped", "messages_dropped", "coalesced")


def live_counters(health_url: str) -> dict[str, int]:
    """The hub's counters from /healthz; -1 each when the controller did not say (down,
    or a revision before they were counted)."""
    live = (health(health_url) or {}).get("live")
    if not isinstance(live, dict):
        return dict.fromkeys(LIVE_COUNTERS, -1)
    return {k: int(live.get(k, 0)) for k in LIVE_COUNTERS}


def counted(before: int, after: int) -> int:
    """A counter's change over a step, -1 when either end is unknown."""
    return after - before if before >= 0 and after >= 0 else -1


def rounds_modes(rounds: int) -> Iterator[tuple[int, str]]:
    """off/on, then on/off, ...: neither always first after the pause between steps."""
    for k in range(rounds):
        for mode in (("off", "on") if k % 2 == 0 else ("on", "off")):
            yield k, mode


@dataclass(frozen=True)
class ScreensBench:
    rate: float = 80.0
    step_seconds: float = 30.0
    rounds: int = 2
    walls: int = 20
    desks: int = 20
    agencies: int = 10
    browsers: int = 3       # Chromium pages: wall, desk, agency, wall, ...
    slow: bool = True       # the client that reads nothing
    talk_ms: int = 1000
    controller_rev: str | None = None  # run another revision's controller (before/after)


def _screens(bench: ScreensBench, password: str) -> list[Screen]:
    out = [Screen("wall", f"bench-wall-{i}", password, WALL_TOPICS)
           for i in range(1, bench.walls + 1)]
    out += [Screen("desk", f"bench-desk-{i}", password, DESK_TOPICS)
            for i in range(1, bench.desks + 1)]
    out += [Screen("agency", f"bench-agency-{i}", password, AGENCY_TOPICS)
            for i in range(1, bench.agencies + 1)]
    return out


def add_users(users_file: Path, bench: ScreensBench, password: str,
              agencies: Sequence[str]) -> None:
    """The screens' users, in the stack's users file (read again at each login)."""
    from ntpd_ivr.web.auth import UserStore

    store = UserStore(users_file)
    for i in range(1, bench.walls + 1):
        store.put(f"bench-wall-{i}", "supervisor", password)
    for i in range(1, bench.desks + 1):
        store.put(f"bench-desk-{i}", "calltaker", password)
    for i in range(1, bench.agencies + 1):
        store.put(f"bench-agency-{i}", "agency", password, agencies[(i - 1) % len(agencies)])


def summary_lines(steps: Sequence[ScreensStep]) -> list[str]:
    def pooled(mode: str, attr: str) -> list[float]:
        return [getattr(s, attr) for s in steps if s.mode == mode]

    off, on = [s for s in steps if s.mode == "off"], [s for s in steps if s.mode == "on"]
    if not off or not on:
        return []

    def total(attr: str) -> str:
        """A hub counter over the on steps; n/a when the controller did not say."""
        values = [getattr(s, attr) for s in on]
        return "n/a" if any(v < 0 for v in values) else str(sum(values))
    probe_off = statistics.median(pooled("off", "probe_p99_ms"))
    probe_on = statistics.median(pooled("on", "probe_p99_ms"))
    cpu_off = statistics.median(pooled("off", "controller_cpu_ms_per_call"))
    cpu_on = statistics.median(pooled("on", "controller_cpu_ms_per_call"))
    push = statistics.median(pooled("on", "push_p99_ms"))
    return [
        f"screens: {on[0].screens_connected} WebSocket clients"
        f" + Chromium pages + 1 slow client, {on[0].rate:g} calls/s on path a, "
        f"{len(on)} on and {len(off)} off steps interleaved",
        f"push latency (AMI timestamp -> frame at the client), median over steps: p50 "
        f"{statistics.median(pooled('on', 'push_p50_ms')):.0f} ms, p99 {push:.0f} ms",
        f"FastAGI probe p99 (median over steps): with screens {probe_on:.1f} ms, without "
        f"{probe_off:.1f} ms = x{probe_on / probe_off:.2f}" if probe_off > 0 else
        "FastAGI probe: n/a",
        f"controller CPU per call: with screens {cpu_on:.2f} ms, without {cpu_off:.2f} ms "
        f"(+{cpu_on - cpu_off:.2f} ms = x{cpu_on / cpu_off:.2f})" if cpu_off > 0 else
        "controller CPU per call: n/a",
        f"dropped for slowness: {total('sockets_dropped')} socket(s), "
        f"{total('messages_dropped')} message(s) lost with them; wall states coalesced "
        f"{total('wall_states_coalesced')}; closed by the server (seen by the fast "
        f"clients) {sum(s.closed_by_server for s in on)}",
        f"records: {sum(s.records_missing for s in steps)} missing, "
        f"{sum(s.records_duplicated for s in steps)} duplicated over all steps"]


def bench_screens(bench: ScreensBench, *, out: Path, keep: bool = False) -> int:
    out.mkdir(parents=True, exist_ok=True)
    stack = BenchStack(keep=keep, baseline_rev=bench.controller_rev)
    tag = run_tag()
    steps: list[ScreensStep] = []
    password = secrets.token_urlsafe(16)
    screens: Screens | None = None
    browsers: Browsers | None = None
    stopped = ""
    slow: SlowClient | None = None
    try:
        stack.up()
        if stack.baseline is not None:  # the whole run on that revision's controller
            stack.use_baseline(True)
            _progress(f"controller: {stack.baseline.label} ({stack.baseline.commit[:12]})")
        from ntpd_ivr.routing.config import load_routing_config
        from ntpd_ivr.settings import load_settings

        settings = load_settings(stack.settings_file)
        agencies = sorted(load_routing_config(settings.ivr.routing_config).agencies)
        add_users(Path(settings.web.users_file), bench, password, agencies)
        base = f"http://127.0.0.1:{stack.dev.layout.web_port}"
        screens = Screens(base, _screens(bench, password))
        _progress(f"logging in {len(screens.screens)} screens")
        screens.login()
        if bench.browsers:
            kinds = [("bench-wall-1", "/wall"), ("bench-desk-1", "/workspace"),
                     ("bench-agency-1", "/agency")]
            browsers = Browsers(base, [(kinds[i % 3][0], password, kinds[i % 3][1])
                                       for i in range(bench.browsers)])
            browsers.show(False)  # logged in (waits for the thread's start)
        ip, ports = stack.taker_contacts
        takers = TakerPool(ip, ports, talk_ms=bench.talk_ms)
        agi_port = settings.agi.port
        try:
            for seq, (k, mode) in enumerate(rounds_modes(bench.rounds)):
                on = mode == "on"
                if on:
                    screens.open()
                    if browsers is not None:
                        browsers.show(True)
                    if bench.slow and slow is None:
                        http = screens.screens[0].http
                        assert http is not None
                        slow = SlowClient("127.0.0.1", stack.dev.layout.web_port,
                                          session_cookie(http))
                    if slow is not None:
                        slow.subscribed(True)
                before = live_counters(stack.controller.health_url)
                chromium_before = chromium_cpu_seconds() if browsers is not None else 0.0
                _progress(f"round {k} screens {mode}: {bench.rate:g} calls/s for "
                          f"{bench.step_seconds:g} s")
                probe = Probe("127.0.0.1", agi_port, bench.step_seconds)
                prefix = caller_prefix("a", tag, seq)
                with ProcSampler(lambda: stack.controller.pid,
                                 health_url=stack.controller.health_url) as sampler:
                    result = run_calls(stack.target, "a", bench.rate, bench.step_seconds,
                                       prefix, talk_ms=bench.talk_ms)
                probe_ms, probe_failed = probe.wait(timeout=bench.step_seconds + 60)
                chromium = (chromium_cpu_seconds() - chromium_before
                            if browsers is not None and on else math.nan)
                after = live_counters(stack.controller.health_url)
                seen = ScreensRound()
                if on:
                    if browsers is not None:
                        browsers.show(False)
                    seen = screens.close()
                    if slow is not None:
                        slow.subscribed(False)
                check = check_records(stack.settings_file, prefix,
                                      [c.number for c in result.calls])
                cpu = sampler.cpu_seconds()
                step = ScreensStep(
                    mode, k, bench.rate, result.offered, result.succeeded,
                    result.answer_ms(99), result.taker_ms(99),
                    cpu * 1000 / result.offered if result.offered else math.nan,
                    sampler.lag.p99_ms(), len(probe_ms), probe_failed,
                    percentile(probe_ms, 50), percentile(probe_ms, 99), check.ok,
                    check.rows, len(check.missing), len(check.duplicated), seen.connected,
                    len(seen.push_ms), percentile(seen.push_ms, 50),
                    percentile(seen.push_ms, 99), percentile(seen.as_of_ms, 50),
                    percentile(seen.as_of_ms, 99), seen.frames, seen.bytes / 1024,
                    seen.closed_by_server,
                    counted(before["sockets_dropped"], after["sockets_dropped"]),
                    counted(before["messages_dropped"], after["messages_dropped"]),
                    counted(before["coalesced"], after["coalesced"]),
                    chromium, load_average())
                steps.append(step)
                _progress(step.line())
                # Its watchdog ends a controller whose loop stalls: every figure after that
                # would be the fallback queue's. The steps so far are still written.
                try:
                    controller_alive(stack, f"round {k} screens {mode}")
                except StackError as exc:
                    stopped = str(exc)
                    _progress(stopped)
                    break
                time.sleep(bench.talk_ms / 1000 + 3)  # the step's calls end before the next
        finally:
            takers.stop()
            if slow is not None:
                slow.close()
        summary = summary_lines(steps) + ([f"stopped early: {stopped}"] if stopped else [])
        for line in summary:
            _progress(line)
        if steps:
            write_csv(steps, out / "bench-screens.csv")
        (out / "bench-screens.txt").write_text(
            "".join(f"{s.line()}\n" for s in steps) + "".join(f"{line}\n" for line in summary))
        (out / "bench-screens.json").write_text(json.dumps(
            {"bench": asdict(bench), "steps": [asdict(s) for s in steps]}, indent=2,
            default=str) + "\n")
        _progress(f"wrote bench-screens.csv, .txt and .json in {out}")
    finally:
        try:
            if browsers is not None:
                browsers.stop()
            if screens is not None:
                screens.shutdown()
        finally:
            stack.down()
    return 1 if stopped else 0


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "probe":
    probe_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
