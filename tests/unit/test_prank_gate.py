"""The prank policy's side of the IVR (ntpd_ivr/prank/ivr.py) with a fake channel of our
own: the block message and its escape key, the warning handed to the dialplan, the
queue priority, and faults that let the caller on."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.errors import AgiError, AgiHangup
from ntpd_ivr.prank.config import PrankPolicy
from ntpd_ivr.prank.ivr import PrankGate
from ntpd_ivr.prank.service import PrankService
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.routing.engine import CallFacts, route

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CALLER = "+6281234567890"
POLICY = PrankPolicy(warn_at=1, deprioritise_at=2, block_at=3)
ROUTING = replace(RoutingConfig.minimal("q"), prank=replace(RoutingConfig.minimal("q").prank,
                                                             default=POLICY))


@dataclass
class FakeRequest:
    uniqueid: str = "1.1"


@dataclass
class FakeChannel:
    """Keys pressed during each prompt (by prompt name); a prompt in `failing` fails."""

    keys: dict[str, str] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    hung_up: bool = False
    request: FakeRequest = field(default_factory=FakeRequest)
    played: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("fake-channel"))

    def _play(self, path: str) -> str:
        name = path.rsplit("/", 1)[-1]
        self.played.append(name)
        if name in self.failing:
            raise AgiError(f"{name} failed")
        return self.keys.get(name, "")

    async def stream_file(self, path: str, escape_digits: str = "") -> str:
        key = self._play(path)
        return key if key in escape_digits else ""

    async def get_data(self, path: str, timeout_ms: int, max_digits: int) -> tuple[str, bool]:
        key = self._play(path)
        return key, not key

    async def set_variables(self, variables: dict[str, str]) -> None:
        self.variables.update(variables)

    async def wait_hangup(self) -> None:
        return None


def gate_with(strikes: int) -> tuple[PrankGate, PrankService]:
    service = PrankService(None, lambda: ROUTING, clock=lambda: NOW)
    service.view.replace({CALLER: [NOW - timedelta(minutes=m + 1) for m in range(strikes)]},
                         started_at=0.0)
    return PrankGate(service, "/prompts"), service


async def before_menu(gate: PrankGate, channel: FakeChannel, dialed: str = "112"
                      ) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    steps: list[tuple[str, dict[str, Any]]] = []
    facts = CallFacts(trunk="", dialed=dialed, caller=CALLER, digit=None, at=NOW)
    result = await gate.before_menu(channel, ROUTING, facts,  # type: ignore[arg-type]
                                    lambda kind, **detail: steps.append((kind, detail)))
    return result, steps


async def test_a_strike_free_caller_hears_nothing_more() -> None:
    gate, _ = gate_with(0)
    channel = FakeChannel()
    result, steps = await before_menu(gate, channel)
    assert (result.action.level, result.blocked, channel.played, steps) == ("none", False,
                                                                           [], [])


async def test_the_warning_is_left_to_the_dialplan() -> None:
    gate, _ = gate_with(1)
    channel = FakeChannel()
    result, steps = await before_menu(gate, channel)
    assert result.warn_prompt == "/prompts/id/prank-warn" and channel.played == []
    assert steps[0][0] == "prank.policy" and steps[0][1]["level"] == "warn"


async def test_blocked_caller_who_presses_nothing_is_ended_by_the_dialplan() -> None:
    gate, service = gate_with(3)
    service.call_started("1.1", CALLER, "default")
    channel = FakeChannel()
    result, steps = await before_menu(gate, channel)
    assert result.blocked and channel.variables == {dp.VAR_BLOCKED: "1"}
    assert channel.played == ["prank-block", "prank-escape-0"]
    assert steps[-1] == ("prank.blocked", {"escape": True, "pressed": ""})
    assert "1.1" not in service.calls  # its end adds no strike


@pytest.mark.parametrize("during", ["prank-block", "prank-escape-0"])
async def test_the_escape_key_reaches_a_call_taker(during: str) -> None:
    gate, service = gate_with(3)
    service.call_started("1.1", CALLER, "default")
    channel = FakeChannel(keys={during: "0"})
    result, steps = await before_menu(gate, channel)
    assert (result.blocked, result.escape_digit, channel.variables) == (False, "0", {})
    assert steps[-1] == ("prank.escape", {"key": "0"})
    assert service.calls["1.1"].dtmf


async def test_another_key_is_dtmf_but_no_escape() -> None:
    gate, service = gate_with(3)
    service.call_started("1.1", CALLER, "default")
    channel = FakeChannel(keys={"prank-block": "1"})
    result, _ = await before_menu(gate, channel)
    assert result.blocked
    assert "1.1" not in service.calls


async def test_without_the_escape_the_message_says_the_call_ends() -> None:
    gate, service = gate_with(3)
    service.routing = lambda: replace(ROUTING, prank=replace(
        ROUTING.prank, default=replace(POLICY, escape=False)))
    channel = FakeChannel(keys={"prank-blocked": "0"})
    result, _ = await before_menu(gate, channel)
    assert result.blocked and channel.played == ["prank-blocked"]


async def test_a_failed_block_message_lets_the_caller_on() -> None:
    gate, _ = gate_with(3)
    channel = FakeChannel(failing={"prank-block"})
    result, _ = await before_menu(gate, channel)
    assert not result.blocked and channel.variables == {}


async def test_a_hang_up_during_the_block_message_is_a_hang_up() -> None:
    gate, _ = gate_with(3)
    channel = FakeChannel(failing={"prank-block"}, hung_up=True)
    with pytest.raises(AgiHangup):
        await before_menu(gate, channel)


async def test_legacy_numbers_are_never_blocked() -> None:
    gate, _ = gate_with(5)
    channel = FakeChannel()
    legacy = replace(ROUTING, legacy_numbers={"118": "ambulance"})
    facts = CallFacts(trunk="", dialed="118", caller=CALLER, digit=None, at=NOW)
    result = await gate.before_menu(channel, legacy, facts,  # type: ignore[arg-type]
                                    lambda kind, **detail: None)
    assert (result.blocked, result.action.level, result.action.reason) == (
        False, "deprioritise", "legacy-number")


@pytest.mark.parametrize(("strikes", "digit", "priority"), [
    (0, "1", 10), (0, "", 5), (1, "1", 5), (1, "3", 4), (1, "", 4), (2, "", 1), (2, "1", 5),
])
async def test_the_queue_priority_of_the_decision(strikes: int, digit: str,
                                                  priority: int) -> None:
    gate, _ = gate_with(strikes)
    result, _ = await before_menu(gate, FakeChannel())
    decision = route(CallFacts(trunk="", dialed="112", caller=CALLER, digit=digit, at=NOW),
                     ROUTING, {})
    adjusted, detail = gate.priority(decision, ROUTING, result)
    assert adjusted.priority == priority
    assert (detail == {}) == (strikes == 0)
