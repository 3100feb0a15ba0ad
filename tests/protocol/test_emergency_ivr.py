"""EmergencyIvr on the real FastAgiServer, with a scripted Asterisk on the other end of the
socket: the call's time budget, the English branch, a failed prompt, a slow record write.

The scripted Asterisk answers each command as it reads it, one at a time as res_agi does,
so it serves a client that waits for every reply as well as one that writes several
commands before reading; the tests look at the variables set, not at the interleaving.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.calls.values import CallStep, CallUpdate
from ntpd_ivr.ivr.emergency import RECORD_WAIT_SECONDS, EmergencyIvr
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.routing.engine import LiveState, LiveStateSource
from ntpd_ivr.settings import IvrSettings

from .conftest import STEP, Dial, FakeAsterisk, serving

ROUTING = load_routing_config(Path(__file__).resolve().parents[2] / "config"
                              / "routing.example.toml")
# The example's budget shrunk to seconds a test can afford; the IVR's arithmetic is the
# same: the first menu waits min(3000, (3.0 - 1.0) * 1000) = 2000 ms for a key, and the
# English menu is played only while it and a 1000 ms wait still fit in what is left.
FAST = dataclasses.replace(ROUTING, ivr=dataclasses.replace(
    ROUTING.ivr, max_seconds_in_ivr=3.0, menu_seconds=1.0, english_menu_seconds=1.0))
ARGS = ("112", "operator-local")  # ${NTPD_DIALED},${NTPD_TRUNK}: the province's trunk
# How long the fake Asterisk waits beyond a call's budget for the session to close:
# generous (a loaded machine), not a budget; what closed it is in the log.
SLACK = 10.0

# Asterisk's replies to GET DATA (res_agi.c handle_getdata).
TIMEOUT = ("200 result= (timeout)",)
FAILED = ("200 result=-1",)  # a prompt that cannot be played, or a hang-up during it


def pressed(key: str) -> tuple[str, ...]:
    return (f"200 result={key}",)


@dataclasses.dataclass(frozen=True)
class Menu:
    """How Asterisk answers one GET DATA: `reply` after `seconds`; no reply: it never does.
    `hangup_after`: the caller hung up, and Asterisk's HANGUP line follows the reply."""

    reply: tuple[str, ...]
    seconds: float = 0.0
    hangup_after: float | None = None


_GET_DATA = re.compile(r'^GET DATA "/prompts/([^"]*)" (\d+) 1$')
_SET_VARIABLE = re.compile(r'^SET VARIABLE (\S+) "((?:[^"\\]|\\.)*)"$')
# EXEC MSet "A=1,B=,C=x": pbx_builtin_setvar_multiple sets each pair in order.
_MSET = re.compile(r'^EXEC MSet "([^"\\]*)"$')


