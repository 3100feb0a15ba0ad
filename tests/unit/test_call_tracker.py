"""The tracker folds a real call's AMI events (as Asterisk 22 sent them in the end-to-end
runs) into call-record updates for the caller's channel only."""

from ntpd_ivr.ami.events import (
    AgentCalled,
    AgentConnect,
    CoreShowChannel,
    Hangup,
    Newchannel,
    QueueCallerJoin,
)
from ntpd_ivr.calls.tracker import CallTracker
from ntpd_ivr.calls.values import CallStep, CallUpdate, endpoint_of

CALLER = "1795849218.0"
TAKER = "1795849218.1"


def call_events() -> list:
    return [
        Newchannel(name="Newchannel", received_at=100.5, timestamp=100.0, uniqueid=CALLER,
                   linkedid=CALLER, channel="PJSIP/operator-local-00000000",
                   caller_number="081234567890", context="from-operator", exten="112"),
        QueueCallerJoin(name="QueueCallerJoin", received_at=104.1, timestamp=104.0,
                        uniqueid=CALLER, queue="takers-default", position=1,
                        caller_number="081234567890"),
        Newchannel(name="Newchannel", received_at=104.2, timestamp=104.1, uniqueid=TAKER,
                   linkedid=CALLER, channel="PJSIP/taker-1-00000001", caller_number="",
                   context="from-takers", exten="s"),
        AgentCalled(name="AgentCalled", received_at=104.2, timestamp=104.1, uniqueid=CALLER,
                    queue="takers-default", interface="PJSIP/taker-1", member_name="taker-1",
                    dest_channel="PJSIP/taker-1-00000001"),
        AgentConnect(name="AgentConnect", received_at=104.6, timestamp=104.5, uniqueid=CALLER,
                     queue="takers-default", interface="PJSIP/taker-1", member_name="taker-1",
                     hold_time=0, ring_time=0, dest_uniqueid=TAKER),
        Hangup(name="Hangup", received_at=106.6, timestamp=106.5, uniqueid=TAKER,
               linkedid=CALLER, channel="PJSIP/taker-1-00000001", cause=16,
               cause_txt="Normal Clearing"),
        Hangup(name="Hangup", received_at=106.7, timestamp=106.6, uniqueid=CALLER,
               linkedid=CALLER, channel="PJSIP/operator-local-00000000", cause=16,
               cause_txt="Normal Clearing"),
    ]


def test_a_call_becomes_updates_on_the_callers_record_only() -> None:
    tracker = CallTracker()
    updates = [r for e in call_events() for r in tracker.apply(e) if isinstance(r, CallUpdate)]
    assert {u.uniqueid for u in updates} == {CALLER}
    arrival, queued, answered, ended = updates
    assert (arrival.arrived_at, arrival.trunk, arrival.dialed, arrival.caller_number) == (
        100.0, "operator-local", "112", "+6281234567890")  # canonical, as the CDR stores it
    assert (queued.queue, queued.queued_at) == ("takers-default", 104.0)
    assert (answered.answered_by, answered.answered_at) == ("taker-1", 104.5)
    assert (ended.ended_at, ended.hangup_cause, ended.hangup_cause_text) == (
        106.6, 16, "Normal Clearing")
    assert tracker.tracked == set()


def test_received_time_is_used_without_asterisk_timestamps() -> None:
    event = call_events()[0]
    tracker = CallTracker()
    [update] = tracker.apply(Newchannel(**{**event.__dict__, "timestamp": None}))
    assert isinstance(update, CallUpdate) and update.arrived_at == 100.5


def test_calls_seen_first_by_the_ivr_are_followed_too() -> None:
    tracker = CallTracker()
    tracker.track(CALLER)
    update, step = tracker.apply(call_events()[-1])
    assert isinstance(update, CallUpdate) and update.ended_at == 106.6
    assert isinstance(step, CallStep) and step.kind == "hangup"


def test_endpoint_of_channel_names() -> None:
    assert endpoint_of("PJSIP/operator-local-0000000a") == "operator-local"
    assert endpoint_of("PJSIP/taker-1-00000001") == "taker-1"
    assert endpoint_of("Local/x@y") == "Local/x@y"


def live_channel(uniqueid: str, context: str, duration: int, linkedid: str = "") -> CoreShowChannel:
    return CoreShowChannel(name="CoreShowChannel", received_at=0.0, uniqueid=uniqueid,
                           linkedid=linkedid or uniqueid,
                           channel="PJSIP/operator-local-0000000a", context=context, exten="s",
                           caller_number="0811", application="Queue",
                           duration_seconds=duration)


def test_resync_picks_up_live_calls_and_drops_ended_ones() -> None:
    tracker = CallTracker()
    tracker.track("ended-while-away")
    tracker.track("still-live")
    channels = [
        live_channel("still-live", "ntpd-emergency", 30),
        live_channel("new-in-queue", "ntpd-fallback", 12),
        live_channel("taker-leg", "from-takers", 5, linkedid="still-live"),
        live_channel("not-ours", "default", 5),
    ]
    updates = tracker.resync(channels, now=1000.0)
    assert tracker.tracked == {"still-live", "new-in-queue"}
    assert [(u.uniqueid, u.arrived_at, u.trunk) for u in updates] == [
        ("new-in-queue", 988.0, "operator-local")]
    # The next resync with the same channels adds nothing twice.
    assert tracker.resync(channels, now=1001.0) == []
