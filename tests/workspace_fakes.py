"""Fakes we own for the workspace: an Asterisk that keeps queue members as app_queue does
(QueueAdd, QueueRemove, QueuePause, QueueStatus), and a store that keeps audit rows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ntpd_ivr.ami.events import ActionResponse, ActionResult, QueueMember
from ntpd_ivr.errors import AmiError
from ntpd_ivr.workspace.wrapup import WITHOUT_DISPOSITION, WrapUp


@dataclass
class FakeMember:
    paused: bool = False
    reason: str = ""
    dynamic: bool = True


class FakeQueues:
    """app_queue's member list behind AMI; `fail` makes every action an AmiError."""

    def __init__(self) -> None:
        self.members: dict[tuple[str, str], FakeMember] = {}  # (queue, interface)
        self.sent: list[dict[str, str]] = []
        self.fail: str | None = None

    def static(self, queue: str, interface: str) -> None:
        self.members[(queue, interface)] = FakeMember(dynamic=False)

    async def action(self, action: dict[str, str],
                     timeout: float | None = None) -> ActionResult:  # noqa: ASYNC109
        self.sent.append(action)
        if self.fail is not None:
            raise AmiError(self.fail)
        name, interface = action["Action"], action.get("Interface", action.get("Member", ""))
        now = time.time()
        ok = ActionResult(ActionResponse(name="Response", received_at=now,
                                         response="Success", message=""))
        if name == "QueueStatus":
            return ActionResult(ok.response, tuple(
                QueueMember(name="QueueMember", received_at=now, queue=queue,
                            member_name=iface.partition("/")[2], interface=iface, status=1,
                            paused=m.paused, in_call=False, paused_reason=m.reason,
                            membership="dynamic" if m.dynamic else "static")
                for (queue, iface), m in sorted(self.members.items())
                if not interface or iface == interface))
        if name == "QueueAdd":
            key = (action["Queue"], interface)
            if key in self.members:
                raise AmiError("AMI QueueAdd failed: Unable to add interface: Already there")
            self.members[key] = FakeMember(paused=action.get("Paused") == "true")
            return ok
        if name == "QueueRemove":
            member = self.members.get((action["Queue"], interface))
            if member is None or not member.dynamic:
                raise AmiError("AMI QueueRemove failed: Unable to remove interface")
            del self.members[(action["Queue"], interface)]
            return ok
        if name == "QueuePause":
            # With a Queue header, that queue only; without, every queue (app_queue).
            mine = [m for (queue, iface), m in self.members.items() if iface == interface
                    and action.get("Queue", queue) == queue]
            if not mine:
                raise AmiError("AMI QueuePause failed: Interface not found")
            for member in mine:
                member.paused = action["Paused"] == "true"
                member.reason = action.get("Reason", "") if member.paused else ""
            return ok
        raise AssertionError(f"unexpected action {action}")


@dataclass
class FakeStore:
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    lookups: int = 0
    dispositions: set[str] = field(default_factory=set)  # calls with a disposition
    wrapups: list[dict[str, Any]] = field(default_factory=list)  # the `wrapups` rows
    down: bool = False  # the database is unreachable (wrap-up methods raise)

    async def call_row(self, uniqueid: str) -> dict[str, Any] | None:
        self.lookups += 1
        await asyncio.sleep(self.delay)
        return self.rows.get(uniqueid)

    async def caller_history(self, caller_number: str, *, before_uniqueid: str,
                             limit: int) -> list[dict[str, Any]]:
        return [h for h in self.history if h["caller_number"] == caller_number
                and h["uniqueid"] != before_uniqueid][:limit]

    async def audit(self, *, actor: str, action: str, target: str,
                    detail: Mapping[str, Any], outcome: str) -> None:
        self.audits.append({"actor": actor, "action": action, "target": target,
                            "detail": dict(detail), "outcome": outcome})

    def _up(self) -> None:
        if self.down:
            raise ConnectionRefusedError("database unreachable")

    async def disposed(self, uniqueid: str) -> bool:
        self._up()
        return uniqueid in self.dispositions

    async def start_wrapup(self, wrapup: WrapUp) -> None:
        self._up()
        self.wrapups.append({"wrapup": wrapup, "ended_at": None, "outcome": None})
        await self.audit(actor="controller", action="wrapup.started", target=wrapup.endpoint,
                         detail={"call": wrapup.uniqueid}, outcome="ok")

    async def end_wrapup(self, wrapup: WrapUp, outcome: str, at: datetime) -> None:
        self._up()
        for row in self.wrapups:
            if row["wrapup"] == wrapup and row["ended_at"] is None:
                row.update(ended_at=at, outcome=outcome)
        await self.audit(actor="controller", action="wrapup.ended", target=wrapup.endpoint,
                         detail={"call": wrapup.uniqueid}, outcome=outcome)
        if outcome in WITHOUT_DISPOSITION:
            await self.audit(actor="controller", action="call.disposition-missing",
                             target=wrapup.uniqueid, detail={}, outcome=outcome)

    async def pending_wrapups(self) -> list[WrapUp]:
        self._up()
        return [row["wrapup"] for row in self.wrapups if row["ended_at"] is None]
