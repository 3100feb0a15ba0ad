"""What `ntpd-ivr config render/check` produce, and trunk attempts from AMI UserEvents."""

from __future__ import annotations

import shutil
from pathlib import Path

from ntpd_ivr.ami.events import parse_event
from ntpd_ivr.calls.values import trunk_attempt_step
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.routing.render import (
    GENERATED_NAME,
    OPERATORS_NAME,
    check,
    render_agency_dialplan,
    render_operators,
)
from ntpd_ivr.stack.devstack import OPERATOR_B_IP, OPERATOR_IP

REPO = Path(__file__).resolve().parents[2]
CONFIG = load_routing_config(REPO / "config" / "routing.example.toml")


def test_committed_dialplan_is_rendered_from_the_example_and_names_known_objects() -> None:
    assert check(CONFIG) == []
    text = render_agency_dialplan(CONFIG)
    assert "exten => palembang-damkar,1,Set(NTPD_AGENCY_PRIMARY=PJSIP/agency-damkar-plg)" in text
    assert "palembang-dinkes" not in text  # via-call-taker agencies are not dialled


def test_check_names_file_and_key(tmp_path: Path) -> None:
    conf, plan = tmp_path / "asterisk-conf", tmp_path / "dialplan"
    shutil.copytree(REPO / "asterisk-conf", conf)
    shutil.copytree(REPO / "dialplan", plan)
    (conf / "pjsip-agencies.conf").write_text("")
    queues = (conf / "queues.conf").read_text().replace("[takers-muba]", "[takers-mba]")
    (conf / "queues.conf").write_text(queues)
    (plan / GENERATED_NAME).write_text("; stale\n")
    problems = check(CONFIG, conf, plan)
    src = CONFIG.source
    assert f"{src}: regions.muba.queue: no queue 'takers-muba' in {conf}/queues.conf" in problems
    assert any(p.startswith(f"{src}: regions.palembang.agencies.damkar.primary_trunk: no PJSIP "
                            "endpoint 'agency-damkar-plg'") for p in problems)
    assert any(p.startswith(f"{plan / GENERATED_NAME}: not rendered") for p in problems)
    assert any("no context [ntpd-agency-dispatch]" in p for p in problems)


def test_trunk_attempt_user_event_becomes_a_step() -> None:
    event = parse_event({"Event": "UserEvent", "UserEvent": "NTPDTrunkAttempt",
                         "Uniqueid": "1700000000.7", "Timestamp": "1700000001.5",
                         "Agency": "palembang-damkar", "Attempt": "backup",
                         "Trunk": "PJSIP/agency-damkar-plg-backup", "Result": "BUSY",
                         "Cause": "17"})
    assert event is not None
    step = trunk_attempt_step(event)
    assert step is not None
    assert (step.uniqueid, step.kind, step.at) == ("1700000000.7", "agency.attempt", 1700000001.5)
    assert dict(step.detail) == {"agency": "palembang-damkar", "attempt": "backup",
                                 "trunk": "PJSIP/agency-damkar-plg-backup", "result": "BUSY",
                                 "hangup_cause": "17"}
    other = parse_event({"Event": "UserEvent", "UserEvent": "Other", "Uniqueid": "1.1"})
    assert other is not None and trunk_attempt_step(other) is None


def test_operators_render_one_endpoint_and_identify_each_with_their_caller_id_source() -> None:
    text = render_operators(CONFIG)
    sections = text.split("\n\n")
    local = next(s for s in sections if "[operator-local](operator-trunk)" in s)
    assert local.splitlines()[-3:] == ["disallow = all", "allow = alaw,ulaw",
                                       "trust_id_inbound = yes"]
    other = next(s for s in sections if "[operator-b](operator-trunk)" in s)
    assert other.splitlines()[-3:] == ["disallow = all", "allow = alaw", "trust_id_inbound = no"]
    assert "[operator-b]\ntype = identify\nendpoint = operator-b\nmatch = 127.0.0.8" in text
    assert f"match = {OPERATOR_IP}" in text and f"match = {OPERATOR_B_IP}" in text


def test_check_finds_a_stale_operator_file_and_a_missing_template(tmp_path: Path) -> None:
    conf, plan = tmp_path / "asterisk-conf", tmp_path / "dialplan"
    shutil.copytree(REPO / "asterisk-conf", conf)
    shutil.copytree(REPO / "dialplan", plan)
    (conf / OPERATORS_NAME).write_text(render_operators(CONFIG).replace("127.0.0.8", "10.1.1.1"))
    pjsip = (conf / "pjsip.conf").read_text().replace("[operator-trunk](!)", "[op-trunk](!)")
    (conf / "pjsip.conf").write_text(pjsip)
    problems = check(CONFIG, conf, plan)
    assert f"{conf / OPERATORS_NAME}: not rendered from {CONFIG.source}: run `ntpd-ivr " \
           "config render`" in problems
    assert any(p.startswith(f"{conf}/pjsip.conf: no [operator-trunk](!) template")
               for p in problems)
    (conf / OPERATORS_NAME).write_text("")
    assert any(p.startswith(f"{CONFIG.source}: operators.operator-b: no PJSIP endpoint")
               for p in check(CONFIG, conf, plan))
    (conf / OPERATORS_NAME).write_text(render_operators(CONFIG))
    (conf / "pjsip-agencies.conf").write_text("[operator-b](agency-trunk)\n")
    assert f"{CONFIG.source}: operators.operator-b: the name is already used in " \
           f"{conf / 'pjsip-agencies.conf'}" in check(CONFIG, conf, plan)
