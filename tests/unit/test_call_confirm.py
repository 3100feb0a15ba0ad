"""What a FastAGI session may write, and when its call is closed as unconfirmed
(ntpd_ivr/calls/confirm.py): fake AMI sessions and a fake clock, no I/O."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ntpd_ivr.agi.protocol import AgiRequest, parse_request
from ntpd_ivr.calls.confirm import AgiRecords, CallConfirmations
from ntpd_ivr.calls.values import UNCONFIRMED, CallStep, CallUpdate

BOUND = 5.0


@dataclass
class FakeAmi:
    connected: bool = True
    backlog: int = 0
    logged_in_at: float | None = 0.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Sink:
    def __init__(self) -> None:
        self.records: list[CallUpdate | CallStep] = []

    def submit(self, update: CallUpdate | CallStep) -> asyncio.Future[None]:
        self.records.append(update)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def urge(self) -> None:
        pass


def request(uniqueid: str) -> AgiRequest:
    return parse_request(["agi_network_script: emergency-ivr", f"agi_uniqueid: {uniqueid}",
                          "agi_callerid: 0811"])


def setup(*amis: FakeAmi, cdr: bool = False) -> tuple[CallConfirmations, Sink, Clock]:
    sink, clock = Sink(), Clock()
    confirm = CallConfirmations(sink, BOUND, clock=clock)
    for n, ami in enumerate(amis):
        confirm.watch(f"ami{n}", ami)
        confirm.resynced(f"ami{n}")
    confirm.cdr_configured = cdr
    return confirm, sink, clock


def closes(sink: Sink) -> list[str]:
    return [r.uniqueid for r in sink.records
            if isinstance(r, CallUpdate) and r.disposition == UNCONFIRMED]


async def test_a_call_ami_never_shows_is_closed_after_the_bound() -> None:
    confirm, sink, clock = setup(FakeAmi())
    assert confirm.session(request("1.1"))
    clock.now += BOUND - 0.1
    assert confirm.check() == []
    clock.now += 0.2
    assert confirm.check() == ["1.1"]
    [close] = sink.records
    assert isinstance(close, CallUpdate)
    assert (close.disposition, close.ended_at, close.caller_number) == (
        UNCONFIRMED, clock.now, None)
    assert confirm.check() == [] and confirm.closed_total == 1


async def test_a_call_ami_shows_before_or_after_its_session_is_never_closed() -> None:
    confirm, sink, clock = setup(FakeAmi(), FakeAmi())
    confirm.seen("2.1")  # Newchannel came first, as it does
    assert confirm.session(request("2.1"))
    assert confirm.session(request("2.2"))
    confirm.seen("2.2")  # the other node's AMI showed it a moment later
    assert confirm.session(request("2.3"))
    confirm.cdr_read(["2.3"], clock.now)  # ended while AMI was away: in the CDR
    clock.now += 60
    assert confirm.check() == [] and sink.records == []


async def test_nothing_is_closed_while_an_ami_session_is_down_or_behind() -> None:
    local, peer = FakeAmi(), FakeAmi()
    confirm, sink, clock = setup(local, peer)
    assert confirm.session(request("3.1"))
    clock.now += 60
    for broken in ({"connected": False}, {"backlog": 3}):
        for ami in (local, peer):
            for key, value in broken.items():
                setattr(ami, key, value)
            assert confirm.check() == [], (broken, ami)
            ami.connected, ami.backlog = True, 0
    # Logged in again, but not yet resynced: it may still list the call.
    peer.logged_in_at = clock.now
    assert confirm.check() == []
    confirm.resynced("ami1")
    clock.now += BOUND - 0.1
    assert confirm.check() == []  # the bound counts from the latest login
    clock.now += 0.2
    assert confirm.check() == ["3.1"]
    assert closes(sink) == ["3.1"]


async def test_after_an_outage_the_cdr_is_read_before_anything_is_closed() -> None:
    local = FakeAmi(logged_in_at=None, connected=False)
    confirm, _, clock = setup(local, cdr=True)
    assert confirm.session(request("4.1"))
    assert confirm.session(request("4.2"))
    clock.now += 30
    local.connected, local.logged_in_at = True, clock.now
    confirm.resynced("ami0")
    clock.now += BOUND + 1
    assert confirm.check() == []  # AMI came back after the sessions: the CDR first
    confirm.cdr_read(["4.1"], clock.now)
    assert confirm.check() == ["4.2"]


async def test_no_ami_session_no_close() -> None:
    confirm, _, clock = setup()
    assert confirm.session(request("5.1"))
    clock.now += 600
    assert confirm.check() == []


async def test_a_second_session_for_one_call_is_refused() -> None:
    confirm, _, _ = setup(FakeAmi())
    assert confirm.session(request("6.1"))
    assert not confirm.session(request("6.1"))
    assert confirm.session(request("6.2"))


async def test_the_ivr_records_never_carry_the_callers_identity() -> None:
    sink = Sink()
    records = AgiRecords(sink)
    records.submit(CallUpdate(uniqueid="7.1", at=1.0, caller_number="+62811", trunk="op",
                              dialed="112", linkedid="7.1", queue="q", arrived_at=1.0))
    records.submit(CallUpdate(uniqueid="7.1", at=2.0, ivr_digit="1"))
    step = CallStep("7.1", 3.0, "ivr.input", {"digit": "1"})
    records.submit(step)
    first, second, third = sink.records
    assert isinstance(first, CallUpdate)
    assert first.changes() == {"dialed": "112", "queue": "q", "arrived_at": 1.0}
    assert second == CallUpdate(uniqueid="7.1", at=2.0, ivr_digit="1")
    assert third is step


async def test_the_other_nodes_identity_is_written_for_calls_that_had_their_session_here(
        ) -> None:
    """Two nodes: node A's controller is down, node A's dialplan falls back to this one.
    Who the caller is comes from node A's AMI (this controller's peer session), and is
    written only for calls whose session ran here (node A's own controller records the
    rest)."""
    confirm, sink, clock = setup(FakeAmi(), FakeAmi())
    before = CallUpdate(uniqueid="8.1", at=1.0, caller_number="+62811", trunk="op")
    after = CallUpdate(uniqueid="8.2", at=2.0, caller_number="+62812", trunk="op")
    elsewhere = CallUpdate(uniqueid="8.3", at=3.0, caller_number="+62813", trunk="op")
    confirm.seen("8.1", before)  # its Newchannel, then its session here
    confirm.seen("8.3", elsewhere)  # its session ran on its own node's controller
    assert sink.records == []
    assert confirm.session(request("8.1"))
    assert sink.records == [before]
    assert confirm.session(request("8.2"))
    confirm.seen("8.2", after)  # the session came first: pending, then confirmed
    assert sink.records == [before, after]
    clock.now += 60
    assert confirm.check() == [] and sink.records == [before, after]
