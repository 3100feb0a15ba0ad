"""The tracker replaying raw AMI traffic (header dicts as Asterisk 22 sends them, typed by
parse_event): dispositions, abandon times and call_events steps."""

from __future__ import annotations

from ntpd_ivr.ami.events import CoreShowChannel, parse_event
from ntpd_ivr.calls.tracker import CallTracker
from ntpd_ivr.calls.values import CallStep, CallUpdate, Record

CALLER = "1795849300.4"


def live_channel_for_tests(uniqueid: str, application: str, duration: int) -> CoreShowChannel:
    return CoreShowChannel(name="CoreShowChannel", received_at=0.0, uniqueid=uniqueid,
                           linkedid=uniqueid, channel="PJSIP/operator-local-0000000a",
                           context="ntpd-emergency", exten="s", caller_number="0811",
                           application=application, duration_seconds=duration)


def ami(event: str, ts: float, **headers: str) -> dict[str, str]:
    return {"Event": event, "Timestamp": f"{ts:.6f}", **headers}


def newchannel(ts: float, uniqueid: str = CALLER) -> dict[str, str]:
    return ami("Newchannel", ts, Channel="PJSIP/operator-local-00000004", ChannelState="0",
               CallerIDNum="081211112222", Context="from-operator", Exten="112",
               Uniqueid=uniqueid, Linkedid=uniqueid)


def hangup(ts: float, uniqueid: str = CALLER, cause: str = "16") -> dict[str, str]:
    return ami("Hangup", ts, Channel="PJSIP/operator-local-00000004", Uniqueid=uniqueid,
               Linkedid=uniqueid, Cause=cause, **{"Cause-txt": "Normal Clearing"})


def member(queue: str = "takers-fire", name: str = "taker-1") -> dict[str, str]:
    return {"Queue": queue, "Interface": f"PJSIP/{name}", "MemberName": name}


def replay(traffic: list[dict[str, str]], tracker: CallTracker | None = None) -> list[Record]:
    tracker = tracker or CallTracker()
    out: list[Record] = []
    for message in traffic:
        event = parse_event(message, received_at=0.0)
        assert event is not None, message
        out.extend(tracker.apply(event))
    return out


def updates(records: list[Record]) -> list[CallUpdate]:
    return [r for r in records if isinstance(r, CallUpdate)]


def steps(records: list[Record]) -> list[tuple[str, float]]:
    return [(r.kind, r.at) for r in records if isinstance(r, CallStep)]


def final(records: list[Record]) -> CallUpdate:
    return updates(records)[-1]


def test_answered_after_a_ring_no_answer() -> None:
    records = replay([
        newchannel(100.0),
        ami("QueueCallerJoin", 103.0, Uniqueid=CALLER, Queue="takers-fire", Position="1",
            Count="1", CallerIDNum="081211112222"),
        ami("AgentCalled", 103.1, Uniqueid=CALLER, DestChannel="PJSIP/taker-1-00000005",
            **member()),
        ami("AgentRingNoAnswer", 108.1, Uniqueid=CALLER, RingTime="5", **member()),
        ami("AgentCalled", 108.2, Uniqueid=CALLER, DestChannel="PJSIP/taker-2-00000006",
            **member(name="taker-2")),
        ami("AgentConnect", 109.0, Uniqueid=CALLER, HoldTime="6", RingTime="1",
            DestUniqueid="1795849300.6", **member(name="taker-2")),
        ami("QueueCallerLeave", 109.0, Uniqueid=CALLER, Queue="takers-fire", Position="1"),
        ami("BridgeEnter", 109.01, Uniqueid=CALLER, BridgeUniqueid="b-1",
            Channel="PJSIP/operator-local-00000004"),
        ami("BridgeLeave", 120.0, Uniqueid=CALLER, BridgeUniqueid="b-1",
            Channel="PJSIP/operator-local-00000004"),
        hangup(120.1),
        # app_queue reports the completed call after the caller's Hangup.
        ami("AgentComplete", 120.2, Uniqueid=CALLER, HoldTime="6", TalkTime="11",
            Reason="caller", **member(name="taker-2")),
    ])
    answered = [u for u in updates(records) if u.answered_at is not None]
    assert [(u.answered_at, u.answered_by, u.disposition) for u in answered] == [
        (109.0, "taker-2", "answered")]
    end = final(records)
    assert (end.ended_at, end.disposition, end.abandoned_at) == (120.1, "answered", None)
    assert steps(records) == [
        ("queue.join", 103.0), ("agent.called", 103.1), ("agent.ring_no_answer", 108.1),
        ("agent.called", 108.2), ("agent.connect", 109.0), ("queue.leave", 109.0),
        ("bridge.enter", 109.01), ("bridge.leave", 120.0), ("hangup", 120.1),
        ("agent.complete", 120.2)]
    ring = next(r for r in records if isinstance(r, CallStep)
                and r.kind == "agent.ring_no_answer")
    assert ring.detail == {"queue": "takers-fire", "member": "taker-1",
                           "interface": "PJSIP/taker-1", "ring_time": 5}


def test_abandoned_in_queue() -> None:
    records = replay([
        newchannel(200.0),
        ami("QueueCallerJoin", 204.0, Uniqueid=CALLER, Queue="takers-default", Position="1"),
        ami("QueueCallerAbandon", 230.5, Uniqueid=CALLER, Queue="takers-default",
            Position="1", OriginalPosition="1", HoldTime="26"),
        hangup(230.6),
    ])
    abandon = [u for u in updates(records) if u.abandoned_at is not None]
    assert [(u.abandoned_at, u.disposition) for u in abandon] == [(230.5, "abandoned-in-queue")]
    assert final(records).disposition == "abandoned-in-queue"
    assert ("queue.abandon", 230.5) in steps(records)


def test_hung_up_in_the_ivr() -> None:
    records = replay([newchannel(300.0), hangup(302.5)])
    assert (final(records).ended_at, final(records).disposition) == (302.5, "hung-up-in-ivr")


def test_queued_caller_hanging_up_without_an_abandon_event_is_abandoned() -> None:
    records = replay([
        newchannel(400.0),
        ami("QueueCallerJoin", 401.0, Uniqueid=CALLER, Queue="takers-default", Position="1"),
        hangup(409.0),
    ])
    assert final(records).disposition == "abandoned-in-queue"


def test_other_channels_are_not_recorded() -> None:
    taker = "1795849300.6"
    records = replay([
        ami("Newchannel", 1.0, Channel="PJSIP/taker-1-00000006", Context="from-takers",
            Exten="s", Uniqueid=taker, Linkedid=CALLER),
        ami("BridgeEnter", 2.0, Uniqueid=taker, BridgeUniqueid="b", Channel="x"),
        hangup(3.0, uniqueid=taker),
    ])
    assert records == []


def test_a_call_picked_up_by_resync_gets_no_guessed_disposition() -> None:
    tracker = CallTracker()
    [arrival] = tracker.resync([live_channel_for_tests(CALLER, "Queue", 20)], now=1000.0)
    assert arrival.arrived_at == 980.0
    records = replay([hangup(1010.0)], tracker)
    assert final(records).ended_at == 1010.0
    assert final(records).disposition is None, "unknown: the CDR reconciliation decides"

    tracker = CallTracker()
    tracker.resync([live_channel_for_tests(CALLER, "Queue", 20)], now=1000.0)
    records = replay([ami("AgentConnect", 1005.0, Uniqueid=CALLER, HoldTime="25",
                          RingTime="1", DestUniqueid="t", **member()),
                      hangup(1010.0)], tracker)
    assert final(records).disposition == "answered"
