"""A call on a neighbouring 112 center's trunk through the real FastAgiServer and the
EmergencyIvr, with a scripted Asterisk: no menu, the front of its region's queue, the EIDO
the center sent linked by the reference in Call-Info; every fault still queues the caller."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.calls.values import CallUpdate
from ntpd_ivr.ivr.emergency import EmergencyIvr, TransferLink
from ntpd_ivr.settings import IvrSettings
from ntpd_ivr.transfer.model import TRANSFER_PRIORITY
from tests.transfer_fixtures import REMOTE_CALL_ID, routing_with_neighbours

from .conftest import STEP, Dial, serving
from .test_emergency_ivr import SLACK, Menu, Records, ScriptedAsterisk, pressed

REF = "0123456789abcdef0123456789abcdef"
CALL_INFO = f"<http://127.0.0.1:13092/eido/transfers/{REF}>;purpose=EmergencyCallData.eido"
FORM = {"category": "fire", "remote_call_id": REMOTE_CALL_ID,
        "remote_incident_id": "urn:emergency:uid:incidentid:42:b.example"}


class Link:
    """The transfer plugin's link, ours: what it was asked, what it answers."""

    def __init__(self, answer: str = "form") -> None:
        self.asked: list[tuple[str, str, str]] = []
        self.answer = answer

    async def link(self, uniqueid: str, neighbour: str,
                   reference: str) -> Mapping[str, Any] | None:
        self.asked.append((uniqueid, neighbour, reference))
        if self.answer == "hangs":
            await asyncio.Event().wait()
        if self.answer == "fails":
            raise OSError("database down")
        return FORM if self.answer == "form" else None


async def place(dial: Dial, tmp_path: Path, trunk: str, call_info: str = CALL_INFO,
                link: TransferLink | None = None,
                menus: Mapping[str, Menu] | None = None) -> tuple[ScriptedAsterisk, Records]:
    records = Records()
    ivr = EmergencyIvr(IvrSettings(prompts_dir="/prompts"), records,
                       routing_with_neighbours(tmp_path), transfer=lambda: link)
    args = ("112", trunk, "", "", base64.b64encode(call_info.encode()).decode())
    async with serving({dp.SCRIPT_EMERGENCY_IVR: ivr}, call_budget_seconds=5.0) as server:
        asterisk = ScriptedAsterisk(await dial(server.port, args=args), menus or {})
        await asterisk.serve(5.0 + STEP + SLACK)
    return asterisk, records


async def test_a_neighbours_call_skips_the_menu_and_goes_to_the_front_of_its_queue(
        dial: Dial, tmp_path: Path) -> None:
    link = Link()
    asterisk, records = await place(dial, tmp_path, "center-banyuasin", link=link)
    assert asterisk.prompts == []  # no menu: ScriptedAsterisk fails on any GET DATA
    assert asterisk.variables == {
        dp.VAR_DIGIT: "", dp.VAR_CATEGORY: "fire", dp.VAR_ROUTE_REASON: "transfer",
        dp.VAR_QUEUE_PRIO: str(TRANSFER_PRIORITY), dp.VAR_AGENCY: "",
        dp.VAR_QUEUE: "takers-muba"}
    assert link.asked == [("1732771200.1", "banyuasin", REF)]
    [final] = records.routed()
    assert (final.region, final.queue, final.route_reason, final.priority) == (
        "muba", "takers-muba", "transfer", TRANSFER_PRIORITY)
    [step] = records.steps("transfer.received")
    assert step.detail["remote_call_id"] == REMOTE_CALL_ID  # the link to the first call
    assert (step.detail["neighbour"], step.detail["eido"]) == ("banyuasin", "linked")
    [arrived] = [r for r in records.kept if isinstance(r, CallUpdate) and r.arrived_at]
    assert arrived.trunk == "center-banyuasin"


@pytest.mark.parametrize(("call_info", "answer", "why"), [
    ("", "form", "no EIDO reference in Call-Info"),
    (CALL_INFO, "none", "no EIDO of this neighbour under that reference"),
    (CALL_INFO, "hangs", "EIDO link timed out"),
    (CALL_INFO, "fails", "EIDO link failed"),
])
async def test_without_its_eido_the_caller_still_goes_to_the_front_of_the_queue(
        dial: Dial, tmp_path: Path, call_info: str, answer: str, why: str) -> None:
    asterisk, records = await place(dial, tmp_path, "center-banyuasin", call_info,
                                    Link(answer))
    assert asterisk.prompts == []
    assert (asterisk.variables[dp.VAR_QUEUE], asterisk.variables[dp.VAR_CATEGORY],
            asterisk.variables[dp.VAR_QUEUE_PRIO]) == (
        "takers-muba", "unclassified", str(TRANSFER_PRIORITY))
    [step] = records.steps("transfer.received")
    assert step.detail["eido"] == why


async def test_an_operators_call_with_a_call_info_header_still_hears_the_menu(
        dial: Dial, tmp_path: Path) -> None:
    """Only the trunk makes a neighbour's call: a header any caller can send does not."""
    link = Link()
    asterisk, records = await place(dial, tmp_path, "operator-local", link=link,
                                    menus={"id/menu": Menu(pressed("2"))})
    assert [p for p, _ in asterisk.prompts] == ["id/menu"]
    assert asterisk.variables[dp.VAR_ROUTE_REASON] == "menu"
    assert asterisk.variables[dp.VAR_QUEUE_PRIO] != str(TRANSFER_PRIORITY)
    assert link.asked == [] and records.steps("transfer.received") == []