class ScriptedAsterisk:
    """Asterisk's side of one FastAGI session, serving menus from a script."""

    def __init__(self, fake: FakeAsterisk, menus: Mapping[str, Menu]) -> None:
        self.fake = fake
        self.menus = menus
        self.commands: list[str] = []
        self.variables: dict[str, str] = {}
        self.prompts: list[tuple[str, int]] = []  # (prompt, timeout ms) of each GET DATA
        self.queue_set_after: float | None = None  # seconds from connect to NTPD_QUEUE

    async def serve(self, budget: float) -> float:
        """Answer commands until the server closes the session; return when it did."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with asyncio.timeout(budget):
            while line := await self.fake.reader.readline():
                command = line.decode().rstrip("\n")
                self.commands.append(command)
                self.fake.send(*await self._answer(command, loop.time() - started))
        return loop.time() - started

    async def _answer(self, command: str, at: float) -> Sequence[str]:
        if match := _MSET.match(command):
            for pair in match[1].split(","):
                name, _, value = pair.partition("=")
                self.variables[name] = value
                if name == dp.VAR_QUEUE:
                    self.queue_set_after = at
            return ("200 result=0",)
        if match := _SET_VARIABLE.match(command):
            name, value = match[1], re.sub(r"\\(.)", r"\1", match[2])
            self.variables[name] = value
            if name == dp.VAR_QUEUE:
                self.queue_set_after = at
            return ("200 result=1",)
        if match := _GET_DATA.match(command):
            self.prompts.append((match[1], int(match[2])))
            menu = self.menus[match[1]]
            await asyncio.sleep(menu.seconds)
            if menu.hangup_after is None:
                return menu.reply
            self.fake.send(*menu.reply)
            await asyncio.sleep(menu.hangup_after)
            return ("HANGUP",)
        pytest.fail(f"the IVR sent a command this script does not know: {command!r}")


class Records:
    """A RecordSink of our own that keeps every record; its writes are "ok", or every one
    "hangs" (until the test ends) or "fails"."""

    def __init__(self, writes: str = "ok") -> None:
        self.kept: list[CallUpdate | CallStep] = []
        self.writes = writes
        self._hanging: list[asyncio.Future[None]] = []
        self.urged = 0  # how often the IVR said it waits for what it queued

    def submit(self, update: CallUpdate | CallStep) -> asyncio.Future[None]:
        self.kept.append(update)
        durable: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.writes == "hangs":
            self._hanging.append(durable)  # until the test ends
        elif self.writes == "fails":
            durable.set_exception(OSError("spool: no space left on device"))
        else:
            durable.set_result(None)
        return durable

    def urge(self) -> None:
        self.urged += 1

    def release(self) -> None:
        for durable in self._hanging:
            if not durable.done():
                durable.set_result(None)

    def routed(self) -> list[CallUpdate]:
        return [r for r in self.kept if isinstance(r, CallUpdate) and r.queue is not None]

    def steps(self, kind: str) -> list[CallStep]:
        return [r for r in self.kept if isinstance(r, CallStep) and r.kind == kind]


class StuckLiveState:
    """A live-state source that never answers (its own timeout broken)."""

    async def snapshot(self) -> LiveState:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@dataclasses.dataclass
class Call:
    asterisk: ScriptedAsterisk
    records: Records
    seconds: float  # from connect until the server closed the session


async def place_call(dial: Dial, menus: Mapping[str, Menu], *, records: Records | None = None,
                     live: LiveStateSource | None = None,
                     call_budget_seconds: float = 5.0, args: tuple[str, ...] = ARGS) -> Call:
    records = records or Records()
    ivr = EmergencyIvr(IvrSettings(prompts_dir="/prompts"), records, FAST, live)
    try:
        async with serving({dp.SCRIPT_EMERGENCY_IVR: ivr},
                           call_budget_seconds=call_budget_seconds) as server:
            asterisk = ScriptedAsterisk(await dial(server.port, args=args), menus)
            seconds = await asterisk.serve(call_budget_seconds + STEP + SLACK)
    finally:
        records.release()
    return Call(asterisk, records, seconds)


def routed_as(call: Call, digit: str, category: str, reason: str, priority: int) -> None:
    """The dialplan gets every variable, NTPD_QUEUE included, and the record says so too."""
    assert call.asterisk.variables == {
        dp.VAR_DIGIT: digit, dp.VAR_CATEGORY: category, dp.VAR_ROUTE_REASON: reason,
        dp.VAR_QUEUE_PRIO: str(priority), dp.VAR_AGENCY: "", dp.VAR_QUEUE: "takers-default"}
    [final] = call.records.routed()
    assert (final.ivr_digit, final.category, final.route_reason, final.queue, final.region,
            final.priority) == (digit, category, reason, "takers-default", "sumsel", priority)


async def test_menu_key_routes_with_region_and_priority_on_the_record(dial: Dial) -> None:
    call = await place_call(dial, {"id/menu": Menu(pressed("1"))})
    assert call.asterisk.prompts == [("id/menu", 2000)]
    routed_as(call, "1", "ambulance", "menu", 10)
    [arrived] = [r for r in call.records.kept if isinstance(r, CallUpdate) and r.arrived_at]
    # Recorded in the canonical form (ntpd_ivr/numbers.py) whatever the operator sent.
    assert (arrived.dialed, arrived.trunk, arrived.caller_number) == (
        "112", "operator-local", "+6281234567890")


@pytest.mark.parametrize("stall", ["prompt-never-answered", "live-state-never-answers"])
async def test_a_call_over_its_budget_is_closed_without_a_queue(
        dial: Dial, caplog: pytest.LogCaptureFixture, stall: str) -> None:
    caplog.set_level(logging.INFO, logger="ntpd_ivr")
    # NTPD_QUEUE left empty is how the dialplan knows to take its fallback queue.
    menus = {"id/menu": Menu(() if stall == "prompt-never-answered" else pressed("1"))}
    live = StuckLiveState() if stall == "live-state-never-answers" else None
    call = await place_call(dial, menus, live=live, call_budget_seconds=0.5)
    assert call.seconds >= 0.45  # timers never fire early
    # The budget closed it (not the 3 s reply timeout): the server says so.
    assert any("exceeded its 0.5 s call budget" in r.getMessage() for r in caplog.records)
    assert dp.VAR_QUEUE not in call.asterisk.variables
    assert call.asterisk.prompts == [("id/menu", 2000)]
    assert call.records.routed() == []


async def test_english_key_plays_the_english_menu_and_takes_its_key(dial: Dial) -> None:
    call = await place_call(dial, {"id/menu": Menu(pressed("9")),
                                   "en/menu": Menu(pressed("2"))})
    [first, english] = call.asterisk.prompts
    assert first == ("id/menu", 2000)
    # What is left of the 3 s after the first menu, less the English menu's 1 s.
    assert english[0] == "en/menu" and 1000 <= english[1] <= 2000
    routed_as(call, "2", "fire", "menu", 10)


async def test_english_key_with_no_time_left_goes_to_a_call_taker(dial: Dial) -> None:
    # The key comes 1.2 s into the first menu: 1.8 s left cannot hold the English menu
    # (1 s) and a 1 s wait for its key.
    call = await place_call(dial, {"id/menu": Menu(pressed("9"), seconds=1.2)})
    assert call.asterisk.prompts == [("id/menu", 2000)]
    routed_as(call, "9", "unclassified", "english-requested", 5)


async def test_failed_prompt_routes_the_caller_as_no_input(dial: Dial) -> None:
    call = await place_call(dial, {"id/menu": Menu(FAILED)})
    routed_as(call, "", "unclassified", "no-input", 5)
    [read] = call.records.steps("ivr.input")
    assert (read.detail["digit"], read.detail["timed_out"]) == ("", True)


async def test_hang_up_during_the_prompt_sets_nothing(dial: Dial) -> None:
    # The same result=-1 as a failed prompt, then HANGUP a moment later: this caller is gone.
    call = await place_call(dial, {"id/menu": Menu(FAILED, hangup_after=0.05)})
    assert call.asterisk.variables == {}
    assert [r.route_reason for r in call.records.kept if isinstance(r, CallUpdate)
            and r.route_reason] == ["hangup-in-ivr"]
    assert len(call.records.steps("ivr.hangup")) == 1


@pytest.mark.parametrize(("writes", "logged"), [
    ("hangs", "call record not confirmed in time"), ("fails", "call record write failed")])
async def test_record_writes_that_hang_or_fail_do_not_hold_the_caller(
        dial: Dial, caplog: pytest.LogCaptureFixture, writes: str, logged: str) -> None:
    caplog.set_level(logging.INFO, logger="ntpd_ivr")
    # A call budget (60 s) far beyond the record wait: an IVR that waited for the hung
    # write would hit it and close the session with no queue set.
    call = await place_call(dial, {"id/menu": Menu(pressed("3"))}, records=Records(writes),
                            call_budget_seconds=60.0)
    assert call.asterisk.variables[dp.VAR_QUEUE] == "takers-default"
    assert call.asterisk.queue_set_after is not None
    # The dialplan goes on to Queue(): the session ends well before the budget.
    assert call.seconds < 60.0 - RECORD_WAIT_SECONDS
    assert not any("call budget" in r.getMessage() for r in caplog.records)
    routed_as(call, "3", "police", "menu", 8)
    assert any(logged in r.getMessage() and r.call_id == "1732771200.1"  # type: ignore[attr-defined]
               for r in caplog.records)
    if writes == "hangs":  # it said it waits, so the keeper writes now, not after gathering
        assert call.records.urged >= 1
