"""The attended transfer of a caller to a neighbouring 112 center (ntpd_ivr/transfer/call.py
and its pure part, outbound.py) against fakes we own: the dispatch tests' Asterisk that
answers the AMI actions (the caller bridged with a call-taker), an audit trail in a list."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import ConfbridgeLeave, OriginateResponse, TransferKey
from ntpd_ivr.calls.values import CallStep
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.numbers import E164, INTERNATIONAL, NATIONAL
from ntpd_ivr.routing.config import RoutingConfig, load_routing_config
from ntpd_ivr.transfer import outbound
from ntpd_ivr.transfer.call import TransferCaller
from ntpd_ivr.transfer.config import Neighbour
from ntpd_ivr.transfer.outbound import Transfer, TransferRefused
from tests.transfer_fixtures import NEIGHBOURS as FIXTURE_NEIGHBOURS
from tests.transfer_fixtures import routing_with_neighbours
from tests.unit.test_dialplan_contract import without_comments
from tests.unit.test_dispatch_service import CALLER, TAKER, FakeAsterisk
from tests.waiting import eventually

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
REFERENCE = "0123456789abcdef" * 2
URL = f"https://banyuasin.example/eido/transfers/{REFERENCE}"
CALL_INFO = f"<{URL}>;purpose=EmergencyCallData.eido"
NEIGHBOURS_WITH_FORMAT = FIXTURE_NEIGHBOURS.replace(
    'token_file = "secrets/banyuasin.token" }',
    'token_file = "secrets/banyuasin.token", number_format = "NUMBER_FORMAT" }')
NEIGHBOUR = Neighbour("banyuasin", "Banyuasin Siaga 112", "kabupaten", "center-banyuasin",
                      "address", ("127.0.0.52",), "", "", "https://banyuasin.example/eido",
                      "/nonexistent", "sip:127.0.0.52:5060")


# --- the pure part -------------------------------------------------------------------------

@pytest.mark.parametrize(("number", "number_format", "shown"), [
    ("081170001234", E164, '"+6281170001234" <+6281170001234>'),
    ("+6281170001234", NATIONAL, '"081170001234" <081170001234>'),
    ("081170001234", INTERNATIONAL, '"6281170001234" <6281170001234>'),
    ("112", NATIONAL, '"112" <112>'),
    ("", E164, '"anonymous" <anonymous>'),
    ('"><sip:evil', E164, '"anonymous" <anonymous>'),
])
def test_the_neighbour_sees_the_callers_own_number(number: str, number_format: str,
                                                    shown: str) -> None:
    assert outbound.caller_id(number, number_format) == shown


def separate(variables: str) -> list[str]:
    """Asterisk's ast_app_separate_args on an Originate's Variable: commas inside
    parentheses do not separate."""
    parts, depth, current = [], 0, ""
    for char in variables:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def test_the_originate_dials_112_on_the_neighbours_trunk_with_the_call_info() -> None:
    transfer = Transfer(REFERENCE, 7, "banyuasin", "Banyuasin Siaga 112", CALLER, "ani")
    action = outbound.originate(transfer, "center-banyuasin", 30, 60, '"+62811" <+62811>',
                                CALL_INFO, "/p")
    assert (action["Channel"], action["Context"], action["Exten"], action["Timeout"]) == (
        "PJSIP/112@center-banyuasin", dp.CONTEXT_TRANSFER_NEIGHBOUR, "s", "30000")
    assert action["ActionID"] == action["ChannelId"] == f"ntpd-transfer-{REFERENCE}"
    assert action["CallerID"] == '"+62811" <+62811>'
    variables = dict(v.split("=", 1) for v in separate(action["Variable"]))
    assert variables["PJSIP_HEADER(add,Call-Info)"] == CALL_INFO
    assert variables[dp.VAR_TRANSFER] == REFERENCE
    assert variables[dp.VAR_TRANSFER_CALLER] == CALLER
    assert variables[dp.VAR_TRANSFER_ANNOUNCE] == "/p/id/transfer-intro&/p/id/dispatch-press"
    assert variables[dp.VAR_TRANSFER_ROUNDS] == "6"
    assert set(variables) - {dp.FUNC_TRANSFER_CALL_INFO} == dp.TRANSFER_ORIGINATE_VARIABLES
    with pytest.raises(ValueError, match="comma"):
        outbound.originate(transfer, "center-banyuasin", 30, 60, "x", "<a,b>", "/p")


def test_the_prompts_the_neighbour_hears_exist() -> None:
    prompts = Path(__file__).resolve().parents[2] / "prompts"
    for prompt in (*outbound.ANNOUNCEMENT, "id/transfer-caller-gone", "id/dispatch-goodbye",
                   "id/dispatch-not-connected"):
        assert (prompts / f"{prompt}.txt").is_file(), prompt


def test_the_dialplan_sends_the_key_results_the_controller_reads() -> None:
    text = without_comments(
        (Path(__file__).resolve().parents[2] / "dialplan" / "ntpd-transfer.conf").read_text())
    sent = set(re.findall(r"UserEvent\(NTPDTransferKey,[^)]*Result: ([a-z-]+)\)", text))
    assert sent == {"accept", "refuse", "no-input", "hangup"}
    assert {outbound.key_reason(r) for r in sent - {"accept"}} <= set(outbound.CALL_REASONS)
    assert not re.search(r"\b(Dial|Originate|Goto|Gosub)\(", text)  # it dials nothing


def test_a_transfer_moves_forward_only() -> None:
    transfer = Transfer(REFERENCE, 7, "banyuasin", "B", CALLER, "ani")
    accepted = transfer.to("answered").to("accepted", taker_channel="PJSIP/taker-1-02")
    assert accepted.taker_channel == "PJSIP/taker-1-02" and not accepted.final
    assert accepted.to("completed").final
    for late in ("ringing", "answered"):
        with pytest.raises(ValueError, match="is accepted"):
            accepted.to(late)
    with pytest.raises(ValueError, match="is failed"):
        transfer.to("failed", reason="busy").to("accepted")


@pytest.mark.parametrize(("outcome", "reason"), [
    ("busy", "busy"), ("no-answer", "no-answer"), ("unavailable", "unreachable"),
    ("failed", "unreachable")])
def test_why_the_neighbour_was_not_reached(outcome: Any, reason: str) -> None:
    assert outbound.outcome_reason(outcome) == reason


# --- the controller's side -----------------------------------------------------------------

class Audit:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str, dict[str, Any]]] = []

    async def write(self, actor: str, action: str, subject_type: str, subject_id: str,
                    detail: Mapping[str, Any]) -> None:
        self.entries.append((actor, action, subject_id, dict(detail)))


class Harness:
    def __init__(self, accept_seconds: int = 60, grace_seconds: float = 10.0) -> None:
        self.config: RoutingConfig = load_routing_config(EXAMPLE)
        self.asterisk = FakeAsterisk()
        self.steps: list[CallStep] = []
        self.audit = Audit()
        self.desk: list[tuple[str, Mapping[str, Any], str]] = []
        self.caller = TransferCaller(
            self.asterisk, lambda: self.config, self.steps.append, self.audit,
            lambda kind, data, user: self.desk.append((kind, data, user)),
            prompts_dir="/p", ring_seconds=30, accept_seconds=accept_seconds,
            grace_seconds=grace_seconds)

    async def start(self) -> dict[str, str]:
        shown = await self.caller.check(NEIGHBOUR, CALLER)
        transfer = await self.caller.start(7, NEIGHBOUR, CALLER, "ani", shown, CALL_INFO,
                                           REFERENCE)
        assert transfer.state == "ringing"
        await eventually(lambda: self.asterisk.named("Originate"), "the Originate")
        return self.asterisk.named("Originate")[0]

    def answer(self, action: dict[str, str], result: str = "Success", reason: int = 4
               ) -> None:
        now = time.time()
        self.caller.on_event(OriginateResponse(
            name="OriginateResponse", received_at=now, timestamp=now,
            action_id=action["ActionID"], response=result,
            channel="PJSIP/center-banyuasin-0000000a", reason=reason,
            uniqueid=action["ChannelId"]))

    def key(self, result: str, reference: str = REFERENCE) -> None:
        now = time.time()
        self.caller.on_event(TransferKey(
            name="UserEvent", received_at=now, timestamp=now,
            uniqueid=f"ntpd-transfer-{reference}", channel="PJSIP/center-banyuasin-0000000a",
            transfer=reference, caller=CALLER, result=result))

    def leave(self, channel: str) -> None:
        now = time.time()
        self.caller.on_event(ConfbridgeLeave(
            name="ConfbridgeLeave", received_at=now, timestamp=now, uniqueid="x",
            channel=channel, conference=f"ntpd-dispatch-t{REFERENCE}"))

    def kinds(self) -> list[str]:
        return [s.kind for s in self.steps]

    def states(self) -> list[tuple[str, str | None]]:
        return [(d["state"], d["reason"]) for _, d, _ in self.desk]

    async def until(self, *states: str) -> None:
        await eventually(lambda: [s for s, _ in self.states()] == list(states),
                         f"states {states} (seen {self.states()})")


async def test_key_1_joins_the_neighbour_and_the_call_taker_hands_over() -> None:
    h = Harness()
    action = await h.start()
    h.answer(action)
    await h.until("ringing", "answered")
    h.key("accept")
    await h.until("ringing", "answered", "accepted")
    redirects = h.asterisk.named("Redirect")
    room = f"t{REFERENCE}"
    assert (redirects[0]["Channel"], redirects[0]["Exten"], redirects[0]["ExtraChannel"],
            redirects[0]["ExtraExten"]) == ("PJSIP/operator-local-01", f"caller-{room}",
                                            "PJSIP/taker-1-02", f"taker-{room}")
    assert (redirects[1]["Channel"], redirects[1]["Context"], redirects[1]["Exten"]) == (
        "PJSIP/center-banyuasin-0000000a", dp.CONTEXT_TRANSFER_NEIGHBOUR, f"bridge-{room}")
    # The desk's hand-over hangs up the call-taker's leg; its leave completes the transfer.
    await h.caller.hand_over(REFERENCE, CALLER)
    assert h.asterisk.named("Hangup") == [{"Action": "Hangup", "Channel": "PJSIP/taker-1-02"}]
    h.leave("PJSIP/taker-1-02")
    await h.until("ringing", "answered", "accepted", "completed")
    assert h.kinds() == ["transfer.ringing", "transfer.answered", "transfer.accepted",
                         "transfer.completed"]
    assert {s.uniqueid for s in h.steps} == {CALLER}
    accepted = h.steps[2].detail
    assert accepted["conference"] == f"ntpd-dispatch-{room}"
    assert accepted["taker_channel"] == "PJSIP/taker-1-02"
    assert [(a, k, i) for a, k, i, _ in h.audit.entries] == [
        ("ani", kind, "7") for kind in h.kinds()]
    assert {user for _, _, user in h.desk} == {"ani"}
    assert REFERENCE not in h.caller.live


@pytest.mark.parametrize(("result", "reason"), [
    ("refuse", "refused"), ("no-input", "no-input"), ("hangup", "hung-up")])
async def test_no_key_1_leaves_the_caller_with_the_call_taker(result: str, reason: str
                                                              ) -> None:
    h = Harness()
    h.answer(await h.start())
    h.key(result)
    await h.until("ringing", "answered", "failed")
    assert h.states()[-1] == ("failed", reason)
    assert h.steps[-1].kind == "transfer.failed" and h.steps[-1].detail["reason"] == reason
    assert h.asterisk.named("Redirect") == []  # the caller never moved
    # A key 1 that comes after the end moves nobody: the leg hears the caller is gone.
    h.key("accept")
    await eventually(lambda: h.asterisk.named("Redirect"), "the late leg sent away")
    assert [r["Exten"] for r in h.asterisk.named("Redirect")] == [
        dp.EXTEN_TRANSFER_CALLER_GONE]
    assert h.states()[-1] == ("failed", reason)


@pytest.mark.parametrize(("reason_code", "reason"), [(5, "busy"), (3, "no-answer"),
                                                      (0, "unreachable")])
async def test_an_unanswered_neighbour_says_why(reason_code: int, reason: str) -> None:
    h = Harness()
    h.answer(await h.start(), "Failure", reason_code)
    await h.until("ringing", "failed")
    assert h.states()[-1] == ("failed", reason)


async def test_answered_without_a_key_times_out_and_the_leg_is_released() -> None:
    h = Harness(accept_seconds=0, grace_seconds=0.05)
    h.answer(await h.start())
    await h.until("ringing", "answered", "failed")
    assert h.states()[-1] == ("failed", "timeout")
    await eventually(lambda: h.asterisk.named("Hangup"), "the leg hung up")
    assert h.asterisk.named("Hangup")[0]["Channel"] == "PJSIP/center-banyuasin-0000000a"


async def test_a_caller_gone_at_the_accept_releases_the_neighbour() -> None:
    h = Harness()
    h.answer(await h.start())
    await h.until("ringing", "answered")
    del h.asterisk.channels[CALLER]
    h.key("accept")
    await h.until("ringing", "answered", "failed")
    assert h.states()[-1] == ("failed", "caller-gone")
    assert [r["Exten"] for r in h.asterisk.named("Redirect")] == [
        dp.EXTEN_TRANSFER_CALLER_GONE]


async def test_the_neighbour_leaving_before_the_hand_over_fails_it() -> None:
    h = Harness()
    h.answer(await h.start())
    h.key("accept")
    await h.until("ringing", "answered", "accepted")
    h.leave("PJSIP/center-banyuasin-0000000a")
    await h.until("ringing", "answered", "accepted", "failed")
    assert h.states()[-1] == ("failed", "hung-up")


async def test_the_caller_hanging_up_in_the_conference_is_no_hand_over() -> None:
    h = Harness()
    h.answer(await h.start())
    h.key("accept")
    await h.until("ringing", "answered", "accepted")
    # The caller (the marked user) leaves: the call-taker and the neighbour are released
    # after it; the call-taker's leave that follows completes nothing.
    h.leave("PJSIP/operator-local-01")
    h.leave("PJSIP/taker-1-02")
    await h.until("ringing", "answered", "accepted", "failed")
    assert h.states()[-1] == ("failed", "caller-gone")
    assert "transfer.completed" not in h.kinds()


async def test_what_cannot_start_is_refused_before_anything_is_sent() -> None:
    h = Harness()
    with pytest.raises(TransferRefused) as refused:
        await h.caller.check(Neighbour(**{**NEIGHBOUR.__dict__, "contact": ""}), CALLER)
    assert refused.value.reason == "no-contact"
    del h.asterisk.channels[TAKER]
    with pytest.raises(TransferRefused) as refused:
        await h.caller.check(NEIGHBOUR, CALLER)
    assert refused.value.reason == "not-connected"
    with pytest.raises(TransferRefused, match="no transfer"):
        await h.caller.hand_over(REFERENCE, CALLER)
    assert h.asterisk.named("Originate") == [] and h.steps == []


async def test_a_key_after_a_restart_still_joins_the_caller() -> None:
    h = Harness()  # nothing started here: the transfer is known by its event alone
    h.key("accept")
    await eventually(lambda: len(h.asterisk.named("Redirect")) == 2, "both redirects")
    assert h.kinds() == ["transfer.accepted"]
    assert h.audit.entries == []  # no incident known: the call's record has it


def test_a_neighbours_number_format_writes_the_caller_id_on_its_trunk(tmp_path: Path) -> None:
    national = NEIGHBOURS_WITH_FORMAT.replace("NUMBER_FORMAT", "national")
    routing = routing_with_neighbours(tmp_path, national)
    assert routing.number_format_of("center-banyuasin", E164) == NATIONAL
    assert routing.number_format_of("center-musi-rawas", E164) == E164  # not said
    assert routing.stated_number_formats()["center-banyuasin"] == NATIONAL
    with pytest.raises(ConfigError, match=r"banyuasin\.number_format: one of e164, "):
        routing_with_neighbours(tmp_path, NEIGHBOURS_WITH_FORMAT.replace(
            "NUMBER_FORMAT", "+62"))
