"""A login flood must not stall the calls' event loop (issue 19, item 3): 40 clients from
40 loopback addresses post wrong passwords for ~10 s while a FastAGI probe measures the
controller's round trip through its FastAGI socket. Password checks run in a bounded
thread pool and refusals are answered after a timer, so the p99 must stay under 50 ms."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time

import pytest

from ntpd_ivr.stack.devstack import DevStack
from tests.security.web_sessions_fixtures import Browser, supervisor_password
from tests.stack_fixtures import Controller

pytestmark = pytest.mark.e2e
CLIENTS = 40
FLOOD_SECONDS = 12.0
WARM_UP_SECONDS = 1.5  # the flood process starts Python and aiohttp, and connects
P99_LIMIT_MS = 50.0
PROBE_EVERY = 0.02
ATTEMPTS = 3
FAILED_PROBE = 10.0  # seconds: a probe that got no answer counts as a 10 s stall


def fastagi_round_trip(port: int, n: int) -> float:
    """Seconds from connect to the server's close, for a session of a script no handler
    serves (nothing is written anywhere; the server logs it and hangs up): accept, read
    the headers, ask for the FastAGI secret (answered "not set", so the session is
    refused), and close all run on the loop that serves 112 calls."""
    headers = (f"agi_network: yes\nagi_network_script: latency-probe\n"
               f"agi_uniqueid: probe-{n}\nagi_channel: Local/probe\n\n").encode()
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(headers)
            while data := conn.recv(4096):
                # Each command (GET VARIABLE NTPD_AGI_SECRET) answered as Asterisk answers
                # for a variable that is not set.
                conn.sendall(b"200 result=0\n" * data.count(b"\n"))
    except OSError:  # refused or reset: the controller stalled or was restarted
        return FAILED_PROBE
    return time.perf_counter() - started


def probe(port: int, seconds: float) -> list[float]:
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(fastagi_round_trip(port, len(samples)))
        time.sleep(PROBE_EVERY)
    return samples


def p99_ms(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98] * 1000


def flood_once(agi_port: int, web_port: int, net: int) -> tuple[float, str, dict[str, int]]:
    """One measurement: 2 s quiet, then the flood from 127.0.NET.1-40 (fresh addresses,
    so each attempt's clients reach the password checks). Returns the flooded p99 (ms)."""
    quiet = probe(agi_port, 2.0)
    # In a center the attacker is on another machine; here it shares the two cores with
    # the controller, so it runs at a lower priority than the controller it attacks.
    flood = subprocess.Popen(
        ["nice", "-n", "10", sys.executable, "-m", "tests.security.web_sessions_flood",
         str(web_port), str(CLIENTS), str(FLOOD_SECONDS), str(net)],
        stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(WARM_UP_SECONDS)
        during = probe(agi_port, FLOOD_SECONDS - WARM_UP_SECONDS - 0.5)
        out, _ = flood.communicate(timeout=60)
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
    statuses: dict[str, int] = json.loads(out)
    report = (f"FastAGI probe round trip: quiet p99 {p99_ms(quiet):.1f} ms "
              f"({len(quiet)} probes), during the login flood p99 {p99_ms(during):.1f} ms, "
              f"max {max(during) * 1000:.1f} ms ({len(during)} probes, "
              f"{during.count(FAILED_PROBE)} unanswered); flood answers "
              f"{statuses}; load average {os.getloadavg()[0]:.1f}")
    return p99_ms(during), report, statuses


def test_a_login_flood_does_not_stall_fastagi(
        stack: DevStack, running_controller: Controller,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Up to ATTEMPTS measurements, each printed: the test machine is shared, and another
    job's burst can lift even the quiet p99 over the limit. A stalled loop (the old code:
    p99 0.6-2.8 s) fails every attempt."""
    agi_port, web_port = stack.layout.agi_port, stack.layout.web_port
    reports = []
    for attempt in range(ATTEMPTS):
        flooded_p99, report, statuses = flood_once(agi_port, web_port, net=1 + attempt)
        reports.append(report)
        with capsys.disabled():
            print(f"\nattempt {attempt + 1}: {report}")
        # The flood did arrive, and did make the controller check passwords.
        assert sum(statuses.values()) >= CLIENTS and statuses.get("401", 0) >= 5, report
        if flooded_p99 < P99_LIMIT_MS:
            break
    assert flooded_p99 < P99_LIMIT_MS, "\n".join(reports)
    # ... and locked nobody out for everyone.
    assert Browser(web_port).login("supervisor", supervisor_password(stack)).status == 200
