"""The dialplan and the controller agree on script names and variables."""

import re
from pathlib import Path

import pytest

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
    set_in_dialplan |= set(re.findall(r"Read\((NTPD_[A-Z_]+),", text))  # the key pressed
    globals_ = set(re.findall(r"^(NTPD_[A-Z_]+) =", text, re.M))
    unknown = (read - set_in_dialplan - globals_ - dp.HANDLER_SET_VARIABLES
               - dp.ORIGINATE_SET_VARIABLES)  # the controller's Originate sets these
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
                    "ActionResponse", "ConfbridgeList"}
    # Typed by their UserEvent header, they arrive as Event: UserEvent.
    user_events = {"AgencyTrunkAttempt": "UserEvent", "DispatchKey": "UserEvent",
                   "WarningOutcome": "UserEvent", "CallbackResult": "UserEvent",
                   "TransferKey": "UserEvent"}
    typed = {user_events.get(cls.__name__, cls.__name__) for cls in vars(events).values()
             if isinstance(cls, type) and issubclass(cls, events.AmiEvent)
             and cls not in (events.AmiEvent, events.OtherEvent)}
    assert typed - replies_only <= allowed, typed - replies_only - allowed
    assert "UserEvent" in allowed  # the agency dialplan's NTPDTrunkAttempt
    # The call-taker legs' own events are left out by their context: the contract's name.
    assert re.search(r"^eventfilter\(action\(exclude\),header\(Context\),method\(exact\)\)"
                     rf" = {dp.CONTEXT_FROM_TAKERS}$", manager, re.M)


def contexts() -> dict[str, str]:
    """Every dialplan context's body (generated and included files alike)."""
    found: dict[str, str] = {}
    for block in re.split(r"^\[", dialplan_text(), flags=re.M)[1:]:
        name, _, body = block.partition("]")
        found[name.strip()] = body
    return found


# Where a channel can go next from a context: Goto/GotoIf/Gosub targets that name a
# context, include =>, and Local channels dialled into a context.
_JUMP = re.compile(r"(?:Goto|GotoIf|Gosub|GosubIf)\(([^)]*)\)")
_LOCAL = re.compile(r"Local/[^@,)]*@([a-z][a-z0-9-]*)")
_INCLUDE = re.compile(r"^include\s*=>\s*([a-z][a-z0-9-]*)", re.M)


def _targets(body: str, known: set[str]) -> set[str]:
    found = set(_INCLUDE.findall(body)) | set(_LOCAL.findall(body))
    for args in _JUMP.findall(body):
        found |= {word for word in re.split(r"[,?:]", args) if word.strip() in known}
    return {name.strip() for name in found}


def reachable(start: set[str]) -> set[str]:
    graph = contexts()
    known = set(graph)
    seen, todo = set(), list(start)
    while todo:
        context = todo.pop()
        if context in seen:
            continue
        seen.add(context)
        todo += _targets(graph.get(context, ""), known) - seen
    return seen


def test_no_caller_or_call_taker_can_reach_the_dispatch_contexts() -> None:
    graph = contexts()
    assert dp.CONTROLLER_CONTEXTS <= set(graph), "the dispatch and transfer contexts are in " \
        "dialplan/"
    # Where SIP endpoints land (operators, call-takers, agency trunks), and all they reach.
    endpoint_contexts = set(re.findall(
        r"^context\s*=\s*([a-z][a-z0-9-]*)", "\n".join(
            p.read_text() for p in (DIALPLAN.parent / "asterisk-conf").glob("*.conf")), re.M))
    entry = endpoint_contexts | {dp.CONTEXT_FROM_OPERATOR, dp.CONTEXT_FROM_TAKERS,
                                 "from-agencies"}
    assert dp.CONTEXT_FROM_OPERATOR in endpoint_contexts
    from_outside = reachable(entry)
    assert dp.CONTEXT_EMERGENCY in from_outside and dp.CONTEXT_AGENCY_DIAL in from_outside
    assert not from_outside & dp.CONTROLLER_CONTEXTS, from_outside & dp.CONTROLLER_CONTEXTS
    # And nothing else names them: only the controller's Originate and Redirect do.
    for name, body in graph.items():
        if name not in dp.CONTROLLER_CONTEXTS:
            assert not any(c in body for c in dp.CONTROLLER_CONTEXTS), name


