"""The recorder tells the reconciliation which node it follows and when that node started:
what closes the calls a dead node left up (calls/reconcile.py)."""

from __future__ import annotations

from ntpd_ivr.ami.events import ActionResponse, ActionResult, FullyBooted
from ntpd_ivr.calls.recorder import BOOT_MARGIN_SECONDS, CallRecorder
from ntpd_ivr.calls.tracker import CallTracker
from ntpd_ivr.errors import AmiError


class FakeReconciler:
    def __init__(self) -> None:
        self.system_name: str | None = None
        self.started: list[float] = []
        self.triggered = 0

    def node_started(self, booted_at: float) -> None:
        self.started.append(booted_at)

    def trigger(self) -> None:
        self.triggered += 1


class FakeAmi:
    def __init__(self, system_name: str | None) -> None:
        self.system_name = system_name
        self.actions: list[str] = []

    async def action(self, action: dict[str, str], timeout: float | None = None  # noqa: ASYNC109
                     ) -> ActionResult:
        self.actions.append(action["Action"])
        if action["Action"] == "CoreSettings":
            if self.system_name is None:
                raise AmiError("AMI CoreSettings: no answer within 5s")
            return ActionResult(ActionResponse(
                name="Response", received_at=0.0, response="Success", message="",
                fields=(("AMIversion", "11.0.0"), ("SystemName", self.system_name))))
        return ActionResult(ActionResponse(name="Response", received_at=0.0,
                                           response="Success", message=""))


def recorder() -> tuple[CallRecorder, FakeReconciler]:
    reconciler = FakeReconciler()
    return CallRecorder(records=None, tracker=CallTracker(),  # type: ignore[arg-type]
                        reconciler=reconciler), reconciler  # type: ignore[arg-type]


async def test_fullybooted_with_uptime_gives_the_node_start_less_a_margin() -> None:
    rec, reconciler = recorder()
    rec.on_event(FullyBooted(name="FullyBooted", received_at=1000.0, uptime=12))
    assert reconciler.started == [1000.0 - 12 - BOOT_MARGIN_SECONDS]


async def test_fullybooted_without_uptime_starts_nothing() -> None:
    rec, reconciler = recorder()
    rec.on_event(FullyBooted(name="FullyBooted", received_at=1000.0))
    assert reconciler.started == []


async def test_each_login_asks_the_node_its_systemname() -> None:
    rec, reconciler = recorder()
    ami = FakeAmi(" node-a ")
    await rec.resync(ami)
    assert ami.actions == ["CoreShowChannels", "CoreSettings"]
    assert reconciler.system_name == "node-a" and reconciler.triggered == 1
    await rec.resync(FakeAmi(""))  # a single node has none: plain uniqueids are its own
    assert reconciler.system_name == ""


async def test_no_systemname_answer_leaves_the_node_unknown_and_resync_goes_on() -> None:
    rec, reconciler = recorder()
    await rec.resync(FakeAmi(None))
    assert reconciler.system_name is None and reconciler.triggered == 1
