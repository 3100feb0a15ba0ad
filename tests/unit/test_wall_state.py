"""The wall's state transitions (ntpd_ivr/wall/model.py), table by table: typed AMI events
in, calls and call-takers out; the rebuild from CoreShowChannels and QueueStatus."""

from __future__ import annotations

import pytest

from ntpd_ivr.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AmiEvent,
    BridgeEnter,
    CoreShowChannel,
    Hangup,
    Newchannel,
    QueueCallerJoin,
    QueueEntry,
    QueueMember,
)
from ntpd_ivr.wall.model import (
    AVAILABLE,
    IVR,
    LOGGED_OUT,
    ON_CALL,
    PAUSED,
    QUEUE,
    RINGING,
    TALKING,
    UNREACHABLE,
    WRAP_UP,
    EndedCall,
    Taker,
    WallState,
    taker_at,
    taker_from_members,
)

U = "1700000000.1"


def new(at: float = 100.0, context: str = "from-operator", uniqueid: str = U) -> Newchannel:
    return Newchannel(name="Newchannel", received_at=at, timestamp=at, uniqueid=uniqueid,
                      linkedid=uniqueid, channel="PJSIP/operator-local-00000001",
                      caller_number="+6281234567890", context=context, exten="112")


def join(at: float = 102.0, queue: str = "takers-palembang") -> QueueCallerJoin:
    return QueueCallerJoin(name="QueueCallerJoin", received_at=at, timestamp=at, uniqueid=U,
                           queue=queue, position=1, caller_number="+6281234567890")


def member(kind: type[AmiEvent], at: float, endpoint: str = "taker-1", **extra: object
           ) -> AmiEvent:
    fields: dict[str, object] = {"uniqueid": U, "queue": "takers-palembang",
                                 "interface": f"PJSIP/{endpoint}", "member_name": endpoint}
    if kind is AgentConnect:
        fields.update(hold_time=3, ring_time=1, dest_uniqueid="1700000000.2")
    if kind is AgentComplete:
        fields.update(hold_time=3, talk_time=10, reason="caller")
    if kind is AgentRingNoAnswer:
        fields.update(ring_time=15)
    if kind is AgentCalled:
        fields.update(dest_channel=f"PJSIP/{endpoint}-00000002")
    fields.update(extra)
    return kind(name=kind.__name__, received_at=at, timestamp=at, **fields)


def hangup(at: float = 120.0) -> Hangup:
    return Hangup(name="Hangup", received_at=at, timestamp=at, uniqueid=U, linkedid=U,
                  channel="PJSIP/operator-local-00000001", cause=16, cause_txt="Normal")


def bridged(at: float) -> BridgeEnter:
    return BridgeEnter(name="BridgeEnter", received_at=at, timestamp=at, uniqueid=U,
                       bridge_uniqueid="b-1", channel="PJSIP/operator-local-00000001")


# (events, the call's state after them or None when gone, since, taker)
CALL_CASES = [
    ([new()], IVR, 100.0, ""),
    ([new(), join()], QUEUE, 102.0, ""),
    ([new(), join(), member(AgentCalled, 103.0)], QUEUE, 102.0, ""),
    ([new(), join(), member(AgentConnect, 105.0)], TALKING, 105.0, "taker-1"),
    ([new(), join(), member(AgentConnect, 105.0), bridged(105.1)], TALKING, 105.0, "taker-1"),
    ([new(), bridged(104.0)], TALKING, 104.0, ""),  # an agency's trunk answered
    ([new(), join(), hangup()], None, 0.0, ""),
    ([new(context="from-takers")], None, 0.0, ""),  # a call-taker's own leg is no 112 call
    ([join()], None, 0.0, ""),  # a queue event of a call the wall never saw start
]


@pytest.mark.parametrize(("events", "state", "since", "taker"), CALL_CASES)
def test_a_call_moves_from_ivr_to_queue_to_talking(events: list[AmiEvent], state: str | None,
                                                    since: float, taker: str) -> None:
    wall = WallState()
    for event in events:
        wall.apply(event)
    call = wall.calls.get(U)
    if state is None:
        assert call is None
        return
    assert call is not None
    assert (call.state, call.since, call.taker) == (state, since, taker)
    assert call.arrived_at == 100.0 and call.caller_number == "+6281234567890"


@pytest.mark.parametrize(("events", "answered", "last_state"), [
    ([new(), hangup()], False, IVR),  # hung up in the IVR
    ([new(), join(), hangup()], False, QUEUE),  # abandoned in the queue
    ([new(), join(), member(AgentConnect, 105.0), hangup()], True, TALKING),
    ([new(), bridged(104.0), hangup()], True, TALKING),
])
def test_the_end_of_a_call_says_whether_it_was_answered(events: list[AmiEvent],
                                                        answered: bool, last_state: str) -> None:
    wall = WallState()
    results = [wall.apply(event) for event in events]
    assert results[-1] == (True, EndedCall(U, "+6281234567890", answered, last_state))
    assert all(ended is None for _, ended in results[:-1])


