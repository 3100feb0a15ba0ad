"""parse_event over AMI messages shaped like Asterisk 22 writes them."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest

from ntpd_ivr.ami.events import (
    ActionResponse,
    AgencyTrunkAttempt,
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AmiEvent,
    BridgeEnter,
    BridgeLeave,
    CallbackResult,
    ChannelTalkingStart,
    ConfbridgeLeave,
    ConfbridgeList,
    CoreShowChannel,
    DispatchKey,
    FullyBooted,
    Hangup,
    Newchannel,
    OriginateResponse,
    OtherEvent,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueSummary,
    TransferKey,
    WarningOutcome,
    parse_event,
    parse_response,
)


def msg(text: str) -> dict[str, str]:
    """'Key: value' lines, as panoramisk hands them over."""
    pairs = (line.partition(":") for line in text.strip().splitlines() if line.strip())
    return {key.strip(): value.strip() for key, _, value in pairs}


# Asterisk's channel snapshot, as ast_manager_build_channel_state_string writes it.
CALLER = """
Channel: PJSIP/operator-telkomsel-0000000a
ChannelState: 4
ChannelStateDesc: Ring
CallerIDNum: 081234567890
CallerIDName: <unknown>
ConnectedLineNum: <unknown>
ConnectedLineName: <unknown>
Language: id
AccountCode:
Context: from-operator
Exten: 112
Priority: 1
Uniqueid: 1718000000.10
Linkedid: 1718000000.10
"""
MEMBER = "\n".join("Dest" + line for line in """
Channel: PJSIP/taker-07-0000000b
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 2007
Uniqueid: 1718000000.11
Linkedid: 1718000000.10
""".strip().splitlines())
PRIV = "Privilege: agent,all\nTimestamp: 1718000012.345678\n"

AT = 1718000013.0
CASES: list[tuple[str, AmiEvent]] = [
    ("Event: Newchannel\nPrivilege: call,all\nTimestamp: 1718000012.345678\n" + CALLER,
     Newchannel(name="Newchannel", received_at=AT, timestamp=1718000012.345678,
                uniqueid="1718000000.10", linkedid="1718000000.10",
                channel="PJSIP/operator-telkomsel-0000000a", caller_number="+6281234567890",
                context="from-operator", exten="112")),
    ("Event: Hangup\n" + PRIV + CALLER + "Cause: 16\nCause-txt: Normal Clearing",
     Hangup(name="Hangup", received_at=AT, timestamp=1718000012.345678,
            uniqueid="1718000000.10", linkedid="1718000000.10",
            channel="PJSIP/operator-telkomsel-0000000a", cause=16, cause_txt="Normal Clearing")),
    ("Event: QueueCallerJoin\n" + PRIV + CALLER + "Queue: q-ambulans\nPosition: 2\nCount: 2",
     QueueCallerJoin(name="QueueCallerJoin", received_at=AT, timestamp=1718000012.345678,
                     uniqueid="1718000000.10", queue="q-ambulans", position=2,
                     caller_number="+6281234567890")),
    ("Event: QueueCallerLeave\n" + PRIV + CALLER + "Queue: q-ambulans\nCount: 0\nPosition: 1",
     QueueCallerLeave(name="QueueCallerLeave", received_at=AT, timestamp=1718000012.345678,
                      uniqueid="1718000000.10", queue="q-ambulans", position=1)),
    ("Event: QueueCallerAbandon\n" + PRIV + CALLER
     + "Queue: q-ambulans\nPosition: 1\nOriginalPosition: 3\nHoldTime: 41",
     QueueCallerAbandon(name="QueueCallerAbandon", received_at=AT, timestamp=1718000012.345678,
                        uniqueid="1718000000.10", queue="q-ambulans", position=1,
                        original_position=3, hold_time=41)),
    ("Event: AgentCalled\n" + PRIV + CALLER + MEMBER
     + "\nQueue: q-ambulans\nMemberName: Taker 07\nInterface: PJSIP/taker-07",
     AgentCalled(name="AgentCalled", received_at=AT, timestamp=1718000012.345678,
                 uniqueid="1718000000.10", queue="q-ambulans", interface="PJSIP/taker-07",
                 member_name="Taker 07", dest_channel="PJSIP/taker-07-0000000b",
                 caller_number="+6281234567890")),
    ("Event: AgentConnect\n" + PRIV + CALLER + MEMBER
     + "\nQueue: q-ambulans\nMemberName: Taker 07\nInterface: PJSIP/taker-07\n"
       "RingTime: 3\nHoldTime: 12",
     AgentConnect(name="AgentConnect", received_at=AT, timestamp=1718000012.345678,
                  uniqueid="1718000000.10", queue="q-ambulans", interface="PJSIP/taker-07",
                  member_name="Taker 07", hold_time=12, ring_time=3,
                  dest_uniqueid="1718000000.11")),
    ("Event: AgentComplete\n" + PRIV + CALLER + MEMBER
     + "\nQueue: q-ambulans\nMemberName: Taker 07\nInterface: PJSIP/taker-07\n"
       "HoldTime: 12\nTalkTime: 95\nReason: caller",
     AgentComplete(name="AgentComplete", received_at=AT, timestamp=1718000012.345678,
                   uniqueid="1718000000.10", queue="q-ambulans", interface="PJSIP/taker-07",
                   member_name="Taker 07", hold_time=12, talk_time=95, reason="caller")),
    ("Event: AgentRingNoAnswer\n" + PRIV + CALLER + MEMBER
     + "\nQueue: q-ambulans\nMemberName: Taker 07\nInterface: PJSIP/taker-07\nRingTime: 15",
     AgentRingNoAnswer(name="AgentRingNoAnswer", received_at=AT, timestamp=1718000012.345678,
                       uniqueid="1718000000.10", queue="q-ambulans",
                       interface="PJSIP/taker-07", member_name="Taker 07", ring_time=15)),
    ("Event: BridgeEnter\nPrivilege: call,all\nBridgeUniqueid: 5a1e-b7\nBridgeType: basic\n"
     "BridgeNumChannels: 2\n" + CALLER + "SwapUniqueid: ",
     BridgeEnter(name="BridgeEnter", received_at=AT, uniqueid="1718000000.10",
                 bridge_uniqueid="5a1e-b7", channel="PJSIP/operator-telkomsel-0000000a")),
    ("Event: BridgeLeave\nPrivilege: call,all\nBridgeUniqueid: 5a1e-b7\nBridgeType: basic\n"
     "BridgeNumChannels: 1\n" + CALLER,
     BridgeLeave(name="BridgeLeave", received_at=AT, uniqueid="1718000000.10",
                 bridge_uniqueid="5a1e-b7", channel="PJSIP/operator-telkomsel-0000000a")),
    ("Event: FullyBooted\nPrivilege: system,all\nUptime: 12\nLastReload: 12\n"
     "Status: Fully Booted",
     FullyBooted(name="FullyBooted", received_at=AT, uptime=12)),
    ("Event: CoreShowChannel\nActionID: a/1\n" + CALLER.replace("081234567890", "<unknown>")
     + "BridgeId: \nApplication: Queue\nApplicationData: q-ambulans\nDuration: 01:02:03",
     CoreShowChannel(name="CoreShowChannel", received_at=AT, uniqueid="1718000000.10",
                     linkedid="1718000000.10", channel="PJSIP/operator-telkomsel-0000000a",
                     context="from-operator", exten="112", caller_number="unknown",
                     application="Queue", duration_seconds=3723)),
    ("Event: QueueMember\nQueue: q-ambulans\nName: Taker 07\nLocation: PJSIP/taker-07\n"
     "StateInterface: PJSIP/taker-07\nMembership: dynamic\nPenalty: 2\nCallsTaken: 4\n"
     "LastCall: 1718000000\nLastPause: 0\nLoginTime: 1717990000\nInCall: 1\nStatus: 2\n"
     "Paused: 0\nPausedReason: \nWrapuptime: 0\nActionID: a/2",
     QueueMember(name="QueueMember", received_at=AT, queue="q-ambulans",
                 member_name="Taker 07", interface="PJSIP/taker-07", status=2, paused=False,
                 in_call=True, membership="dynamic", state_interface="PJSIP/taker-07",
                 penalty=2)),
    ("Event: QueueEntry\nQueue: q-ambulans\nPosition: 1\n"
     "Channel: PJSIP/operator-telkomsel-0000000a\nUniqueid: 1718000000.10\n"
     "CallerIDNum: unknown\nCallerIDName: unknown\nConnectedLineNum: unknown\n"
     "ConnectedLineName: unknown\nWait: 37\nPriority: 0\nActionID: a/2",
     QueueEntry(name="QueueEntry", received_at=AT, queue="q-ambulans",
                uniqueid="1718000000.10", position=1, wait=37, caller_number="unknown")),
    ("Event: QueueSummary\nQueue: takers-default\nLoggedIn: 2\nAvailable: 1\nCallers: 3\n"
     "HoldTime: 4\nTalkTime: 0\nLongestHoldTime: 27\nActionID: a/3",
     QueueSummary(name="QueueSummary", received_at=AT, queue="takers-default", logged_in=2,
                  available=1, callers=3, longest_hold_time=27)),
    ("Event: UserEvent\nPrivilege: user,all\nChannel: PJSIP/operator-local-00000007\n"
     "Uniqueid: 1700000000.7\nUserEvent: NTPDTrunkAttempt\nAgency: palembang-damkar\n"
     "Attempt: backup\nTrunk: PJSIP/agency-damkar-plg-backup\nResult: BUSY\nCause: 17",
     AgencyTrunkAttempt(name="UserEvent", received_at=AT, uniqueid="1700000000.7",
                        agency="palembang-damkar", attempt="backup",
                        trunk="PJSIP/agency-damkar-plg-backup", result="BUSY", cause="17")),
    ("Event: OriginateResponse\nPrivilege: call,all\nActionID: ntpd-dispatch-3-1\n"
     "Response: Failure\nChannel: PJSIP/agency-damkar-plg\nContext: ntpd-dispatch-agency\n"
     "Exten: s\nApplication: \nData: \nReason: 0\nUniqueid: ntpd-dispatch-3-1\n"
     "CallerIDNum: <unknown>\nCallerIDName: <unknown>",
     OriginateResponse(name="OriginateResponse", received_at=AT,
                       action_id="ntpd-dispatch-3-1", response="Failure",
                       channel="PJSIP/agency-damkar-plg", reason=0,
                       uniqueid="ntpd-dispatch-3-1")),
    ("Event: UserEvent\nPrivilege: user,all\nChannel: PJSIP/agency-damkar-plg-00000002\n"
     "Uniqueid: ntpd-dispatch-3-1\nContext: ntpd-dispatch-agency\n"
     "UserEvent: NTPDDispatchKey\nDispatch: 3\nCaller: 1700000000.7\nResult: accept",
     DispatchKey(name="UserEvent", received_at=AT, uniqueid="ntpd-dispatch-3-1",
                 channel="PJSIP/agency-damkar-plg-00000002", dispatch=3,
                 caller="1700000000.7", result="accept")),
    ("Event: UserEvent\nPrivilege: user,all\nChannel: PJSIP/center-banyuasin-00000004\n"
     "Uniqueid: ntpd-transfer-" + "ab" * 16 + "\nContext: ntpd-transfer-neighbour\n"
     "UserEvent: NTPDTransferKey\nTransfer: " + "ab" * 16 + "\nCaller: 1700000000.7\n"
     "Result: refuse",
     TransferKey(name="UserEvent", received_at=AT, uniqueid="ntpd-transfer-" + "ab" * 16,
                 channel="PJSIP/center-banyuasin-00000004", transfer="ab" * 16,
                 caller="1700000000.7", result="refuse")),
    ("Event: ConfbridgeLeave\nPrivilege: call,all\nConference: ntpd-dispatch-3\n"
     "BridgeUniqueid: 4c72\nBridgeType: base\nChannel: PJSIP/taker-1-00000001\n"
     "Uniqueid: 1700000000.8\nAdmin: No",
     ConfbridgeLeave(name="ConfbridgeLeave", received_at=AT, uniqueid="1700000000.8",
                     channel="PJSIP/taker-1-00000001", conference="ntpd-dispatch-3")),
    ("Event: ConfbridgeList\nActionID: a/4\nConference: ntpd-dispatch-3\nAdmin: No\n"
     "MarkedUser: Yes\nWaitMarked: No\nEndMarked: No\nWaiting: No\nMuted: No\n"
     "Talking: No\nAnsweredTime: 12\nChannel: PJSIP/operator-local-00000000\n"
     "Uniqueid: 1700000000.7",
     ConfbridgeList(name="ConfbridgeList", received_at=AT, conference="ntpd-dispatch-3",
                    channel="PJSIP/operator-local-00000000", uniqueid="1700000000.7",
                    marked=True)),
    # A warning campaign's call (ntpd_ivr/campaigns): how the Originate went, and the key.
    ("Event: OriginateResponse\nPrivilege: call,all\nActionID: 42\nResponse: Failure\n"
     "Channel: PJSIP/081234567894@warning-trunk\nContext: ntpd-warning\nExten: s\n"
     "Reason: 5\nUniqueid: w3-17-1\nCallerIDNum: <unknown>",
     OriginateResponse(name="OriginateResponse", received_at=AT, action_id="42",
                       response="Failure", channel="PJSIP/081234567894@warning-trunk",
                       reason=5, uniqueid="w3-17-1")),
    ("Event: UserEvent\nPrivilege: user,all\nChannel: PJSIP/warning-trunk-0000002a\n"
     "Uniqueid: w3-18-2\nUserEvent: NTPDWarning\nOutcome: confirmed\nPlays: 2",
     WarningOutcome(name="UserEvent", received_at=AT, uniqueid="w3-18-2",
                    outcome="confirmed", plays="2")),
    ("Event: UserEvent\nPrivilege: user,all\nChannel: PJSIP/taker-1-00000009\n"
     "Uniqueid: 1700000000.9\nUserEvent: NTPDCallbackResult\nCallback: 12\nResult: NOANSWER\n"
     "Cause: 19",
     CallbackResult(name="UserEvent", received_at=AT, callback="12", result="NOANSWER",
                    cause="19")),
    ("Event: OriginateResponse\nPrivilege: call,all\nActionID: 42\nResponse: Failure\n"
     "Channel: PJSIP/taker-1\nContext: ntpd-callback\nExten: s\nApplication: \nData: \n"
     "Reason: 3\nUniqueid: <null>\nCallerIDNum: +6281234",
     OriginateResponse(name="OriginateResponse", received_at=AT, action_id="42",
                       response="Failure", reason=3, channel="PJSIP/taker-1",
                       uniqueid="<null>")),
    ("Event: UserEvent\nUniqueid: 1.3\nUserEvent: SomethingElse\nFoo: bar",
     OtherEvent(name="UserEvent", received_at=AT, fields=(
         ("Uniqueid", "1.3"), ("UserEvent", "SomethingElse"), ("Foo", "bar")))),
    ("Event: VarSet\nPrivilege: dialplan,all\nChannel: PJSIP/x-01\nUniqueid: 1.2\n"
     "Variable: NTPD_CATEGORY\nValue: 1",
     OtherEvent(name="VarSet", received_at=AT, fields=(
         ("Privilege", "dialplan,all"), ("Channel", "PJSIP/x-01"), ("Uniqueid", "1.2"),
         ("Variable", "NTPD_CATEGORY"), ("Value", "1")))),
    ("Event: ChannelTalkingStart\nPrivilege: call,all\n" + CALLER,
     ChannelTalkingStart(name="ChannelTalkingStart", received_at=AT,
                         uniqueid="1718000000.10", channel="PJSIP/operator-telkomsel-0000000a")),
    # As node-b sent it under load (the bench, 2026-11-29): no caller and no member
    # channel fields at all, only the queue's.
    ("Event: AgentComplete\nPrivilege: agent,all\nTimestamp: 1795966202.927799\n"
     "SystemName: node-b\nQueue: takers-default\nInterface: PJSIP/taker-1\n"
     "MemberName: taker-1\nHoldTime: 0\nTalkTime: 2\nReason: agent",
     AgentComplete(name="AgentComplete", received_at=AT, timestamp=1795966202.927799,
                   uniqueid="", queue="takers-default", interface="PJSIP/taker-1",
                   member_name="taker-1", hold_time=0, talk_time=2, reason="agent")),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[e.name for _, e in CASES])
def test_parse_event_types_each_message(text: str, expected: AmiEvent) -> None:
    assert parse_event(msg(text), received_at=AT) == expected


def test_every_typed_class_has_a_case() -> None:
    typed = {cls for cls in AmiEvent.__subclasses__()
             if cls not in (OtherEvent, ActionResponse)}  # responses: parse_response
    assert typed == {type(e) for _, e in CASES} - {OtherEvent}


def test_action_response_keeps_its_headers() -> None:
    response = parse_response(msg("Response: Error\nActionID: a/9\n"
                                  "Message: Channel specified does not exist"), received_at=AT)
    assert (response.response, response.message) == ("Error",
                                                     "Channel specified does not exist")
    assert response.get("actionid") == "a/9" and response.get("Nope") == ""


def test_a_bad_or_missing_uptime_keeps_the_fullybooted_event() -> None:
    # Uptime only hints at a restarted node; the event itself must never be dropped.
    for uptime in ("soon", "", "-3"):
        event = parse_event({"Event": "FullyBooted", "Uptime": uptime}, AT)
        assert event == FullyBooted(name="FullyBooted", received_at=AT, uptime=None)
    event = parse_event({"Event": "FullyBooted"}, AT)
    assert event == FullyBooted(name="FullyBooted", received_at=AT, uptime=None)


def test_received_at_defaults_to_now_and_bad_timestamp_is_none() -> None:
    event = parse_event({"Event": "FullyBooted", "Timestamp": "soon"})
    assert event is not None and event.timestamp is None
    assert abs(event.received_at - time.time()) < 5


def test_header_names_are_case_insensitive_like_panoramisk() -> None:
    event = parse_event({"event": "hangup", "UNIQUEID": "1.1", "linkedid": "1.1",
                         "channel": "PJSIP/a-1", "cause": "17"}, received_at=AT)
    assert isinstance(event, Hangup)
    assert (event.name, event.cause, event.cause_txt) == ("Hangup", 17, "")


def test_queue_member_accepts_the_change_event_spelling_too() -> None:
    event = parse_event({"Event": "QueueMember", "Queue": "q", "MemberName": "T1",
                         "Interface": "PJSIP/t1", "Status": "1", "Paused": "1",
                         "InCall": "0"}, received_at=AT)
    assert isinstance(event, QueueMember)
    assert (event.member_name, event.interface, event.paused) == ("T1", "PJSIP/t1", True)


def test_events_are_frozen() -> None:
    event = parse_event(msg(CASES[1][0]), received_at=AT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.cause = 1  # type: ignore[union-attr]


def _without(text: str, header: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith(header + ":"))


MALFORMED = [
    ("missing Uniqueid", _without(CASES[1][0], "Uniqueid"), "missing Uniqueid"),
    ("empty Uniqueid", CASES[0][0].replace("Uniqueid: 1718000000.10", "Uniqueid: "),
     "missing Uniqueid"),
    ("non-integer Cause", CASES[1][0].replace("Cause: 16", "Cause: normal"), "bad Cause"),
    ("non-integer Position", CASES[2][0].replace("Position: 2", "Position: two"),
     "bad Position"),
    ("missing DestUniqueid", _without(CASES[6][0], "DestUniqueid"), "missing DestUniqueid"),
    ("bad Duration", CASES[12][0].replace("01:02:03", "62 min"), "bad Duration"),
    ("Paused not 0/1", CASES[13][0].replace("Paused: 0", "Paused: maybe"), "bad Paused"),
    ("no Event header", "Response: Success\nActionID: x", "without an Event header"),
]


@pytest.mark.parametrize(("text", "problem"), [(t, p) for _, t, p in MALFORMED],
                         ids=[i for i, _, _ in MALFORMED])
def test_malformed_messages_give_none_and_one_warning(
        text: str, problem: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ntpd_ivr.ami.events"):
        assert parse_event(msg(text), received_at=AT) is None
    assert len(caplog.records) == 1
    assert problem in caplog.records[0].getMessage()


def test_malformed_warning_names_the_event_and_call(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ntpd_ivr.ami.events"):
        parse_event(msg(CASES[1][0].replace("Cause: 16", "Cause: x")))
    record = caplog.records[0]
    assert "Hangup" in record.getMessage()
    assert record.call_id == "1718000000.10"  # type: ignore[attr-defined]
