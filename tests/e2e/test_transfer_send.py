"""Sending a transfer's EIDO from the desk (issue 23 item 2, its first step) against the
real stack: a SIPp caller answered by a call-taker stand-in, whose desk user saves the
incident and sends it to a neighbour of the call's region. The "neighbour" here is this
stack's own transfer listener (a loopback eido_url, as config check allows), so the same
run proves both ends: our POST, its token and the 201 whose url becomes the Call-Info; the
neighbour's transfers_in row carries our call's id. A dark neighbour (nothing listening)
is 502 with the reason in the call-taker's language, and both are on the call's record and
in the audit trail. The attended transfer of the call itself is not built yet."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from ntpd_ivr.stack.devstack import DevStack
from ntpd_ivr.transfer.model import reference_of
from ntpd_ivr.transfer.tables import TransferIn
from tests.security.rights_fixtures import audit_since, desk, last_audit_id, new_user, rows
from tests.transfer_fixtures import OTHER_TOKEN, TOKEN

from .conftest import Controller, Takers, call_rows, caller, record
from .test_config_reload import config_reload
from .test_dispatch import caller_with_a_taker, long_takers

pytestmark = pytest.mark.e2e

__all__ = ["long_takers"]  # a fixture of tests/e2e/test_dispatch.py, used here
ENDPOINTS = ("taker-1", "taker-2")
INCIDENT = {"region": "palembang", "category": "fire", "kecamatan": "Ilir Barat I",
            "description": "Rumah terbakar di perbatasan", "severity": "high"}


def neighbours(transfer_port: int) -> str:
    return f"""
[regions.palembang.neighbours.banyuasin]
name = "Banyuasin Siaga 112"
level = "kabupaten"
trunk = "center-banyuasin"
match = ["127.0.0.52"]
contact = "sip:127.0.0.52:5060"
eido_url = "http://127.0.0.1:{transfer_port}/eido/transfers"
token_file = "transfer-out-secrets/banyuasin.token"

[regions.palembang.neighbours.ogan-ilir]
name = "Ogan Ilir Siaga 112"
trunk = "center-ogan-ilir"
match = ["127.0.0.53"]
eido_url = "http://127.0.0.1:9/eido/transfers"
token_file = "transfer-out-secrets/ogan-ilir.token"
"""


@pytest.fixture(scope="module")
def with_neighbours(stack: DevStack, controller: Controller) -> Iterator[None]:
    """Two neighbours of palembang in the stack's routing config, the controller restarted
    to read them; put back afterwards."""
    original = stack.routing_file.read_text()
    secrets = stack.routing_file.parent / "transfer-out-secrets"
    secrets.mkdir(exist_ok=True)
    for name, token in (("banyuasin.token", TOKEN), ("ogan-ilir.token", OTHER_TOKEN)):
        (secrets / name).write_text(token + "\n")
        os.chmod(secrets / name, 0o600)
    stack.routing_file.write_text(original + neighbours(stack.layout.transfer_port))
    reload = config_reload(stack)
    assert reload.returncode == 0, reload.stdout + reload.stderr
    controller.stop()
    controller.start()
    yield
    stack.routing_file.write_text(original)
    assert config_reload(stack).returncode == 0


async def test_the_call_taker_sends_the_incident_and_a_dark_center_says_why(
        stack: DevStack, with_neighbours: None, running_controller: Controller,
        long_takers: Takers) -> None:
    # The outgoing leg's AOR (contact) as Asterisk 22 loaded it from pjsip-neighbours.conf.
    assert stack.asterisk is not None
    aor = stack.asterisk.cli("pjsip show aor center-banyuasin")
    assert "sip:127.0.0.52:5060" in aor, aor
    users = {endpoint: new_user(stack, "to", sip_endpoint=endpoint) for endpoint in ENDPOINTS}
    number = caller()
    before = await last_audit_id(stack)
    call, uniqueid = await caller_with_a_taker(stack, number, hold_ms=14000)
    try:
        (answered,) = [r["answered_by"] for r in await call_rows(stack, [number])]
        async with desk(stack, users[answered]) as ct:
            status, incident = await ct.post("/api/incidents", {**INCIDENT, "call": uniqueid})
            assert status == 201, incident
            path = f"/api/incidents/{incident['id']}/transfers"
            status, sent = await ct.post(path, {"neighbour": "banyuasin", "call": uniqueid})
            assert status == 200, sent
            assert sent["name"] == "Banyuasin Siaga 112"
            assert sent["url"].endswith(f"/eido/transfers/{sent['reference']}")
            assert reference_of(sent["call_info"]) == sent["reference"]
            status, failed = await ct.post(path, {"neighbour": "ogan-ilir", "call": uniqueid})
            assert (status, failed["error"], failed["code"]) == (
                502, "transfer-failed", "unreachable"), failed
            assert failed["text"] == "pusat lain tidak dapat dihubungi"  # id: the default
            assert failed["reason"].startswith("Ogan Ilir Siaga 112: unreachable")
    finally:
        result = await call
    assert result.ok, result.output[-2000:]
    # The neighbour (this stack's listener) kept our EIDO, with our call's id in it.
    [kept] = await rows(stack, select(TransferIn.__table__).where(
        TransferIn.reference == sent["reference"]))
    assert kept["neighbour"] == "banyuasin"
    assert kept["remote_call_id"].startswith(f"urn:emergency:uid:callid:{uniqueid}:")
    assert kept["form"]["description"].startswith("Rumah terbakar")
    # Both steps on the call's record, and in the audit trail on our incident.
    _, steps = await record(stack, number,
                            kinds=frozenset({"transfer.eido-sent", "transfer.failed"}))
    by_kind = {s["kind"]: s["detail"] for s in steps if s["kind"].startswith("transfer.")}
    assert by_kind["transfer.eido-sent"]["reference"] == sent["reference"]
    assert by_kind["transfer.failed"]["reason"] == "unreachable"
    entries = await audit_since(stack, before, subject_type="incident",
                                subject_id=str(incident["id"]))
    transfer_entries = [(e["actor"], e["action"], e["detail"].get("reference"))
                        for e in entries if e["action"].startswith("transfer.")]
    assert transfer_entries == [(users[answered], "transfer.eido-sent", sent["reference"]),
                                (users[answered], "transfer.failed", None)]
