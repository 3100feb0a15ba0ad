"""SIP identity behind the Kamailio edge (issue 19, item 1), attacked on the real two-node
stack (docs/ha.md): Kamailio in front of two Asterisk 22 nodes and one PostgreSQL, built as
tests/e2e/test_failover.py builds it but cheaper: no controllers (what is checked here is
what the edge relays and what a node accepts, which needs none), and one stack for the
module. The attacker is a raw UDP client from loopback addresses of its choosing; the
"outside" address a relay must never reach is a UDP socket at 127.0.0.99 that only
listens."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ntpd_ivr.errors import StackError
from ntpd_ivr.stack.devstack import OPERATOR_B_IP, TAKER_IP
from ntpd_ivr.stack.hastack import HaLayout, HaStack
from ntpd_ivr.takers.accounts import AccountStore

from .sip_fixtures import Response, SipClient, UdpSink, digest

pytestmark = pytest.mark.e2e

STRANGER_IP = "127.0.0.77"   # neither an operator nor a node
PHONE_IP = "127.0.0.21"      # where the call-takers' "phones" send from
OUTSIDE_IP = "127.0.0.99"    # an address off the center: nothing may be relayed there
ALICE, BOB = "alice", "bob"  # two call-takers with accounts of their own


@pytest.fixture(scope="module")
def ha() -> Iterator[HaStack]:
    run_dir = Path(tempfile.mkdtemp(prefix="ntpd-ivr-sip-edge-"))
    stack = HaStack(HaLayout.ephemeral(run_dir, f"sip-edge-{os.getpid()}"))
    store = AccountStore(stack.nodes[0].takers_file)
    for name in (ALICE, BOB):
        (run_dir / f"{name}-password").write_text(store.add(name, "muba", "takers-muba"))
    store.save()
    try:
        stack.up()
        stack.wait_node_active(0, True, timeout=15)
        yield stack
    finally:
        stack.down()
        stack.destroy()
        shutil.rmtree(run_dir, ignore_errors=True)


def password(ha: HaStack, name: str) -> str:
    return (ha.layout.run_dir / f"{name}-password").read_text()


def node_channels(ha: HaStack, index: int) -> str:
    asterisk = ha.nodes[index].asterisk
    assert asterisk is not None
    return asterisk.cli("core show channels concise")


def hang_up_all(ha: HaStack) -> None:
    for node in ha.nodes:
        assert node.asterisk is not None
        node.asterisk.cli("channel request hangup all")


def binding(ha: HaStack, name: str) -> str:
    """The edge's registration of a call-taker ("" when it has none)."""
    try:
        return ha.edge.rpc("ul.lookup", "location", name)
    except StackError:
        return ""


def register(ha: HaStack, source_ip: str, *, from_user: str, to_user: str,
             credentials: tuple[str, str], contact: str | None = None,
             expires: int = 60) -> Response | None:
    """A REGISTER at the edge, answering its challenge with `credentials` (user,
    password); the final answer."""
    edge = ha.layout.edge_address
    uri = f"sip:{edge}"
    with SipClient(source_ip, edge) as phone:
        contact = contact or f"<sip:{from_user}@{source_ip}:{phone.port}>"
        from_uri, to_uri = f"sip:{from_user}@{edge}", f"sip:{to_user}@{edge}"
        headers: tuple[str, ...] = (f"Expires: {expires}",)
        call_id = phone.request("REGISTER", uri, from_uri=from_uri, to_uri=to_uri,
                                extra=headers, contact=contact)
        final = phone.final(timeout=3)
        if final is None or final.status != 401:
            return final
        authorization = digest(*credentials, "REGISTER", uri,
                               final.header("www-authenticate"))
        phone.request("REGISTER", uri, from_uri=from_uri, to_uri=to_uri, call_id=call_id,
                      cseq=2, contact=contact,
                      extra=(*headers, f"Authorization: {authorization}"))
        return phone.final(timeout=3)


def test_an_invite_from_an_unknown_address_is_refused_at_the_edge(ha: HaStack) -> None:
    """Guard: whatever it names (From, the operator header), a stranger gets 403."""
    edge = ha.layout.edge_address
    uri = f"sip:112@{edge}"
    with SipClient(STRANGER_IP, edge) as attacker:
        attacker.invite(uri, from_uri=f"sip:operator-local@{edge}",
                        extra=("X-NTPD-Operator: operator-local",
                               "P-Asserted-Identity: <sip:+628111222333@x>"))
        final = attacker.final(timeout=5)
    assert final is not None and final.status == 403, final
    assert "operator-" not in node_channels(ha, 0) + node_channels(ha, 1)


def test_an_operator_header_sent_by_an_operator_is_overwritten_at_the_edge(
        ha: HaStack) -> None:
    """Guard: operator-b names itself operator-local in the header; the edge sets the
    header from the source address, and the node sees operator-b."""
    edge = ha.layout.edge_address
    uri = f"sip:112@{edge}"
    try:
        with SipClient(OPERATOR_B_IP, edge) as operator:
            operator.invite(uri, from_uri=f"sip:0811@{edge}",
                            extra=("X-NTPD-Operator: operator-local",))
            final = operator.final(timeout=10)
            assert final is not None and final.status == 200, final
            channels = node_channels(ha, 0)
        assert "PJSIP/operator-b-" in channels and "operator-local" not in channels, channels
    finally:
        hang_up_all(ha)


