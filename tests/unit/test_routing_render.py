"""What `ntpd-ivr config render/check` produce, and trunk attempts from AMI UserEvents."""

from __future__ import annotations

import shutil
from pathlib import Path

from ntpd_ivr.ami.events import parse_event
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.routing.render import GENERATED_NAME, check, render_agency_dialplan
from ntpd_ivr.routing.steps import trunk_attempt_step

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
