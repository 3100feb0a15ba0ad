"""The EIDO POST client of a transfer (issue 23 item 2, transfer/send.py) against a real
aiohttp server on loopback: the neighbour's own receiver (receive.py's app, a save we own)
for the token and its refusals, and small hand-made servers for what a receiver must never
do to us (hang, redirect, answer too much, answer a url that could break the INVITE)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.exc import OperationalError

from ntpd_ivr.calls.values import CallStep
from ntpd_ivr.eido import model
from ntpd_ivr.eido.model import IncomingIncident
from ntpd_ivr.incidents.exceptions import NotFound
from ntpd_ivr.incidents.schemas import BadInput
from ntpd_ivr.transfer.config import Neighbour
from ntpd_ivr.transfer.model import reference_of
from ntpd_ivr.transfer.receive import PATH, TransferReceiver, transfer_app
from ntpd_ivr.transfer.send import EidoPostFailed, post_eido
from ntpd_ivr.transfer.sender import TransferFailed, TransferSender
from ntpd_ivr.web.listener import Listener
from tests.transfer_fixtures import REMOTE_CALL_ID, routing_with_neighbours
from tests.unit.test_eido_model import CENTER, incident

REFERENCE = "0123456789abcdef0123456789abcdef"
Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Starts an app on a free loopback port; returns its origin."""
    listeners: list[Listener] = []

    async def start(app: web.Application) -> str:
        listener = Listener(app, "127.0.0.1", 0)
        await listener.start()
        listeners.append(listener)
        return f"http://127.0.0.1:{listener.port}"

    yield start
    for listener in listeners:
        await listener.stop()


@pytest.fixture
def banyuasin(tmp_path: Path) -> Neighbour:
    return routing_with_neighbours(tmp_path).neighbours["muba"]["banyuasin"]


def at(neighbour: Neighbour, origin: str, path: str = PATH) -> Neighbour:
    return dataclasses.replace(neighbour, eido_url=origin + path)


def document() -> dict[str, Any]:
    return model.export(incident(), CENTER)


async def receiver(serve: Serve, tmp_path: Path, save: Any = None
                   ) -> tuple[str, list[tuple[str, IncomingIncident]]]:
    routing = routing_with_neighbours(tmp_path)
    saved: list[tuple[str, IncomingIncident]] = []

    async def keep(neighbour: str, incoming: IncomingIncident, text: str) -> str:
        saved.append((neighbour, incoming))
        return REFERENCE

    app = transfer_app(TransferReceiver(save or keep, lambda: routing, rate_per_minute=30))
    return await serve(app), saved


async def test_the_neighbour_keeps_our_eido_and_its_url_names_it_in_call_info(
        serve: Serve, tmp_path: Path, banyuasin: Neighbour) -> None:
    origin, saved = await receiver(serve, tmp_path)
    async with aiohttp.ClientSession() as session:
        posted = await post_eido(session, at(banyuasin, origin), document())
    assert posted.reference == REFERENCE
    assert posted.url == f"{origin}{PATH}/{REFERENCE}"
    assert posted.call_info == f"<{posted.url}>;purpose=EmergencyCallData.eido"
    # What the receiving IVR reads back out of our INVITE's header.
    assert reference_of(posted.call_info) == REFERENCE
    # Our token said who we are; the document arrived whole.
    [(who, incoming)] = saved
    assert who == "banyuasin" and incoming.remote_call_id == REMOTE_CALL_ID


async def test_a_wrong_token_is_unauthorized_with_the_receivers_reason(
        serve: Serve, tmp_path: Path, banyuasin: Neighbour) -> None:
    origin, saved = await receiver(serve, tmp_path)
    # Our side's token file (the receiver reads its own, which holds the shared token).
    ours = tmp_path / "ours.token"
    ours.write_text("not-the-shared-token-0123456789ab\n")
    wrong = dataclasses.replace(banyuasin, token_file=str(ours))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(EidoPostFailed) as failed:
            await post_eido(session, at(wrong, origin), document())
    assert failed.value.reason == "unauthorized"
    assert "401" in failed.value.detail and "no valid neighbour token" in failed.value.detail
    assert saved == []


