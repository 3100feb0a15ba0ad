"""The Kamailio edge's config as rendered from the stack, the routing config and the
call-taker accounts (ntpd_ivr/stack/kamailio.py), and what the nodes get behind it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ntpd_ivr.errors import ConfigError, StackError
from ntpd_ivr.routing.config import Operator, load_routing_config
from ntpd_ivr.routing.render import render_operators
from ntpd_ivr.stack.hastack import render_edge_endpoint
from ntpd_ivr.stack.kamailio import (
    TEMPLATE,
    EdgeConfig,
    Node,
    dispatcher_list,
    operator_matches,
    render,
)
from ntpd_ivr.takers.accounts import TakerAccount, digest_ha1
from ntpd_ivr.takers.render import render_pjsip

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
NODES = (Node("node-b", "127.0.0.11", 5070, 5), Node("node-a", "127.0.0.10", 5070, 10))


def account(name: str, ha1: str | None = None) -> TakerAccount:
    return TakerAccount(name, "muba", "takers-muba", ha1 or digest_ha1(name, "secret"))


def test_operators_by_address_network_and_address_with_port() -> None:
    body = operator_matches([
        Operator("op-x", "X", ("10.1.2.3", "10.9.0.0/16"), "asserted", ("alaw",)),
        Operator("op-y", "Y", ("192.0.2.7:5070",), "from", ("alaw",))])
    assert body.splitlines() == [
        '\tif (is_in_subnet("$si", "10.1.2.3/32")) { $var(operator) = "op-x"; }',
        '\tif (is_in_subnet("$si", "10.9.0.0/16")) { $var(operator) = "op-x"; }',
        '\tif ($si == "192.0.2.7" && $sp == 5070) { $var(operator) = "op-y"; }',
    ]


def test_an_operator_name_that_could_break_out_of_its_quotes_is_refused() -> None:
    with pytest.raises(ConfigError, match="operator"):
        operator_matches([Operator('x"; exit; "', "X", ("10.1.2.3",), "from", ("alaw",))])


def test_dispatcher_list_has_the_active_node_first() -> None:
    rows = [r for r in dispatcher_list(NODES).splitlines() if not r.startswith("#")]
    assert rows == ["1 sip:127.0.0.10:5070 0 10 name=node-a",
                    "1 sip:127.0.0.11:5070 0 5 name=node-b"]


SITE = (Node("second-site", "127.0.0.20", 5080, 10),)


def test_dispatcher_list_puts_the_second_site_in_a_set_of_its_own() -> None:
    rows = [r for r in dispatcher_list(NODES, SITE).splitlines() if not r.startswith("#")]
    assert rows == ["1 sip:127.0.0.10:5070 0 10 name=node-a",
                    "1 sip:127.0.0.11:5070 0 5 name=node-b",
                    "2 sip:127.0.0.20:5080 0 10 name=second-site"]


def test_with_a_second_site_the_edge_overflows_to_it_naming_the_region() -> None:
    config = EdgeConfig("127.0.0.1", 5160, NODES, Path("/run/edge"), second_site=SITE,
                        overflow_region="muba")
    text = render(config, [])
    assert 'if ("muba" == "") {' in text  # the second-site route is live
    assert 'append_hf("X-NTPD-Overflow-Region: muba\\r\\n");' in text
    assert 'ds_select_dst("2", "8")' in text
    # In-dialog requests may go to or come from the second site, nowhere else.
    assert '$si == "127.0.0.20"' in text and '$nh(d) == "127.0.0.20"' in text
    # Whatever a sender put in the header is removed before the edge names a region.
    before, _, _ = text.partition("route[TO_NODES] {")
    assert text.count('remove_hf("X-NTPD-Overflow-Region");') >= 3, before[-200:]


def test_without_a_second_site_nothing_overflows() -> None:
    text = render(EdgeConfig("127.0.0.1", 5160, NODES, Path("/run/edge")), [])
    assert 'if ("" == "") {' in text  # route[TO_SECOND_SITE] returns at once


def test_an_overflow_region_that_is_no_region_key_is_refused() -> None:
    with pytest.raises(StackError, match="overflow_region"):
        EdgeConfig("127.0.0.1", 5160, NODES, Path("/run/edge"), second_site=SITE,
                   overflow_region='muba\r\nX-Evil: 1')


def test_the_whole_config_is_filled_and_names_the_routing_configs_operators() -> None:
    config = EdgeConfig("127.0.0.1", 5160, NODES, Path("/run/edge"), max_expires=60)
    text = render(config, load_routing_config(EXAMPLE).operators.values())
    assert not re.search(r"\{\{\s*[a-z_]+\s*\}\}", text)
    assert "listen=udp:127.0.0.1:5160" in text
    assert 'if ($si == "127.0.0.11" || $si == "127.0.0.10") {' in text
    assert '$var(operator) = "operator-local"' in text and '"operator-b"' in text
    assert 'modparam("registrar", "max_expires", 60)' in text
    assert 'modparam("dispatcher", "flags", 2)' in text
    # The call-takers' hashes are read from the edge's db_text table, not written here.
    assert 'modparam("auth_db", "db_url", "text:///run/edge/credentials")' in text
    assert 'is_subscriber("$fu", "takers", "0")' in text
    assert not re.search(r"\b[0-9a-f]{32}\b", text)


def test_an_unknown_placeholder_names_the_template(tmp_path: Path) -> None:
    template = tmp_path / "kamailio.cfg"
    template.write_text(TEMPLATE.read_text() + "\n# {{no_such_value}}\n")
    config = EdgeConfig("127.0.0.1", 5160, NODES, tmp_path)
    with pytest.raises(ConfigError, match=rf"{re.escape(str(template))}: unknown placeholder"):
        render(config, [], template=template)


def test_behind_the_edge_nodes_identify_operators_by_header_not_address() -> None:
    text = render_operators(load_routing_config(EXAMPLE), edge_ip="127.0.0.1")
    assert "match_header = X-NTPD-Operator: operator-local" in text
    assert "match_header = X-NTPD-Operator: operator-b" in text
    assert not re.search(r"^match = ", text, re.M)
    # The header counts only from the edge's address (the endpoints' own ACL).
    assert text.count("deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255") == 2
    # One node, as before: by source address.
    assert "match = 127.0.0.2" in render_operators(load_routing_config(EXAMPLE))


def test_behind_the_edge_a_call_takers_contact_is_the_edge() -> None:
    text = render_pjsip([account("citra")], "takers.toml", via_edge="127.0.0.1:5160")
    assert "contact = sip:citra@127.0.0.1:5160" in text
    assert "contact =" not in render_pjsip([account("citra")], "takers.toml")


def test_a_tls_call_takers_contact_is_the_edges_tls_port_and_never_plain() -> None:
    rani = TakerAccount("rani", "muba", "takers-muba", digest_ha1("rani", "secret"), "tls")
    text = render_pjsip([account("citra"), rani], "takers.toml", via_edge="127.0.0.1:5160",
                        via_edge_tls="127.0.0.1:5161")
    assert "contact = sip:rani@127.0.0.1:5161;transport=tls" in text
    assert "contact = sip:citra@127.0.0.1:5160\n" in text
    # An edge without TLS: the TLS call-taker is refused, not reached in clear.
    with pytest.raises(ConfigError, match="rani uses TLS"):
        render_pjsip([rani], "takers.toml", via_edge="127.0.0.1:5160")


def test_with_tls_the_edge_listens_on_tls_and_keeps_the_phones_connection() -> None:
    config = EdgeConfig("127.0.0.1", 5160, NODES, Path("/run/edge"), tls_port=5161)
    text = render(config, [])
    assert "listen=tls:127.0.0.1:5161" in text and "disable_tcp=no" in text
    assert '\nloadmodule "tls.so"' in text and "\nenable_tls=yes" in text
    assert '$(route_uri{uri.port}) == "5161"' in text  # in-dialog Routes via the TLS port
    plain = render(EdgeConfig("127.0.0.1", 5160, NODES, Path("/run/edge")), [])
    assert "disable_tcp=yes" in plain and "#listen=tls:" in plain
    assert '#loadmodule "tls.so"' in plain


def test_a_node_takes_requests_only_from_the_edge_and_the_stand_ins() -> None:
    text = render_edge_endpoint("127.0.0.1", ("127.0.0.3",))
    acl = text[text.index("[only-from-the-edge]"):]
    assert acl.splitlines()[1:] == ["type = acl", "deny = 0.0.0.0/0.0.0.0",
                                    "permit = 127.0.0.1", "permit = 127.0.0.3"]
    assert "match = 127.0.0.1" in text
