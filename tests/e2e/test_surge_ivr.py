"""Surge mode heard on the phone (issue 24): a BMKG InaTEWS alert replayed from a local CAP
feed, polled by the real controller, surge mode turned on by the supervisor's route, then
SIPp callers through Asterisk 22 into the IVR, records and steps read from PostgreSQL.

One caller presses 8 during the announcement (Asterisk's GET DATA of the alert's own audio
took the key: the IVR's step says so), hears the information and is hung up, recorded as
"surge-information"; another presses 1 and reaches a call-taker stand-in. Surge mode off:
the next caller hears the menu only."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import DevStack
from tests.cap_samples import CapServer
from tests.waiting import eventually

from .conftest import Controller, Takers, caller, dial, record

pytestmark = pytest.mark.e2e

SAMPLE = "inatews_gempa_m58.xml"
FEED_ENV = {"NTPD_IVR_ALERTS_FEEDS": "", "NTPD_IVR_ALERTS_POLL_SECONDS": "1"}


@pytest.fixture
async def cap_feed() -> AsyncIterator[str]:
    server = CapServer()
    base = await server.start()
    try:
        yield f"{base}/{SAMPLE}"
    finally:
        await server.stop()


@pytest.fixture
async def polling_controller(stack: DevStack, controller: Controller,
                             cap_feed: str) -> AsyncIterator[Controller]:
    """The session's controller, restarted with the local feed (polled every second); put
    back as it was after the test (no feed, surge mode off)."""
    await asyncio.to_thread(controller.stop)
    os.environ.update({**FEED_ENV, "NTPD_IVR_ALERTS_FEEDS": cap_feed})
    try:
        # In a thread: this loop serves the feed the starting controller polls.
        await asyncio.to_thread(controller.start)
        yield controller
    finally:
        for name in FEED_ENV:
            os.environ.pop(name, None)
        await asyncio.to_thread(controller.stop)
        await asyncio.to_thread(controller.start)


@pytest.fixture
def surge_dir(stack: DevStack) -> Iterator[Path]:
    yield Path(load_settings(stack.layout.settings_file).warnings.media_dir) / "surge"


def kinds(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["kind"]: s["detail"] for s in steps}


async def test_surge_mode_announces_the_alert_8_informs_and_other_callers_reach_a_human(
        stack: DevStack, polling_controller: Controller, takers: Takers, surge_dir: Path,
        supervisor: tuple[aiohttp.ClientSession, str, str]) -> None:
    http, base, token = supervisor
    alerts: list[dict[str, Any]] = []

    async def polled() -> bool:
        async with http.get(f"{base}/api/alerts") as reply:
            assert reply.status == 200, await reply.text()
            alerts[:] = (await reply.json())["recent"]
        return bool(alerts)

    for _ in range(60):  # the poller reads the feed every second
        if await polled():
            break
        await asyncio.sleep(0.5)
    assert alerts, "the replayed InaTEWS alert never reached the controller"
    alert_id = alerts[0]["id"]
    async with http.post(f"{base}/api/alerts/{alert_id}/surge",
                         headers={"X-CSRF-Token": token}) as reply:
        assert reply.status == 200, await reply.text()
        mode = (await reply.json())["surge"]
    assert mode["region"] == "muba" and "tekan 8" in mode["announcement"]

    # Surge mode on renders the alert's texts at once (espeak-ng, in a thread).
    def rendered() -> bool:
        return all(list(surge_dir.glob(f"alert-{alert_id}-{which}-*.wav"))
                   for which in ("announcement", "information"))
    await eventually(rendered, "the alert's announcement and information rendered", 30.0)

    informed, emergency = caller(), caller()
    # Both press during the announcement (3 s into it), at the same time.
    await asyncio.gather(dial(stack, informed, "8", delay_ms=3000),
                         dial(stack, emergency, "1", delay_ms=3000))

    row, steps = await record(stack, informed, kinds=frozenset({"surge.information"}))
    found = kinds(steps)
    assert found["surge.announcement"] == {"alert_id": alert_id, "region": "muba",
                                           "synthesized": True}
    # Asterisk's GET DATA of the alert's own audio returned the key: it played it.
    assert found["surge.input"] == {"digit": "8", "choice": "information"}
    assert found["surge.information"]["synthesized"] is True
    assert "surge.fault" not in found and "route.decision" not in found
    assert (row["route_reason"], row["category"], row["ivr_digit"]) == (
        "surge-information", "surge-information", "8")
    assert row["answered_by"] is None and row["queued_at"] is None

    row, steps = await record(stack, emergency, kinds=frozenset({"route.decision"}))
    found = kinds(steps)
    assert found["surge.input"] == {"digit": "1", "choice": "menu-key"}
    assert found["surge.priority"] == {"priority": 10, "about_alert": False}
    assert "ivr.prompt" not in found  # the key during the announcement: no menu
    assert (row["category"], row["route_reason"], row["priority"]) == ("ambulance", "menu", 10)
    assert row["answered_by"] in takers.by_name

    async with http.post(f"{base}/api/surge/off", headers={"X-CSRF-Token": token}) as reply:
        assert reply.status == 200, await reply.text()
    after = caller()
    await dial(stack, after, "3")
    row, steps = await record(stack, after, kinds=frozenset({"route.decision"}))
    found = kinds(steps)
    assert not any(kind.startswith("surge.") for kind in found), found
    assert found["ivr.prompt"]["prompt"] == "id/menu"
    assert (row["category"], row["answered_by"] in takers.by_name) == ("police", True)