def test_an_event_that_changes_nothing_says_so() -> None:
    wall = WallState()
    assert wall.apply(new()) == (True, None)
    assert wall.apply(join()) == (True, None)
    assert wall.apply(join()) == (False, None)
    assert wall.apply(hangup(130.0)) == (True, EndedCall(U, "+6281234567890", False, QUEUE))
    assert wall.apply(hangup(131.0)) == (False, None)


# (events for taker-1, wrap-up seconds, state after, call)
TAKER_CASES = [
    ([member(AgentCalled, 103.0)], 0.0, RINGING, U),
    ([member(AgentCalled, 103.0), member(AgentRingNoAnswer, 118.0)], 0.0, AVAILABLE, ""),
    ([member(AgentCalled, 103.0), member(AgentConnect, 105.0)], 0.0, ON_CALL, U),
    ([member(AgentConnect, 105.0), member(AgentComplete, 115.0)], 0.0, AVAILABLE, ""),
    ([member(AgentConnect, 105.0), member(AgentComplete, 115.0)], 30.0, WRAP_UP, ""),
    # Another call's ring-out does not end this one.
    ([member(AgentConnect, 105.0), member(AgentRingNoAnswer, 106.0, uniqueid="9.9")], 0.0,
     ON_CALL, U),
    # Nor does another call's end; an end without the caller's id ends this member's call.
    ([member(AgentConnect, 105.0), member(AgentComplete, 115.0, uniqueid="9.9")], 30.0,
     ON_CALL, U),
    ([member(AgentConnect, 105.0), member(AgentComplete, 115.0, uniqueid="")], 30.0,
     WRAP_UP, ""),
]


@pytest.mark.parametrize(("events", "wrapup", "state", "call"), TAKER_CASES)
def test_a_call_takers_state_follows_their_queue_events(events: list[AmiEvent], wrapup: float,
                                                        state: str, call: str) -> None:
    wall = WallState(wrapup_seconds=wrapup)
    for event in events:
        wall.apply(event)
    taker = wall.takers["taker-1"]
    assert (taker.state, taker.call) == (state, call)


def test_wrap_up_ends_after_the_queues_wrap_up_time() -> None:
    taker = Taker("taker-1", WRAP_UP, since=115.0)
    assert taker_at(taker, 140.0, 30.0).state == WRAP_UP
    assert taker_at(taker, 145.0, 30.0) == Taker("taker-1", AVAILABLE, since=145.0)
    paused = Taker("taker-1", WRAP_UP, since=115.0, reason="wrap-up")  # a pause: stays
    assert taker_at(paused, 1000.0, 30.0) == paused


def qm(queue: str, status: int = 1, paused: bool = False, reason: str = "",
       in_call: bool = False, endpoint: str = "taker-1") -> QueueMember:
    return QueueMember(name="QueueMember", received_at=50.0, queue=queue, member_name=endpoint,
                       interface=f"PJSIP/{endpoint}", status=status, paused=paused,
                       in_call=in_call, paused_reason=reason, membership="dynamic")


# (QueueStatus members of taker-1, state, reason)
MEMBER_CASES = [
    ([], LOGGED_OUT, ""),
    ([qm("takers-palembang")], AVAILABLE, ""),
    ([qm("takers-palembang", paused=True, reason="break")], PAUSED, "break"),
    ([qm("takers-palembang", paused=True, reason="wrap-up")], WRAP_UP, "wrap-up"),
    ([qm("a", paused=True, reason="break"), qm("b")], AVAILABLE, ""),  # still takes b's calls
    ([qm("takers-palembang", status=6)], RINGING, ""),
    ([qm("takers-palembang", status=2, in_call=True)], ON_CALL, ""),
    ([qm("takers-palembang", status=5)], UNREACHABLE, ""),
    ([qm("takers-palembang", endpoint="taker-2")], LOGGED_OUT, ""),  # someone else's
]


@pytest.mark.parametrize(("members", "state", "reason"), MEMBER_CASES)
def test_a_call_takers_state_from_queue_status(members: list[QueueMember], state: str,
                                               reason: str) -> None:
    taker = taker_from_members("taker-1", members, None, now=200.0, wrapup_seconds=0.0)
    assert (taker.state, taker.reason, taker.since) == (state, reason, 200.0)


