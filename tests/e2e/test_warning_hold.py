"""A warning campaign under 112 load with the real hold and pause settings (issue 24, item 5;
docs/warnings.md "Incoming 112 calls first"): 112 callers wait in Asterisk's queue while the
call-takers are paused, a campaign is approved, and the warning trunk's SIPp stand-in
receives no INVITE until the queue has drained; then the campaign runs to its end.

Unlike tests/e2e/test_warning_campaigns.py, the controller keeps the defaults of
`hold_queue_wait_seconds`, `max_queue_wait_seconds` and `min_free_takers`; only ringing,
keys and the ramp are short so that the campaign ends within the test."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import TAKER_IP, DevStack
from ntpd_ivr.stack.sipp import Taker
from tests.waiting import standing_by

from .conftest import Controller, caller, dial, record
from .test_queue_priority import MEMBERS, set_paused
from .test_warning_campaigns import (
    cli,
    create,
    import_contacts,
    invites,
    numbers,
    stand_in,
    state,
    wait_status,
)

pytestmark = pytest.mark.e2e
__all__ = ["stand_in"]  # the fixture, imported for this module's tests

SHORT_ENV = {  # no NTPD_IVR_WARNINGS_{HOLD_QUEUE_WAIT,MAX_QUEUE_WAIT}_SECONDS, MIN_FREE_TAKERS
    "NTPD_IVR_WARNINGS_RING_SECONDS": "4", "NTPD_IVR_WARNINGS_KEY_TIMEOUT_SECONDS": "1.5",
    "NTPD_IVR_WARNINGS_MAX_PLAYS": "2", "NTPD_IVR_WARNINGS_CALLS_PER_SECOND": "10",
    "NTPD_IVR_WARNINGS_RAMP_SECONDS": "0",
}
HOLDING = ("queue-busy", "queue-wait", "free-takers")


@pytest.fixture
def guarded_controller(controller: Controller,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[Controller]:
    """The session's controller, restarted with the real hold and pause settings."""
    controller.stop()
    for name in ("HOLD_QUEUE_WAIT_SECONDS", "MAX_QUEUE_WAIT_SECONDS", "MIN_FREE_TAKERS"):
        monkeypatch.delenv(f"NTPD_IVR_WARNINGS_{name}", raising=False)
    for name, value in SHORT_ENV.items():
        monkeypatch.setenv(name, value)
    controller.start()
    yield controller
    if controller.process is None:
        controller.start()


def waiting(stack: DevStack) -> int:
    assert stack.asterisk is not None
    return len(re.findall(r"prio: \d+", stack.asterisk.cli("queue show takers-default")))


def paused(controller: Controller) -> str | None:
    reason = controller.health()[1].get("warnings", {}).get("paused")
    return str(reason) if reason else None


async def test_no_warning_call_starts_while_112_callers_wait_in_the_queue(
        stack: DevStack, guarded_controller: Controller, stand_in: Taker,
        tmp_path: Path) -> None:
    real = load_settings(stack.layout.settings_file).warnings  # with the environment's
    assert (real.hold_queue_wait_seconds, real.max_queue_wait_seconds,
            real.min_free_takers) == (5, 10, 1)  # the defaults docs/warnings.md gives
    assert stack.asterisk is not None
    callers = [caller() for _ in range(3)]
    contacts = numbers({"1": 6})
    tag = "".join(random.choices("abcdefgh", k=6))
    import_contacts(stack, tmp_path, f"Sungai-{tag}", contacts)
    # Both call-takers' phones reachable (Asterisk counts them logged in) but paused:
    # nobody free, the 112 callers wait.
    takers = [Taker(TAKER_IP, port, talk_ms=1000, calls=100)
              for port in stack.layout.taker_ports]
    standing_by(*takers)
    for member in MEMBERS:
        set_paused(stack, member, True)
    try:
        dialling = [asyncio.create_task(dial(stack, number, "1")) for number in callers]
        deadline = time.monotonic() + 60
        while await asyncio.to_thread(waiting, stack) < len(callers):
            assert time.monotonic() < deadline, "the 112 callers never all waited in the queue"
            await asyncio.sleep(0.3)
        campaign = create(stack, f"Sungai-{tag}", "sup-a")
        cli(stack, "campaign", "approve", str(campaign), "--as", "sup-b")

        # Paused for want of a free call-taker, then (the rule pace() reads first) once a
        # caller has waited past max_queue_wait_seconds (10 s): both rules had their say.
        reasons: set[str] = set()
        deadline = time.monotonic() + 60
        while "queue-wait" not in reasons:
            assert time.monotonic() < deadline, f"never paused for the queue's wait: {reasons}"
            if (reason := await asyncio.to_thread(paused, guarded_controller)) is not None:
                reasons.add(reason)
            assert not invites(stand_in), (
                f"a warning call started while 112 callers waited; paused: {reasons}; "
                f"{stack.asterisk.cli('queue show takers-default')}\n"
                f"{guarded_controller.log_tail(80)}")
            assert await asyncio.to_thread(waiting, stack) == len(callers)
            await asyncio.sleep(0.3)
        assert reasons <= set(HOLDING) and "free-takers" in reasons, reasons

        # One call-taker free: the queue drains; only then does the campaign dial.
        set_paused(stack, MEMBERS[0], False)
        while await asyncio.to_thread(waiting, stack) > 0:
            assert not invites(stand_in), "a warning call started while 112 callers waited"
            await asyncio.sleep(0.2)
        await asyncio.wait_for(asyncio.gather(*dialling), 120)
        answered = []
        for number in callers:
            row, _ = await record(stack, number)
            assert row["answered_by"] == "taker-1", row
            answered.append(row["answered_at"])

        await wait_status(stack, campaign, "finished", 100)
        _, attempts = await state(stack, campaign)
        assert set(invites(stand_in)) == set(contacts)
        # The first warning call was dialled after the last 112 caller was answered.
        assert min(a.dialed_at for a in attempts) > max(answered)
    finally:
        for member in MEMBERS:
            set_paused(stack, member, False)
        for taker in takers:
            taker.stop()
