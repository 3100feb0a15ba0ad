"""The dialplan and the controller agree on script names and variables."""

import re
from pathlib import Path

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.app import build_routes

DIALPLAN = Path(__file__).resolve().parents[2] / "dialplan"
AGI_CALL = re.compile(r"AGI\(\$\{NTPD_AGI_URL\}/([a-z0-9-]+)")


def without_comments(text: str) -> str:
    return re.sub(r";.*$", "", text, flags=re.M)


def dialplan_text() -> str:
    return without_comments("\n".join(p.read_text() for p in sorted(DIALPLAN.glob("*.conf"))))


def test_every_agi_script_has_a_handler_and_every_handler_is_used() -> None:
    used = set(AGI_CALL.findall(dialplan_text()))
    handled = set(build_routes(ivr=lambda channel: None))  # type: ignore[arg-type,return-value]
    assert used, "no AGI(${NTPD_AGI_URL}/...) found in dialplan/"
    assert used == handled


def test_no_agi_bypasses_the_configured_url() -> None:
    # A hard-coded agi:// would skip the loopback/port settings.
    assert "agi://" not in re.sub(r"NTPD_AGI_URL = \{\{agi_url\}\}", "", dialplan_text())


def test_variables_the_dialplan_reads_are_set_somewhere() -> None:
    text = dialplan_text()
    read = set(re.findall(r"\$\{(NTPD_[A-Z_]+)\}", text))
    set_in_dialplan = set(re.findall(r"Set\(_{0,2}(NTPD_[A-Z_]+)=", text))
    globals_ = set(re.findall(r"^(NTPD_[A-Z_]+) =", text, re.M))
    unknown = (read - set_in_dialplan - globals_ - dp.HANDLER_SET_VARIABLES
               - dp.ORIGINATE_VARIABLES)
    assert not unknown
    assert dp.VAR_QUEUE in read  # the dialplan checks what the IVR decided


def test_operator_context_cannot_dial_out() -> None:
    operator = without_comments((DIALPLAN / "ntpd-operator.conf").read_text())
    assert "Dial(" not in operator
    targets = set(re.findall(r"Goto\(([a-z-]+),", operator))
    assert targets == {dp.CONTEXT_EMERGENCY}
    for context in (dp.CONTEXT_EMERGENCY, dp.CONTEXT_FALLBACK):
        body = dialplan_text().split(f"[{context}]", 1)[1].split("\n[", 1)[0]
        assert "Dial(" not in body and "Originate" not in body


def test_ami_event_filter_lets_through_every_event_the_controller_follows() -> None:
    from ntpd_ivr.ami import events

    manager = (DIALPLAN.parent / "asterisk-conf" / "manager.conf").read_text()
    allowed = set(re.findall(r"^eventfilter\(action\(include\),name\((\w+)\)\)", manager, re.M))
    # List items arrive as replies to actions, which Asterisk does not filter.
    replies_only = {"CoreShowChannel", "QueueMember", "QueueEntry", "QueueSummary",
                    "ActionResponse"}
    # Typed by their UserEvent header, they arrive as Event: UserEvent.
    user_events = {"AgencyTrunkAttempt": "UserEvent", "CallbackResult": "UserEvent"}
    typed = {user_events.get(cls.__name__, cls.__name__) for cls in vars(events).values()
             if isinstance(cls, type) and issubclass(cls, events.AmiEvent)
             and cls not in (events.AmiEvent, events.OtherEvent)}
    assert typed - replies_only <= allowed, typed - replies_only - allowed
    assert "UserEvent" in allowed  # the agency dialplan's NTPDTrunkAttempt
    # The call-taker legs' own events are left out by their context: the contract's name.
    assert re.search(r"^eventfilter\(action\(exclude\),header\(Context\),method\(exact\)\)"
                     rf" = {dp.CONTEXT_FROM_TAKERS}$", manager, re.M)
