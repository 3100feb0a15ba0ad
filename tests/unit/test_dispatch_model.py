"""The pure decisions of a connect dispatch, table by table, and its AMI edge."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import CoreShowChannel, DispatchKey, OriginateResponse, parse_event
from ntpd_ivr.dispatch import ami
from ntpd_ivr.dispatch.model import (
    KEY_RESULTS,
    AnnouncementPrompts,
    BridgedPair,
    NotConnected,
    announcement,
    bridged_pair,
    dispatch_of_leg,
    failure_reason,
    next_trunk,
    originate_outcome,
    redirect_pair,
    trunk_of_channel,
)

DIALPLAN = Path(__file__).resolve().parents[2] / "dialplan"


def response(result: str, reason: int) -> OriginateResponse:
    return OriginateResponse(name="OriginateResponse", received_at=0.0, action_id="a",
                             response=result, channel="PJSIP/agency-x", reason=reason)


@pytest.mark.parametrize(("result", "reason", "cause", "outcome"), [
    ("Success", 4, None, "answered"),
    ("Failure", 5, None, "busy"),
    ("Failure", 3, None, "no-answer"),
    ("Failure", 2, None, "no-answer"),
    ("Failure", 8, None, "unavailable"),
    ("Failure", 0, None, "unavailable"),
    ("Failure", 1, None, "unavailable"),
    ("Failure", 4, None, "failed"),      # answered but its dialplan could not start
    ("Failure", 99, None, "failed"),
    ("Failure", 0, 17, "busy"),          # 486 Busy Here on Asterisk 22.10: reason 0, cause 17
    ("Failure", 1, 19, "no-answer"),
    ("Failure", 0, 21, "unavailable"),   # call rejected
    ("Failure", 3, 16, "no-answer"),     # a cause we do not map: the reason decides
    ("Success", 4, 17, "answered"),
])
def test_originate_outcome(result: str, reason: int, cause: int | None, outcome: str) -> None:
    assert originate_outcome(response(result, reason), cause) == outcome


@pytest.mark.parametrize(("trunks", "outcomes", "expected"), [
    (("p", "b"), [], "p"),
    (("p", "b"), ["busy"], "b"),
    (("p", "b"), ["no-answer"], "b"),
    (("p", "b"), ["failed"], "b"),
    (("p", "b"), ["answered"], None),
    (("p", "b"), ["busy", "answered"], None),
    (("p", "b"), ["busy", "no-answer"], None),
    (("p",), ["unavailable"], None),
    ((), [], None),
])
def test_next_trunk(trunks: tuple[str, ...], outcomes: list[str], expected: str | None
                    ) -> None:
    assert next_trunk(trunks, outcomes) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("outcomes", "reason"), [
    (["busy", "busy"], "busy"), (["no-answer"], "no-answer"),
    (["busy", "no-answer"], "unreachable"), (["failed", "unavailable"], "unreachable"),
])
def test_failure_reason(outcomes: list[str], reason: str) -> None:
    assert failure_reason(outcomes) == reason  # type: ignore[arg-type]


PROMPTS = AnnouncementPrompts(frozenset({"fire"}), {"ilir barat i": "ilir-barat-i"})


def test_announcement_names_the_category_and_a_listed_kecamatan() -> None:
    assert announcement("fire", "  ILIR  barat I ", PROMPTS) == (
        "id/dispatch-intro", "id/dispatch-category-fire", "id/dispatch-kecamatan",
        "id/kecamatan/ilir-barat-i", "id/dispatch-press")


def test_announcement_falls_back_to_generic_phrases() -> None:
    assert announcement("flood", "Kampung Baru", PROMPTS) == (
        "id/dispatch-intro", "id/dispatch-category", "id/dispatch-location-unknown",
        "id/dispatch-press")


def test_the_repositorys_prompts_cover_the_example_categories_and_kecamatan() -> None:
    prompts = AnnouncementPrompts.load()
    assert {"ambulance", "fire", "sar", "police", "disaster"} <= prompts.categories
    assert prompts.kecamatan["ilir barat i"] == "ilir-barat-i"
    assert prompts.kecamatan["sekayu"] == "sekayu"
    source = Path(__file__).resolve().parents[2] / "prompts" / "id"
    said = announcement("fire", "Sekayu", prompts)
    for prompt in said:
        if not prompt.startswith("id/kecamatan/"):
            assert (source / f"{prompt.removeprefix('id/')}.txt").exists(), prompt


def channel(uniqueid: str, name: str, bridge: str = "", context: str = "",
            exten: str = "") -> CoreShowChannel:
    return CoreShowChannel(name="CoreShowChannel", received_at=0.0, uniqueid=uniqueid,
                           linkedid=uniqueid, channel=name, context=context, exten=exten,
                           caller_number="", application="", duration_seconds=1,
                           bridge_id=bridge)


def test_bridged_pair_is_the_caller_and_its_one_peer() -> None:
    channels = [channel("1.1", "PJSIP/operator-local-01", "b1"),
                channel("1.2", "PJSIP/taker-1-02", "b1"),
                channel("1.3", "PJSIP/operator-local-03", "b2"),
                channel("1.4", "PJSIP/taker-2-04", "b2")]
    pair = bridged_pair(channels, "1.3")
    assert (pair.caller_channel, pair.taker_channel, pair.taker_uniqueid) == (
        "PJSIP/operator-local-03", "PJSIP/taker-2-04", "1.4")


@pytest.mark.parametrize(("channels", "why"), [
    ([], "not up"),
    ([channel("1.1", "PJSIP/operator-local-01")], "not connected"),
    ([channel("1.1", "PJSIP/operator-local-01", "b"), channel("1.2", "PJSIP/taker-1-02", "b"),
      channel("1.3", "PJSIP/agency-x-03", "b")], "2 others"),
])
def test_no_bridged_pair(channels: list[CoreShowChannel], why: str) -> None:
    with pytest.raises(NotConnected, match=why):
        bridged_pair(channels, "1.1")


def test_trunk_of_channel() -> None:
    assert trunk_of_channel("PJSIP/agency-damkar-plg-backup-0000002a") == \
        "agency-damkar-plg-backup"


def test_originate_keeps_commas_out_of_its_variables() -> None:
    variables = ami.leg_variables(7, "1.5", "/p", ("id/a", "id/b"), 5, 10)
    action = ami.originate(7, 2, "agency-x", 15, variables)
    assert action["Variable"] == ("NTPD_DISPATCH=7,NTPD_DISPATCH_CALLER=1.5,"
                                  "NTPD_DISPATCH_ANNOUNCE=/p/id/a&/p/id/b,"
                                  "NTPD_DISPATCH_KEY_SECONDS=5,NTPD_DISPATCH_WAIT=10")
    assert (action["Timeout"], action["ActionID"], action["ChannelId"]) == (
        "15000", "ntpd-dispatch-7-2", "ntpd-dispatch-7-2")
    with pytest.raises(ValueError, match="comma"):
        ami.originate(7, 1, "agency-x", 15, {dp.VAR_DISPATCH_CALLER: "a,b"})


def _pattern(exten: str) -> re.Pattern[str]:
    """An Asterisk extension pattern (the subset our dialplan uses) as a regex."""
    body = exten.removeprefix("_")
    out = ""
    for part in re.findall(r"\[[^]]*\]|.", body):  # a [...] class is one part, as is
        out += part if part.startswith("[") and len(part) > 1 else {  # in Asterisk
            "X": "[0-9]", "!": ".*", ".": ".+"}.get(part, re.escape(part))
    return re.compile(out)


def test_the_redirect_extensions_exist_in_the_dispatch_dialplan() -> None:
    text = (DIALPLAN / "ntpd-dispatch.conf").read_text()

    def section(name: str) -> str:
        found = re.search(rf"^\[{name}\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
        assert found is not None, name
        return found.group(1)

    conference, agency = (section(dp.CONTEXT_DISPATCH_CONFERENCE),
                          section(dp.CONTEXT_DISPATCH_AGENCY))
    patterns = [_pattern(e) for e in re.findall(r"^exten => ([^,]+),1,", conference, re.M)]
    action = redirect_pair(7, BridgedPair("PJSIP/op-1", "PJSIP/taker-1-2", "1.2"))
    transfer = redirect_pair("t" + "0a" * 16, BridgedPair("a", "b", "c"))
    for exten in (action["Exten"], action["ExtraExten"], redirect_pair(
            12345, BridgedPair("a", "b", "c"))["Exten"], transfer["Exten"],
                  transfer["ExtraExten"]):
        assert any(p.fullmatch(exten) for p in patterns if p.pattern != "i"), exten
    agency_extens = set(re.findall(r"^exten => ([^,]+),1,", agency, re.M))
    for exten in (dp.EXTEN_DISPATCH_BRIDGE, dp.EXTEN_DISPATCH_CALLER_GONE,
                  dp.EXTEN_DISPATCH_CLOSED, ami.agency_bridge(3, 3)):
        assert ami.redirect_agency("PJSIP/agency-x-1", exten)["Exten"] in agency_extens
    second = ami.agency_bridge(3, 12)
    assert second == "bridge-12"
    assert any(_pattern(e).fullmatch(second) for e in agency_extens if e.startswith("_"))


def test_dispatch_events_are_typed_at_the_edge() -> None:
    originate = parse_event({"Event": "OriginateResponse", "ActionID": "ntpd-dispatch-3-1",
                             "Response": "Failure", "Channel": "PJSIP/agency-x",
                             "Reason": "5", "Uniqueid": "<null>", "Timestamp": "12.5"})
    assert isinstance(originate, OriginateResponse)
    assert (originate.action_id, originate.reason, originate.timestamp) == (
        "ntpd-dispatch-3-1", 5, 12.5)
    key = parse_event({"Event": "UserEvent", "UserEvent": dp.USEREVENT_DISPATCH_KEY,
                       "Uniqueid": "ntpd-dispatch-3-1", "Channel": "PJSIP/agency-x-01",
                       "Dispatch": "3", "Caller": "17.4", "Result": "accept"})
    assert isinstance(key, DispatchKey)
    assert (key.dispatch, key.caller, key.result) == (3, "17.4", "accept")
    assert parse_event({"Event": "UserEvent", "UserEvent": dp.USEREVENT_DISPATCH_KEY,
                        "Uniqueid": "x", "Channel": "c", "Dispatch": "three",
                        "Caller": "1", "Result": "accept"}) is None


def test_every_failure_reason_is_said_on_the_call_takers_desk() -> None:
    from ntpd_ivr.dispatch.model import FAILURE_REASONS
    from ntpd_ivr.i18n import catalogue
    MESSAGES = catalogue().by_language("desk.")

    template = (Path(__file__).resolve().parents[2] / "ntpd_ivr" / "web" / "templates"
                / "workspace.html").read_text()
    for reason in FAILURE_REASONS:
        assert all(f"dispatch.reason.{reason}" in MESSAGES[lang] for lang in MESSAGES)
        assert f'"{reason}"' in template, reason
    assert failure_reason(["busy"]) in FAILURE_REASONS


def test_a_caller_in_no_bridge_is_a_pair_without_a_call_taker_only_when_asked() -> None:
    channels = [channel("1.1", "PJSIP/operator-local-01")]
    assert bridged_pair(channels, "1.1", unbridged_ok=True) == BridgedPair(
        "PJSIP/operator-local-01", None, None)
    with pytest.raises(NotConnected, match="2 others"):  # in a conference: never pulled out
        bridged_pair([channel("1.1", "PJSIP/operator-local-01", "b"),
                      channel("1.2", "PJSIP/taker-1-02", "b"),
                      channel("1.3", "PJSIP/agency-x-03", "b")], "1.1", unbridged_ok=True)
    assert "ExtraChannel" not in redirect_pair(3, BridgedPair("PJSIP/op-1", None, None))



def test_the_dialplan_sends_the_key_results_the_controller_knows() -> None:
    text = (DIALPLAN / "ntpd-dispatch.conf").read_text()
    sent = set(re.findall(r"UserEvent\(NTPDDispatchKey,[^)]*Result: ([a-z-]+)\)", text))
    assert sent == set(KEY_RESULTS)


@pytest.mark.parametrize(("uniqueid", "dispatch"), [
    ("ntpd-dispatch-12-1", 12), ("ntpd-dispatch-7-2", 7), ("1795954268.0", None),
    ("ntpd-dispatch-x-1", None), ("ntpd-dispatch-12", None), ("a-ntpd-dispatch-1-1", None),
])
def test_dispatch_of_leg(uniqueid: str, dispatch: int | None) -> None:
    assert dispatch_of_leg(uniqueid) == dispatch
    if dispatch is not None:
        assert dispatch_of_leg(ami.action_id(dispatch, 3)) == dispatch



def test_a_caller_already_in_a_dispatch_conference_is_joined_there() -> None:
    channels = [channel("1.1", "PJSIP/operator-local-01", "conf-bridge",
                        dp.CONTEXT_DISPATCH_CONFERENCE, "caller-12"),
                channel("1.2", "PJSIP/taker-1-02", "conf-bridge"),
                channel("1.3", "PJSIP/agency-x-03", "conf-bridge")]
    assert bridged_pair(channels, "1.1") == BridgedPair("PJSIP/operator-local-01", None,
                                                        None, 12)