async def test_a_document_the_receiver_finds_invalid_is_refused_with_its_reason(
        serve: Serve, tmp_path: Path, banyuasin: Neighbour) -> None:
    origin, _ = await receiver(serve, tmp_path)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(EidoPostFailed) as failed:
            await post_eido(session, at(banyuasin, origin), {"eidoVersion": "1.0"})
    assert failed.value.reason == "refused"
    assert "400" in failed.value.detail and "not a valid EIDO" in failed.value.detail


async def test_a_receiver_that_cannot_store_is_unavailable(
        serve: Serve, tmp_path: Path, banyuasin: Neighbour) -> None:
    async def broken(neighbour: str, incoming: IncomingIncident, text: str) -> str:
        raise OperationalError("insert", {}, Exception("database down"))

    origin, _ = await receiver(serve, tmp_path, broken)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(EidoPostFailed) as failed:
            await post_eido(session, at(banyuasin, origin), document())
    assert failed.value.reason == "unavailable" and "503" in failed.value.detail


async def test_a_receiver_that_never_answers_times_out_within_the_bound(
        serve: Serve, banyuasin: Neighbour) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post(PATH, hang)
    origin = await serve(app)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(EidoPostFailed) as failed:
            await post_eido(session, at(banyuasin, origin), document(), seconds=0.5)
    assert failed.value.reason == "timeout"
    assert loop.time() - started < 5


async def test_a_closed_port_is_unreachable(banyuasin: Neighbour) -> None:
    # A port nobody listens on: bound, then closed.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(EidoPostFailed) as failed:
            await post_eido(session, at(banyuasin, f"http://127.0.0.1:{port}"), document())
    assert failed.value.reason == "unreachable"


async def test_a_redirect_is_not_followed_so_the_token_goes_nowhere_else(
        serve: Serve, banyuasin: Neighbour) -> None:
    seen: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"reference": REFERENCE, "url": "x"}, status=201)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/elsewhere")

    app = web.Application()
    app.router.add_post(PATH, redirect)
    app.router.add_post("/elsewhere", elsewhere)
    origin = await serve(app)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(EidoPostFailed) as failed:
            await post_eido(session, at(banyuasin, origin), document())
    assert failed.value.reason == "refused" and "307" in failed.value.detail
    assert seen == []


@pytest.mark.parametrize(("answer", "why"), [
    (b"x" * 5000, "over 4096"),
    (b"not json", "not JSON"),
    (json.dumps({"reference": "ABC", "url": "http://127.0.0.1/x"}).encode(), "reference"),
    (json.dumps({"reference": REFERENCE,
                 "url": f"http://127.0.0.1/e/{REFERENCE}>;purpose=x, <sip:evil"}).encode(),
     "SIP header"),
    (json.dumps({"reference": REFERENCE,
                 "url": f"http://center.example/e/{REFERENCE}"}).encode(), "https"),
    (json.dumps({"reference": REFERENCE,
                 "url": "https://center.example/e/ffffffffffffffffffffffffffffffff"}).encode(),
     "does not end in its reference"),
])
async def test_a_201_we_could_not_put_in_an_invite_is_a_bad_answer(
        serve: Serve, banyuasin: Neighbour, answer: bytes, why: str) -> None:
    async def created(request: web.Request) -> web.Response:
        return web.Response(status=201, body=answer, content_type="application/json")

    app = web.Application()
    app.router.add_post(PATH, created)
    origin = await serve(app)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(EidoPostFailed) as failed:
            await post_eido(session, at(banyuasin, origin), document())
    assert failed.value.reason == "bad-answer"
    assert why in failed.value.detail


async def test_a_document_over_the_bound_is_never_sent(banyuasin: Neighbour) -> None:
    huge = {"eidoVersion": "1.0", "padding": "x" * model.MAX_EIDO_BYTES}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(EidoPostFailed) as failed:
            # Port 9 (discard): it would be unreachable, were anything sent.
            await post_eido(session, at(banyuasin, "http://127.0.0.1:9"), huge)
    assert failed.value.reason == "too-large"


