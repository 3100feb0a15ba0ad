"""Live queue state: parsed from QueueSummary, cached, and "unknown" on any failure."""

from __future__ import annotations

import asyncio
from typing import Any

from ntpd_ivr.ami.events import ActionResult, parse_event, parse_response
from ntpd_ivr.errors import AmiError
from ntpd_ivr.routing.live import QueueMonitor, live_state

ITEMS = [
    {"Event": "QueueSummary", "Queue": "takers-muba", "LoggedIn": "0", "Available": "0",
     "Callers": "0", "HoldTime": "0", "TalkTime": "0", "LongestHoldTime": "0"},
    {"Event": "QueueSummary", "Queue": "takers-default", "LoggedIn": "2", "Available": "1",
     "Callers": "3", "HoldTime": "4", "TalkTime": "0", "LongestHoldTime": "27"},
    {"Event": "QueueSummary", "Queue": "broken", "LoggedIn": "x"},
]
# What AmiClient.action() makes of Asterisk's answer: the malformed item is dropped there.
SUMMARY = ActionResult(
    parse_response({"Response": "Success", "EventList": "start",
                    "Message": "Queue summary will follow"}),
    tuple(event for item in ITEMS if (event := parse_event(item)) is not None))


class FakeAmi:
    def __init__(self, reply: Any = None, fail: bool = False, delay: float = 0.0) -> None:
        self.reply, self.fail, self.delay, self.calls = reply, fail, delay, 0

    async def action(self, action: dict[str, str],
                     timeout: float | None = None) -> Any:  # noqa: ASYNC109
        self.calls += 1
        assert action == {"Action": "QueueSummary"}
        await asyncio.sleep(self.delay)
        if self.fail:
            raise AmiError("not connected")
        return self.reply


def test_live_state_from_typed_queue_summaries() -> None:
    assert len(SUMMARY.events) == 2  # "broken" refused at the AMI edge
    live = live_state(SUMMARY.events)
    assert set(live) == {"takers-muba", "takers-default"}
    assert live["takers-muba"].logged_in == 0
    assert live["takers-default"].callers == 3
    assert live["takers-default"].longest_wait_seconds == 27.0
    assert live_state(()) == {}


async def test_cached_for_a_second_and_shared() -> None:
    now = [100.0]
    ami = FakeAmi(SUMMARY)
    monitor = QueueMonitor(ami, cache_seconds=1.0, clock=lambda: now[0])
    first, second = await asyncio.gather(monitor.snapshot(), monitor.snapshot())
    assert first["takers-default"].logged_in == 2 and first == second
    assert ami.calls == 1
    now[0] += 0.5
    await monitor.snapshot()
    assert ami.calls == 1
    now[0] += 1.0
    await monitor.snapshot()
    assert ami.calls == 2


async def test_failure_and_timeout_give_unknown_fast() -> None:
    assert await QueueMonitor(FakeAmi(fail=True)).snapshot() == {}
    # An AMI slower (2 min) than the generous deadline: "unknown" comes from the 0.05 s
    # timeout, or the deadline fails the test.
    slow = QueueMonitor(FakeAmi(SUMMARY, delay=120.0), timeout_seconds=0.05)
    async with asyncio.timeout(15):
        assert await slow.snapshot() == {}
    assert await QueueMonitor(None).snapshot() == {}