def test_queue_status_keeps_the_since_of_an_unchanged_state_and_a_running_wrap_up() -> None:
    before = Taker("taker-1", AVAILABLE, since=10.0, queues=("takers-palembang",))
    assert taker_from_members("taker-1", [qm("takers-palembang")], before, 200.0, 0.0) == before
    wrapping = Taker("taker-1", WRAP_UP, since=190.0)
    assert taker_from_members("taker-1", [qm("takers-palembang")], wrapping, 200.0,
                              30.0).state == WRAP_UP
    assert taker_from_members("taker-1", [qm("takers-palembang")], wrapping, 221.0,
                              30.0).state == AVAILABLE


def channel(uniqueid: str, application: str, duration: int, context: str = "ntpd-emergency",
            linkedid: str | None = None) -> CoreShowChannel:
    return CoreShowChannel(name="CoreShowChannel", received_at=300.0, uniqueid=uniqueid,
                           linkedid=linkedid or uniqueid, channel="PJSIP/operator-local-01",
                           context=context, exten="s", caller_number="+628111",
                           application=application, duration_seconds=duration)


def test_rebuilt_from_core_show_channels_and_queue_status_after_a_restart() -> None:
    wall = WallState()
    wall.apply(new(uniqueid="1.99"))  # ended while AMI was away: gone after the rebuild
    channels = [channel("1.1", "AGI", 4), channel("1.2", "Queue", 20),
                channel("1.3", "Queue", 60), channel("1.4", "Dial", 30),
                channel("1.5", "AppDial", 30, context="from-takers", linkedid="1.3")]
    entries = [QueueEntry(name="QueueEntry", received_at=300.0, queue="takers-palembang",
                          uniqueid="1.2", position=1, wait=15, caller_number="+628111")]
    members = [qm("takers-palembang", status=2, in_call=True)]
    wall.resync(channels, entries, members, known=["taker-1", "taker-9"], now=300.0)
    states = {u: (c.state, c.since, c.queue) for u, c in wall.calls.items()}
    assert states == {"1.1": (IVR, 296.0, ""), "1.2": (QUEUE, 285.0, "takers-palembang"),
                      "1.3": (TALKING, 300.0, ""), "1.4": (TALKING, 300.0, "")}
    assert {e: t.state for e, t in wall.takers.items()} == {"taker-1": ON_CALL,
                                                            "taker-9": LOGGED_OUT}
    shown = wall.to_json()
    assert [c["uniqueid"] for c in shown["ivr"]] == ["1.1"]
    assert [c["uniqueid"] for c in shown["queues"]["takers-palembang"]] == ["1.2"]
    assert {c["uniqueid"] for c in shown["talking"]} == {"1.3", "1.4"}


def test_events_replayed_over_a_rebuild_land_where_they_would_have() -> None:
    """The lists were taken while these events arrived: applying them again, in order,
    over the rebuilt state gives the state as it is."""
    wall = WallState()
    # Asterisk's lists show the call waiting; the events around them: its start, its
    # join (both before the lists) and its answer (after them).
    channels = [channel(U, "Queue", 3)]
    entries = [QueueEntry(name="QueueEntry", received_at=300.0, queue="takers-palembang",
                          uniqueid=U, position=1, wait=1, caller_number="+628111")]
    wall.resync(channels, entries, [], known=[], now=300.0)
    assert wall.apply(new(297.0)) == (False, None)  # a uniqueid starts once
    assert (wall.calls[U].state, wall.calls[U].since) == (QUEUE, 299.0)
    for event in (join(299.0), member(AgentConnect, 301.0)):
        wall.apply(event)
    call = wall.calls[U]
    assert (call.state, call.taker, call.since) == (TALKING, "taker-1", 301.0)


NOTE = {"region": "muba", "region_name": "Kabupaten Musi Banyuasin",
        "neighbour": "muba-center", "neighbour_name": "Muba Siaga 112"}


def test_an_overflowed_call_carries_its_note_until_it_hangs_up() -> None:
    """The IVR may tell the wall before the call's Newchannel is read: the mark waits for
    it, shows on the call in every state, and goes with the Hangup."""
    state = WallState()
    assert state.mark_overflow(U, NOTE) is False  # not on the wall yet: nothing to push
    state.apply(new(context="from-neighbour"))
    [shown] = state.to_json()["ivr"]
    assert shown["overflow"] == NOTE
    state.apply(join())
    [queued] = state.to_json()["queues"]["takers-palembang"]
    assert queued["overflow"] == NOTE
    assert state.mark_overflow(U, NOTE) is True  # live: the wall is pushed again
    state.apply(hangup())
    assert state.overflowed == {} and state.calls == {}


def test_other_calls_carry_no_overflow_and_lost_hangups_are_bounded() -> None:
    state = WallState()
    state.apply(new())
    assert "overflow" not in state.to_json()["ivr"][0]
    for n in range(10_005):  # their Hangups never came (an AMI outage)
        state.mark_overflow(f"1700000001.{n}", NOTE)
    assert len(state.overflowed) == 10_000
    assert "1700000001.0" not in state.overflowed and "1700000001.10004" in state.overflowed