async def test_an_unreadable_token_file_is_no_token(banyuasin: Neighbour) -> None:
    gone = dataclasses.replace(banyuasin, token_file="/nonexistent/banyuasin.token")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(EidoPostFailed) as failed:
            await post_eido(session, at(gone, "http://127.0.0.1:9"), document())
    assert failed.value.reason == "no-token"


# --- the desk's step: TransferSender (transfer/sender.py) ------------------------------------


@dataclass
class Written:
    audit: list[tuple[str, str, str, str, dict[str, Any]]] = field(default_factory=list)
    steps: list[CallStep] = field(default_factory=list)

    async def write(self, actor: str, action: str, subject_type: str, subject_id: str,
                    detail: Mapping[str, Any]) -> None:
        self.audit.append((actor, action, subject_type, subject_id, dict(detail)))


def sender_to(tmp_path: Path, origin: str, written: Written) -> TransferSender:
    routing = routing_with_neighbours(tmp_path)
    moved = {"muba": {key: at(n, origin) for key, n in routing.neighbours["muba"].items()}}
    live = dataclasses.replace(routing, neighbours=moved)

    async def incident_eido(incident_id: int) -> tuple[str, dict[str, Any]] | None:
        return ("muba", document()) if incident_id == 7 else None

    return TransferSender(incident_eido, lambda: live, written, written.steps.append,
                          seconds=2.0)


async def test_the_sent_eido_is_a_step_on_the_call_and_an_audit_entry_on_the_incident(
        serve: Serve, tmp_path: Path) -> None:
    origin, saved = await receiver(serve, tmp_path)
    written = Written()
    sender = sender_to(tmp_path, origin, written)
    try:
        result = await sender.send_eido(7, "banyuasin", "1795800000.1", "ani")
    finally:
        await sender.stop()
    assert result["reference"] == REFERENCE and result["neighbour"] == "banyuasin"
    assert reference_of(result["call_info"]) == REFERENCE
    assert len(saved) == 1
    [step] = written.steps
    assert (step.uniqueid, step.kind) == ("1795800000.1", "transfer.eido-sent")
    assert step.detail["reference"] == REFERENCE and step.detail["incident"] == 7
    [(actor, action, subject, subject_id, detail)] = written.audit
    assert (actor, action, subject, subject_id) == ("ani", "transfer.eido-sent", "incident",
                                                    "7")
    assert detail["reference"] == REFERENCE and detail["url"] == result["url"]


async def test_a_refused_eido_is_recorded_and_the_desk_gets_502_with_the_reason(
        serve: Serve, tmp_path: Path) -> None:
    async def broken(neighbour: str, incoming: IncomingIncident, text: str) -> str:
        raise OperationalError("insert", {}, Exception("database down"))

    origin, _ = await receiver(serve, tmp_path, broken)
    written = Written()
    sender = sender_to(tmp_path, origin, written)
    try:
        with pytest.raises(TransferFailed) as failed:
            await sender.send_eido(7, "banyuasin", "1795800000.1", "ani")
    finally:
        await sender.stop()
    assert (failed.value.status, failed.value.error) == (502, "transfer-failed")
    assert failed.value.failure_reason == "unavailable"
    assert "Banyuasin Siaga 112" in failed.value.reason
    [step] = written.steps
    assert step.kind == "transfer.failed" and step.detail["reason"] == "unavailable"
    assert [a[1] for a in written.audit] == ["transfer.failed"]


async def test_a_center_the_region_does_not_list_or_no_incident_is_refused_unsent(
        tmp_path: Path) -> None:
    written = Written()
    sender = sender_to(tmp_path, "http://127.0.0.1:9", written)
    with pytest.raises(BadInput, match="not a center region muba may transfer to"):
        await sender.send_eido(7, "ogan-ilir", "1795800000.1", "ani")
    with pytest.raises(NotFound):
        await sender.send_eido(8, "banyuasin", "1795800000.1", "ani")
    assert written.steps == [] and written.audit == []
