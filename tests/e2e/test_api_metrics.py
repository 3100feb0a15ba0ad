"""A real 112 call (SIPp caller -> Asterisk 22 -> FastAGI IVR -> queue -> SIPp call-taker)
seen through the integration surfaces of the running controller: /metrics counts its
FastAGI session and observes its answer time once; a token made with `ntpd-ivr token
create` reads it from /api/v1/calls; `ntpd-ivr report --by region` counts it."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ntpd_ivr.stack.devstack import DevStack

from .conftest import Controller, Takers, caller, dial, record

pytestmark = pytest.mark.e2e


def cli(stack: DevStack, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ntpd_ivr", *args, "--config",
                           str(stack.layout.settings_file)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def http_get(stack: DevStack, path: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{stack.layout.web_port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sample(metrics: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


async def test_a_call_in_metrics_api_and_report(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    status, before = await asyncio.to_thread(http_get, stack, "/metrics")
    assert status == 200
    number = caller()
    await dial(stack, number, "1")
    row, _ = await record(stack, number)
    assert row["answered_at"] is not None

    _, after = await asyncio.to_thread(http_get, stack, "/metrics")
    assert sample(after, "ntpd_answer_seconds_count") == sample(
        before, "ntpd_answer_seconds_count") + 1
    assert sample(after, "ntpd_fastagi_sessions_total") >= sample(
        before, "ntpd_fastagi_sessions_total") + 1
    assert sample(after, "ntpd_spool_pending") == 0
    assert 'ntpd_calls{state="talking"} 0.0' in after

    out = await asyncio.to_thread(cli, stack, "token", "create", "--role", "calltaker",
                                  f"e2e-{number}")
    token = out.strip().splitlines()[-1]
    since = (row["arrived_at"] - timedelta(seconds=1)).isoformat()
    status, body = await asyncio.to_thread(
        http_get, stack, "/api/v1/calls?" + urllib.parse.urlencode({"from": since}), token)
    assert status == 200, body
    calls: list[dict[str, Any]] = json.loads(body)["calls"]
    ours = [c for c in calls if c["uniqueid"] == row["uniqueid"]]
    assert len(ours) == 1 and ours[0]["disposition"] == "answered"
    status, _ = await asyncio.to_thread(http_get, stack, "/api/v1/figures", token)
    assert status == 403  # a call-taker's token: no figures

    await asyncio.to_thread(cli, stack, "token", "revoke", f"e2e-{number}")
    status, _ = await asyncio.to_thread(http_get, stack, "/api/v1/calls", token)
    assert status == 401

    end = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    report = json.loads(await asyncio.to_thread(
        cli, stack, "report", "--from", since, "--to", end, "--by", "region",
        "--format", "json"))
    assert report["total"]["offered"] >= 1 and report["total"]["answered"] >= 1