def test_a_node_takes_the_operator_header_only_from_the_edge(ha: HaStack) -> None:
    """Hole: a node's ACL lets the dev/test stand-ins' address (127.0.0.3) send requests
    (their BYEs), and its identify matched the operator header from anyone: an INVITE
    from there, around the edge, naming operator-local in the header, was a call of
    operator-local's."""
    node = ha.nodes[0]
    target = f"{node.bind}:{node.layout.sip_port}"
    uri = f"sip:112@{target}"
    try:
        with SipClient(TAKER_IP, target) as attacker:
            attacker.invite(uri, from_uri=f"sip:operator-local@{target}",
                            extra=("X-NTPD-Operator: operator-local",
                                   "P-Asserted-Identity: <sip:+628111222333@x>"))
            final = attacker.final(timeout=5)
            channels = node_channels(ha, 0)
        assert final is not None and final.status in (401, 403), final
        assert "operator-local" not in channels, channels
        log = node.security_log.read_text(errors="replace")
        assert any(f"/{TAKER_IP}/" in line and "FailedACL" in line
                   for line in log.splitlines()), log[-2000:]
    finally:
        hang_up_all(ha)


def test_a_call_taker_cannot_register_or_unregister_another(ha: HaStack) -> None:
    """Guard (held before): the hash is looked up by the From user, so alice's own
    credentials with From alice, To bob must not bind bob's AOR; nor may they remove
    bob's binding with `Contact: *`."""
    alice = (ALICE, password(ha, ALICE))
    bob = (BOB, password(ha, BOB))
    # Each registers themself: the credentials and the edge work.
    ok = register(ha, PHONE_IP, from_user=BOB, to_user=BOB, credentials=bob)
    assert ok is not None and ok.status == 200, ok
    bound = binding(ha, BOB)
    assert PHONE_IP in bound, bound
    # alice binds her own contact to bob's AOR: refused.
    hijack = register(ha, STRANGER_IP, from_user=ALICE, to_user=BOB, credentials=alice)
    assert hijack is not None and hijack.status in (401, 403), hijack
    assert STRANGER_IP not in binding(ha, BOB)
    # ... or the edge's own address, through the user part: refused the same.
    spoof = register(ha, STRANGER_IP, from_user=BOB, to_user=BOB, credentials=alice)
    assert spoof is not None and spoof.status in (401, 403), spoof
    # alice removes every binding of bob's: refused; bob stays reachable.
    wipe = register(ha, STRANGER_IP, from_user=ALICE, to_user=BOB, credentials=alice,
                    contact="*", expires=0)
    assert wipe is not None and wipe.status in (401, 403), wipe
    assert PHONE_IP in binding(ha, BOB)
    # alice's own registration works, and is alice's only.
    mine = register(ha, STRANGER_IP, from_user=ALICE, to_user=ALICE, credentials=alice)
    assert mine is not None and mine.status == 200, mine
    assert STRANGER_IP in binding(ha, ALICE) and STRANGER_IP not in binding(ha, BOB)


@pytest.mark.parametrize("shape", ["route-outside", "second-route-outside",
                                   "request-uri-outside"])
@pytest.mark.parametrize("method", ["BYE", "INFO"])
def test_an_in_dialog_request_is_not_relayed_off_the_edge(
        ha: HaStack, shape: str, method: str) -> None:
    """Hole: a request with a To tag went to loose_route(), which follows any Route it
    finds: a preloaded Route (or a Request-URI behind the edge's own Route) to an outside
    address made the edge an open relay. Only routes the edge set are followed, and from
    anyone but a node only to a node."""
    edge = ha.layout.edge_address
    sink = UdpSink(OUTSIDE_IP)
    outside = f"sip:{sink.address};lr"
    own = f"sip:{edge};lr"
    uri, routes = {
        "route-outside": (f"sip:victim@{sink.address}", f"<{outside}>"),
        "second-route-outside": (f"sip:victim@{sink.address}", f"<{own}>, <{outside}>"),
        "request-uri-outside": (f"sip:victim@{sink.address}", f"<{own}>"),
    }[shape]
    try:
        for source in (STRANGER_IP, OPERATOR_B_IP):
            with SipClient(source, edge) as attacker:
                attacker.request(method, uri, from_uri=f"sip:attacker@{source}",
                                 to_uri=f"sip:victim@{sink.address}", to_tag="dialog1",
                                 extra=(f"Route: {routes}",))
                final = attacker.final(timeout=2)
            assert sink.received(within=1.0) == [], (shape, method, source)
            assert final is not None and final.status in (403, 404), (source, final)
    finally:
        sink.close()


def test_the_edge_still_relays_a_real_dialog(ha: HaStack) -> None:
    """The same checks let a real dialog through: operator-b's call, its ACK and BYE on
    the edge's Record-Route, reach the node and end the call there."""
    edge = ha.layout.edge_address
    uri = f"sip:112@{edge}"
    try:
        with SipClient(OPERATOR_B_IP, edge) as operator:
            operator.invite(uri, from_uri=f"sip:0811@{edge}")
            final = operator.final(timeout=10)
            assert final is not None and final.status == 200, final
            assert "PJSIP/operator-b-" in node_channels(ha, 0)
            route = final.header("record-route")
            target = final.header("contact").strip("<>").split(">")[0]
            call_id = final.header("call-id")
            from_tag = final.header("from").rpartition("tag=")[2]
            to_tag = final.header("to").rpartition("tag=")[2]
            for cseq, method in ((1, "ACK"), (2, "BYE")):
                operator.request(method, target, from_uri=f"sip:0811@{edge}", to_uri=uri,
                                 call_id=call_id, cseq=cseq, from_tag=from_tag,
                                 to_tag=to_tag, extra=(f"Route: {route}",))
            bye = operator.final(timeout=5, method="BYE")
        assert bye is not None and bye.status == 200, bye
        deadline = time.monotonic() + 5
        while "PJSIP/operator-b-" in node_channels(ha, 0):
            assert time.monotonic() < deadline, node_channels(ha, 0)
            time.sleep(0.2)
    finally:
        hang_up_all(ha)
