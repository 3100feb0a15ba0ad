"""What the end-to-end fault tests (tests/e2e/test_records_faults.py) showed, pinned
down as units: real CDR lines with epoch times, and calls whose end the tracker saw but
whose disposition was lost with AMI."""

from __future__ import annotations

from ntpd_ivr.ami.events import AgentConnect, Hangup
from ntpd_ivr.calls.reconcile import parse_cdr
from ntpd_ivr.calls.tracker import CallTracker

from .test_call_tracker import CALLER, call_events, live_channel

# Real Master.csv lines from Asterisk 22.10.1 with asterisk-conf/cdr_custom.conf
# (${CDR(start,u)} etc.): answered; abandoned in the queue after ringing taker-2 (the
# caller's row names taker-2 with NO ANSWER); hung up in the IVR.
ANSWERED = ('""""" <0811111111>","0811111111","s","ntpd-emergency",'
            '"PJSIP/operator-local-00000000","PJSIP/taker-1-00000001","Queue",'
            '"1795850625.194818","1795850625.196938","1795850627.772877","2","2","ANSWERED",'
            '"1795850625.0","1795850625.0"')
ABANDONED = ('""""" <0822222222>","0822222222","s","ntpd-emergency",'
             '"PJSIP/operator-local-00000002","PJSIP/taker-2-00000003","Queue",'
             '"1795850630.354545","1795850630.373015","1795850645.387672","15","15",'
             '"NO ANSWER","1795850630.3","1795850630.3"')
IN_IVR = ('""""" <0833333333>","0833333333","s","ntpd-emergency",'
          '"PJSIP/operator-local-00000004","","AGI","1795850645.843321","1795850645.843622",'
          '"1795850648.900383","3","3","ANSWERED","1795850645.6","1795850645.6"')


def test_real_epoch_cdr_lines() -> None:
    calls = {c.uniqueid: c.update() for c in parse_cdr([ANSWERED, ABANDONED, IN_IVR])}
    answered = calls["1795850625.0"]
    assert (answered.disposition, answered.answered_by, answered.arrived_at,
            answered.ended_at) == ("answered", "taker-1", 1795850625.194818, 1795850627.772877)
    abandoned = calls["1795850630.3"]
    # It rang taker-2, nobody answered: nobody "answered" it.
    assert (abandoned.disposition, abandoned.answered_by) == ("abandoned-in-queue", None)
    in_ivr = calls["1795850645.6"]
    assert (in_ivr.disposition, in_ivr.answered_by) == ("hung-up-in-ivr", None)


def test_the_answering_member_wins_whatever_the_row_order() -> None:
    rang_taker_1 = ANSWERED.replace('"ANSWERED"', '"NO ANSWER"')
    answered_by_2 = ANSWERED.replace("taker-1", "taker-2")
    for rows in ([rang_taker_1, answered_by_2], [answered_by_2, rang_taker_1]):
        [call] = parse_cdr(rows)
        assert (call.update().answered_by, call.disposition()) == ("taker-2", "answered")


def test_a_call_picked_up_by_a_resync_ends_unsettled_and_is_left_to_the_cdr() -> None:
    tracker = CallTracker()
    tracker.resync([live_channel(CALLER, "ntpd-emergency", 3)], now=105.0)
    hangup = call_events()[-1]
    assert isinstance(hangup, Hangup)
    [update, _step] = tracker.apply(hangup)
    assert update.ended_at is not None and update.disposition is None
    assert tracker.unsettled == {CALLER}
    # Reconciliation must not skip it as "seen by the controller".
    assert CALLER not in tracker.recently_ended


def test_a_call_seen_whole_is_settled() -> None:
    tracker = CallTracker()
    for event in call_events():
        tracker.apply(event)
    assert tracker.unsettled == frozenset()
    assert tracker.recently_ended == {CALLER}


def test_a_resynced_call_whose_answer_was_seen_is_settled() -> None:
    tracker = CallTracker()
    tracker.resync([live_channel(CALLER, "ntpd-emergency", 3)], now=104.2)
    connect = next(e for e in call_events() if isinstance(e, AgentConnect))
    tracker.apply(connect)
    [update, _step] = tracker.apply(call_events()[-1])
    assert update.disposition == "answered"
    assert tracker.unsettled == frozenset() and CALLER in tracker.recently_ended