def test_the_reachability_check_sees_a_jump() -> None:
    # The check itself must fail on a route into a dispatch context.
    body = "exten => s,1,GotoIf($[1]?ntpd-dispatch-agency,s,1)\n"
    assert _targets(body, {"ntpd-dispatch-agency"}) == {"ntpd-dispatch-agency"}
    assert _targets("include => ntpd-dispatch-conference\n", set()) == {
        "ntpd-dispatch-conference"}
    assert _targets("same => n,Dial(Local/s@ntpd-dispatch-agency)\n", set()) == {
        "ntpd-dispatch-agency"}


def _context_body(name: str) -> str:
    return dialplan_text().split(f"[{name}]", 1)[1].split("\n[", 1)[0]


def test_warning_context_is_reachable_only_from_the_controllers_originate() -> None:
    text = dialplan_text()
    warning = dp.CONTEXT_WARNING
    # Nothing in the dialplan leads there: no include, Goto, Gosub or Dial option.
    assert f"[{warning}]" in text
    assert not re.search(rf"include\s*=>\s*{warning}\b", text)
    assert not re.search(rf"(Goto|GotoIf|Gosub|GoSub)\([^)]*\b{warning}\s*,", text)
    # No SIP endpoint lands there: every `context =` in Asterisk's config names another.
    pjsip = without_comments("\n".join(
        p.read_text() for p in sorted((DIALPLAN.parent / "asterisk-conf").glob("pjsip*.conf"))))
    assert warning not in set(re.findall(r"^context\s*=\s*(\S+)", pjsip, re.M))
    # It dials nothing itself: the Originate dialled the attempt's one number.
    for context in (warning, dp.CONTEXT_FROM_WARNING_TRUNK):
        body = _context_body(context)
        for app in ("Dial(", "Originate(", "Queue(", "Goto(", "Gosub(", "AGI("):
            assert app not in body, (context, app)
    assert "Hangup(" in _context_body(dp.CONTEXT_FROM_WARNING_TRUNK)


def test_warning_trunk_accepts_nothing_from_outside() -> None:
    conf = without_comments((DIALPLAN.parent / "asterisk-conf" / "pjsip-warning.conf")
                            .read_text())
    assert "type = identify" not in conf  # nothing the trunk sends is matched to it
    assert set(re.findall(r"^context\s*=\s*(\S+)", conf, re.M)) == {
        dp.CONTEXT_FROM_WARNING_TRUNK}


def test_warning_dialplan_reports_what_the_controller_reads() -> None:
    body = _context_body(dp.CONTEXT_WARNING)
    assert f"UserEvent({dp.USEREVENT_WARNING}," in body
    assert f"DB({dp.ASTDB_WARNING_FAMILY}/${{UNIQUEID}})=confirmed" in body
    assert set(re.findall(r"\$\{(NTPD_WARNING_[A-Z_]+)\}", body)) >= dp.WARNING_ORIGINATE_VARIABLES


def test_the_originate_dials_digits_only_on_a_configured_trunk() -> None:
    from ntpd_ivr.campaigns.model import dialled_number

    assert dialled_number("+6281234567890") == "081234567890"
    for bad in ("+6281234567890&PJSIP/x", "081234567890", "+1555123456", "+62 812"):
        with pytest.raises(ValueError):
            dialled_number(bad)


