"""A call another center's edge overflowed here (docs/ha.md, "A second site") through the
real FastAgiServer and EmergencyIvr, with a scripted Asterisk: on a neighbour's trunk, the
X-NTPD-Overflow-Region header makes it overflow for that region: the menu as for our own
callers, queued in the region that lists the neighbour, the region it was for recorded. On
an operator's trunk the same header changes nothing."""

from __future__ import annotations

import base64
from pathlib import Path

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.calls.values import CallUpdate
from ntpd_ivr.ivr.emergency import EmergencyIvr
from ntpd_ivr.ivr.events import CallOverflowed
from ntpd_ivr.settings import IvrSettings
from ntpd_ivr.transfer.model import TRANSFER_PRIORITY
from tests.transfer_fixtures import routing_with_neighbours

from .conftest import STEP, Dial, serving
from .test_emergency_ivr import SLACK, Menu, Records, ScriptedAsterisk, pressed


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def place(dial: Dial, tmp_path: Path, trunk: str, header: str,
                told: list[CallOverflowed] | None = None
                ) -> tuple[ScriptedAsterisk, Records]:
    """`told`: what the IVR told the other domains (the bus: the wall) of the call."""
    records = Records()
    ivr = EmergencyIvr(IvrSettings(prompts_dir="/prompts"), records,
                       routing_with_neighbours(tmp_path),
                       overflowed=(told if told is not None else []).append)
    args = ("112", trunk, "", "", "", b64(header))
    async with serving({dp.SCRIPT_EMERGENCY_IVR: ivr}, call_budget_seconds=5.0) as server:
        asterisk = ScriptedAsterisk(await dial(server.port, args=args),
                                    {"id/menu": Menu(pressed("2"))})
        await asterisk.serve(5.0 + STEP + SLACK)
    return asterisk, records


async def test_an_overflowed_call_hears_the_menu_and_is_queued_where_the_neighbour_is_listed(
        dial: Dial, tmp_path: Path) -> None:
    told: list[CallOverflowed] = []
    asterisk, records = await place(dial, tmp_path, "center-banyuasin", "banyuasin", told)
    assert [(t.trunk, t.overflow_region) for t in told] == [("center-banyuasin", "banyuasin")]
    assert [p for p, _ in asterisk.prompts] == ["id/menu"]
    assert (asterisk.variables[dp.VAR_QUEUE], asterisk.variables[dp.VAR_CATEGORY],
            asterisk.variables[dp.VAR_ROUTE_REASON]) == ("takers-muba", "fire", "menu")
    assert asterisk.variables[dp.VAR_QUEUE_PRIO] != str(TRANSFER_PRIORITY)
    [final] = records.routed()
    assert (final.region, final.queue, final.category) == ("muba", "takers-muba", "fire")
    [step] = records.steps("overflow.received")
    assert (step.detail["neighbour"], step.detail["overflow_region"], step.detail["header"],
            step.detail["region"]) == ("banyuasin", "banyuasin", "ok", "muba")
    assert [r.overflow_region for r in records.kept
            if isinstance(r, CallUpdate) and r.overflow_region] == ["banyuasin"]
    [decision] = records.steps("route.decision")
    assert decision.detail["region_match"] == "overflow"
    assert records.steps("transfer.received") == []


async def test_a_malformed_overflow_header_still_overflows_without_a_region(
        dial: Dial, tmp_path: Path) -> None:
    told: list[CallOverflowed] = []
    asterisk, records = await place(dial, tmp_path, "center-banyuasin", "Banyuasin; drop",
                                    told)
    assert told == []  # no region to name: the wall marks nothing
    assert asterisk.variables[dp.VAR_QUEUE] == "takers-muba"
    [step] = records.steps("overflow.received")
    assert (step.detail["header"], step.detail["overflow_region"]) == ("malformed", "")
    assert not any(isinstance(r, CallUpdate) and r.overflow_region for r in records.kept)


async def test_an_operators_call_with_the_overflow_header_is_an_ordinary_call(
        dial: Dial, tmp_path: Path) -> None:
    """Only a neighbour's trunk makes an overflow: a header any caller can send does not."""
    told: list[CallOverflowed] = []
    asterisk, records = await place(dial, tmp_path, "operator-local", "banyuasin", told)
    assert [p for p, _ in asterisk.prompts] == ["id/menu"]
    assert told == [] and records.steps("overflow.received") == []
    assert not any(isinstance(r, CallUpdate) and r.overflow_region for r in records.kept)
    [decision] = records.steps("route.decision")
    assert decision.detail["region_match"] != "overflow"
