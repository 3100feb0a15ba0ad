"""The SIP identity rules of issue 19, read from the config files themselves (the live
attacks are tests/security/test_sip_*.py): every endpoint without auth is named by its
address (or the edge's header) only, every static contact is qualified, the operator trunks
detect dead dialogs, and the dialled number is filtered before it reaches AGI()."""

from __future__ import annotations

import re
from pathlib import Path

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.routing.render import _sections, _types
from ntpd_ivr.stack.kamailio import EdgeConfig, Node, render

REPO = Path(__file__).resolve().parents[2]
PJSIP = sorted((REPO / "asterisk-conf").glob("pjsip*.conf"))


def _option(sections: dict[str, list[tuple[Path, list[str], dict[str, str]]]], name: str,
            key: str, depth: int = 0) -> str | None:
    """An object's option, its templates' if it has none itself."""
    for _, _templates, options in sections.get(name, []):
        if key in options:
            return options[key]
    for _, templates, _ in sections.get(name, []):
        for template in templates:
            if template != "!" and depth < 5:
                found = _option(sections, template, key, depth + 1)
                if found is not None:
                    return found
    return None


def test_every_endpoint_without_auth_is_identified_by_address_only() -> None:
    sections = _sections(PJSIP)
    endpoints = [name for name, objs in sections.items()
                 if "endpoint" in _types(sections, name)
                 and not any("!" in templates for _, templates, _ in objs)]
    assert {"operator-local", "operator-b", "agency-damkar-plg", "warning-trunk",
            "callback-line", "taker-1"} <= set(endpoints)
    for name in endpoints:
        auth = _option(sections, name, "auth")
        identify_by = _option(sections, name, "identify_by")
        if auth:
            assert identify_by == "username", name
        else:
            assert identify_by in ("ip", "header"), (name, identify_by)


def test_there_is_no_anonymous_endpoint() -> None:
    assert "anonymous" not in _sections(PJSIP)


def test_every_static_contact_is_qualified() -> None:
    sections = _sections(PJSIP)
    contacts = [name for name in sections if _option(sections, name, "contact")
                and "aor" in _types(sections, name)]
    assert {"taker-1", "taker-2", "agency-damkar-plg", "warning-trunk",
            "callback-line"} <= set(contacts)
    for name in contacts:
        assert _option(sections, name, "qualify_frequency"), name


def test_the_operator_trunks_detect_dead_dialogs() -> None:
    sections = _sections(PJSIP)
    assert _option(sections, "operator-trunk", "timers") == "always"
    for key in ("timers_sess_expires", "timers_min_se", "rtp_timeout", "rtp_timeout_hold"):
        assert _option(sections, "operator-trunk", key), key


def test_the_dialled_number_is_filtered_before_it_reaches_agi() -> None:
    operator = (REPO / "dialplan" / "ntpd-operator.conf").read_text()
    sets = re.findall(r"Set\(__NTPD_DIALED=(.*)\)$", operator, re.M)
    assert sets and all(value == "112" or value == f"${{FILTER({dp.DIALED_CHARACTERS},${{EXTEN}})}}"
                        for value in sets), sets
    assert "," not in dp.DIALED_CHARACTERS


def _edge() -> str:
    nodes = (Node("node-a", "127.0.0.10", 5060, 10), Node("node-b", "127.0.0.11", 5060, 5))
    return render(EdgeConfig("127.0.0.1", 5160, nodes, Path("/tmp/edge")), [])


def test_the_edge_relays_in_dialog_requests_only_on_its_own_routes_and_to_a_node() -> None:
    text = _edge()
    within = text[text.index("route[WITHINDLG]"):]
    assert ('$(route_uri{uri.host}) == "127.0.0.1" && ($(route_uri{uri.port}) == "5160")'
            in within)
    assert '$nh(d) == "127.0.0.10" || $nh(d) == "127.0.0.11"' in within
    assert within.index("route_uri") < within.index("loose_route()")


def test_the_edge_registers_a_call_taker_only_under_their_own_name() -> None:
    text = _edge()
    registrar = text[text.index("route[REGISTRAR]"):]
    assert registrar.index("$fU != $tU") < registrar.index("save(")
