"""Receiving a transfer, the parts without a network: which trunk is a neighbour's, the
reference in a Call-Info header, the Asterisk side of the neighbours' trunks (rendered,
owner-only, checked), and the routing config check that requires their endpoints."""

from __future__ import annotations

import re
import shutil
import stat
from pathlib import Path

import pytest

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.routing.reload import render_into
from ntpd_ivr.routing.render import REPO_ROOT, check, rendered_files, write_generated
from ntpd_ivr.settings import load_settings
from ntpd_ivr.transfer.config import NEIGHBOURS_NAME, render_neighbours
from ntpd_ivr.transfer.model import neighbour_of, reference_of
from tests.transfer_fixtures import SIP_PASSWORD, routing_with_neighbours

REF = "0123456789abcdef0123456789abcdef"
# What settings require besides (an AMI secret, a database).
ENVIRON = {"NTPD_IVR_AMI_SECRET": "x" * 16, "NTPD_IVR_DATABASE_URL": "postgresql+asyncpg://u@h/d"}


def test_a_neighbours_trunk_names_its_center_and_region(tmp_path: Path) -> None:
    routing = routing_with_neighbours(tmp_path)
    found = neighbour_of(routing, "center-banyuasin")
    assert found is not None and (found[0], found[1].key) == ("muba", "banyuasin")
    assert neighbour_of(routing, "operator-local") is None  # an operator's: the IVR
    assert neighbour_of(routing, "") is None


@pytest.mark.parametrize(("header", "reference"), [
    (f"<http://127.0.0.5:13092/eido/transfers/{REF}>;purpose=EmergencyCallData.eido", REF),
    (f'<https://b.example/x/{REF}/> ; purpose="emergencycalldata.EIDO"', REF),
    (f"<http://a/info>;purpose=info, <http://b/eido/{REF}>;purpose=EmergencyCallData.eido",
     REF),
    (f"<http://b/eido/{REF}>;purpose=icon", None),          # not an EIDO reference
    (f"<http://b/eido/{REF}>", None),                        # no purpose at all
    ("<http://b/eido/../../etc/passwd>;purpose=EmergencyCallData.eido", None),
    (f"<http://b/eido/{REF.upper()}>;purpose=EmergencyCallData.eido", None),  # not ours
    ("", None),
    ("<" + "a" * 3000 + ">;purpose=EmergencyCallData.eido", None),
])
def test_the_reference_in_call_info(header: str, reference: str | None) -> None:
    assert reference_of(header) == reference


def test_neighbour_trunks_render_by_address_or_by_credentials(tmp_path: Path) -> None:
    text = render_neighbours(routing_with_neighbours(tmp_path))
    by_address = text.split("[center-banyuasin](neighbour-trunk)", 1)[1].split("\n\n;", 1)[0]
    assert "identify_by = ip" in by_address
    assert "type = identify\nendpoint = center-banyuasin\nmatch = 127.0.0.5" in by_address
    assert "auth" not in by_address
    by_credentials = text.split("[center-musi-rawas](neighbour-trunk)", 1)[1]
    assert "identify_by = auth_username\nauth = center-musi-rawas-auth" in by_credentials
    assert (f"type = auth\nauth_type = userpass\nusername = muba-musirawas\n"
            f"password = {SIP_PASSWORD}") in by_credentials
    assert "match" not in by_credentials  # known by what it proves, not where it is


def test_the_rendered_neighbours_file_is_owner_only(tmp_path: Path) -> None:
    routing = routing_with_neighbours(tmp_path)
    conf = tmp_path / "etc"
    shutil.copytree(REPO_ROOT / "asterisk-conf", conf)
    for path in (REPO_ROOT / "dialplan").glob("*.conf"):
        shutil.copyfile(path, conf / path.name)
    (conf / NEIGHBOURS_NAME).write_text("; old\n")
    (conf / NEIGHBOURS_NAME).chmod(0o644)
    written = render_into(routing, conf)
    assert conf / NEIGHBOURS_NAME in written
    mode = stat.S_IMODE((conf / NEIGHBOURS_NAME).stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert SIP_PASSWORD in (conf / NEIGHBOURS_NAME).read_text()
    other = tmp_path / "plain.conf"
    write_generated(other, "x\n")  # the others as before
    assert other.read_text() == "x\n"


def test_config_check_requires_the_neighbours_endpoint_template_and_context(
        tmp_path: Path) -> None:
    routing = routing_with_neighbours(tmp_path)
    conf = tmp_path / "etc"
    shutil.copytree(REPO_ROOT / "asterisk-conf", conf)
    dialplan = tmp_path / "dialplan"
    shutil.copytree(REPO_ROOT / "dialplan", dialplan)
    for path, text in rendered_files(routing, conf, dialplan).items():
        path.write_text(text)
    assert check(routing, conf, dialplan) == []
    # Not rendered: no endpoint for either trunk.
    (conf / NEIGHBOURS_NAME).write_text("")
    problems = check(routing, conf, dialplan)
    assert any("neighbours.banyuasin.trunk: no PJSIP endpoint 'center-banyuasin'" in p
               for p in problems), problems
    assert any("neighbours.musi-rawas.trunk" in p for p in problems)
    # No template, no context.
    (conf / NEIGHBOURS_NAME).write_text(render_neighbours(routing))
    pjsip = (conf / "pjsip.conf").read_text()
    (conf / "pjsip.conf").write_text(pjsip.replace("[neighbour-trunk](!)", "[gone](!)"))
    (dialplan / "ntpd-neighbour.conf").write_text("")
    problems = check(routing, conf, dialplan)
    assert any("no [neighbour-trunk](!) template" in p for p in problems), problems
    assert any(f"no context [{dp.CONTEXT_FROM_NEIGHBOUR}]" in p for p in problems), problems


def test_the_neighbour_context_cannot_dial_out_and_only_enters_the_emergency_flow() -> None:
    text = (REPO_ROOT / "dialplan" / "ntpd-neighbour.conf").read_text()
    body = "\n".join(line.split(";", 1)[0] for line in text.splitlines())
    assert f"[{dp.CONTEXT_FROM_NEIGHBOUR}]" in body
    assert "Dial(" not in body and "Originate" not in body and "AGI(" not in body
    assert set(re.findall(r"Goto\(([a-z-]+),", body)) == {dp.CONTEXT_EMERGENCY}
    pjsip = (REPO_ROOT / "asterisk-conf" / "pjsip.conf").read_text()
    template = pjsip.split("[neighbour-trunk](!)", 1)[1].split("\n\n", 1)[0]
    assert f"context = {dp.CONTEXT_FROM_NEIGHBOUR}" in template


@pytest.mark.parametrize(("transfer", "error"), [
    ({"enabled": True, "port": 0}, "transfer.port must be 1-65535"),
    ({"enabled": True, "host": "localhost"}, "transfer.host must be an IP address"),
    ({"enabled": True, "rate_per_minute": 0}, "transfer.rate_per_minute must be positive"),
])
def test_the_transfer_listeners_settings_are_checked(transfer: dict[str, object],
                                                     error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        load_settings(None, environ=ENVIRON,
                      overrides={"transfer": transfer})
    assert load_settings(None, environ=ENVIRON,
                         overrides={"transfer": {"port": 0}}).transfer.enabled is False