def test_the_callback_context_is_reached_only_by_the_controllers_originate() -> None:
    text = dialplan_text()
    callback_contexts = (dp.CONTEXT_CALLBACK, dp.CONTEXT_CALLBACK_HEADERS,
                         dp.CONTEXT_CALLBACK_ANSWERED)
    for name in callback_contexts:
        assert f"[{name}]" in text
        # No include, Goto, GotoIf, Gosub or channel-originating app names it...
        named = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w.-])")
        mentions = [line for line in text.splitlines()
                    if named.search(line) and not line.startswith("[")]
        allowed = (f"b({dp.CONTEXT_CALLBACK_HEADERS}^s^1(${{{dp.VAR_CALLBACK_PRIORITY}}}))",
                   f"U({dp.CONTEXT_CALLBACK_ANSWERED}^${{{dp.VAR_CALLBACK_ID}}})")
        assert all(any(a in line for a in allowed) for line in mentions), mentions
        # ... and no endpoint lands in it.
        for conf in (DIALPLAN.parent / "asterisk-conf").glob("pjsip*.conf"):
            assert not re.search(rf"^context\s*=\s*{name}\s*$", conf.read_text(), re.M), conf
    # The pre-dial and answer handlers are named only from the callback context's Dial.
    dial_line = next(line for line in _context_body(dp.CONTEXT_CALLBACK).splitlines()
                     if "Dial(" in line)
    assert all(a in dial_line for a in (f"b({dp.CONTEXT_CALLBACK_HEADERS}^s^1(",
                                        f"U({dp.CONTEXT_CALLBACK_ANSWERED}^"))
    # Asterisk may originate into it only with the AMI user's originate right, from the
    # addresses the stack permits (loopback: ntpd_ivr/stack/devstack.py, ami_permit).
    manager = (DIALPLAN.parent / "asterisk-conf" / "manager.conf").read_text()
    assert "permit = {{ami_permit}}" in manager and "originate" in manager


def test_the_callback_context_dials_only_the_listed_number_on_the_callback_line() -> None:
    body = _context_body(dp.CONTEXT_CALLBACK)
    dials = re.findall(r"Dial\(([^,]+),", body)
    assert dials == [f"PJSIP/${{{dp.VAR_CALLBACK_NUMBER}}}@${{{dp.VAR_CALLBACK_TRUNK}}}"]
    # Only a center callback, only a plain number, only a plain endpoint name: else refused.
    lines = body.splitlines()
    dial_at = next(i for i, line in enumerate(lines) if "Dial(" in line)
    checks = "\n".join(lines[:dial_at])
    assert f'"${{{dp.VAR_CENTER_CALLBACK}}}" != "1"]?refused' in checks
    assert f'REGEX("^[+]?[0-9]{{3,15}}$" ${{{dp.VAR_CALLBACK_NUMBER}}})' in checks
    assert f'REGEX("^[A-Za-z0-9_.-]+$" ${{{dp.VAR_CALLBACK_TRUNK}}})' in checks
    assert "Originate" not in body
    # The other callback contexts dial nothing at all.
    for name in (dp.CONTEXT_CALLBACK_HEADERS, dp.CONTEXT_CALLBACK_ANSWERED,
                 dp.CONTEXT_FROM_CALLBACK_LINE):
        assert "Dial(" not in _context_body(name)
    # The RFC 7090 header is set on the caller's leg, only when configured.
    headers = _context_body(dp.CONTEXT_CALLBACK_HEADERS)
    assert "PJSIP_HEADER(add,Priority)=psap-callback" in headers
    assert '"${ARG1}" != "1"' in headers


def test_every_112_call_is_recorded_and_a_recording_fault_never_stops_it() -> None:
    body = _context_body(dp.CONTEXT_EMERGENCY)
    lines = [line for line in body.splitlines() if line.strip()]
    answer = next(i for i, line in enumerate(lines) if "Answer()" in line)
    record = next(i for i, line in enumerate(lines) if "MixMonitor(" in line)
    assert answer < record < next(i for i, line in enumerate(lines) if "AGI(" in line)
    assert f"TryExec(MixMonitor(${{{dp.VAR_RECORDINGS}}}/${{UNIQUEID}}.wav))" in lines[record]
    assert re.search(rf"^{dp.VAR_RECORDINGS} = ", dialplan_text(), re.M)
