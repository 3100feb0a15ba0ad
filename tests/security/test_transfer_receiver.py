"""Attacks on the transfer EIDO receiver (issue 23 item 3), the listener that faces the
neighbouring 112 centers: the real app on its own listener on a free port, a save we own.
Each attack is refused with its status and reason, counted, and nothing is saved; the token
says which neighbour sent it, never anything in the body."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ntpd_ivr.eido.model import MAX_EIDO_BYTES, IncomingIncident
from ntpd_ivr.transfer.receive import PATH, TransferReceiver, transfer_app
from ntpd_ivr.web.listener import Listener
from tests.transfer_fixtures import (
    OTHER_TOKEN,
    REMOTE_CALL_ID,
    TOKEN,
    eido_bytes,
    routing_with_neighbours,
)

JSON = {"Content-Type": "application/json"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **JSON}


@dataclass
class Rig:
    url: str
    receiver: TransferReceiver
    saved: list[tuple[str, IncomingIncident]] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None

    async def post(self, body: bytes, headers: dict[str, str] | None = None,
                   path: str = PATH, method: str = "POST") -> tuple[int, dict[str, Any]]:
        assert self.session is not None
        async with self.session.request(method, self.url + path, data=body,
                                        headers=bearer(TOKEN) if headers is None
                                        else headers) as reply:
            payload = await reply.json() if reply.content_type == "application/json" else {}
            return reply.status, payload


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    routing = routing_with_neighbours(tmp_path)
    saved: list[tuple[str, IncomingIncident]] = []

    async def save(neighbour: str, incoming: IncomingIncident, document: str) -> str:
        saved.append((neighbour, incoming))
        return "0123456789abcdef0123456789abcdef"

    receiver = TransferReceiver(save, lambda: routing, rate_per_minute=30)
    listener = Listener(transfer_app(receiver), "127.0.0.1", 0)
    await listener.start()
    rig = Rig(f"http://127.0.0.1:{listener.port}", receiver, saved)
    async with aiohttp.ClientSession() as session:
        rig.session = session
        try:
            yield rig
        finally:
            await listener.stop()


async def test_a_valid_eido_with_a_neighbours_token_is_saved_as_that_neighbours(
        rig: Rig) -> None:
    status, body = await rig.post(eido_bytes())
    assert status == 201, body
    assert body["reference"] == "0123456789abcdef0123456789abcdef"
    assert body["url"].endswith(f"{PATH}/{body['reference']}")
    [(neighbour, incoming)] = rig.saved
    assert neighbour == "banyuasin"
    assert incoming.remote_call_id == REMOTE_CALL_ID and incoming.category == "fire"
    # The other neighbour's token names the other neighbour, whatever the body says.
    status, _ = await rig.post(eido_bytes(), bearer(OTHER_TOKEN))
    assert status == 201 and rig.saved[-1][0] == "musi-rawas"


@pytest.mark.parametrize(("headers", "why"), [
    (JSON, "no Authorization"),
    (bearer("banyuasin-token-0123456789-abcdefgX"), "a wrong token"),
    (bearer(TOKEN[:-1]), "a prefix of the token"),
    ({"Authorization": f"Basic {TOKEN}", **JSON}, "another scheme"),
    ({"Authorization": "Bearer ", **JSON}, "an empty token"),
    ({"Authorization": "Bearer banyuasin", **JSON}, "a neighbour's name for a token"),
])
async def test_without_a_neighbours_token_it_is_refused_before_the_body_is_read(
        rig: Rig, headers: dict[str, str], why: str) -> None:
    status, body = await rig.post(eido_bytes(), headers)
    assert (status, body.get("reason")) == (401, "no valid neighbour token"), why
    assert rig.saved == []


@pytest.mark.parametrize(("data", "status", "reason"), [
    (b"{not json", 400, "not JSON"),
    (b"[]", 400, "object"),
    (json.dumps({"eidoVersion": "1.0"}).encode(), 400, "not a valid EIDO"),
    (b'{"a": NaN}', 400, "NaN"),
    (b"\xff\xfe", 400, "UTF-8"),
])
async def test_a_malformed_eido_is_refused_with_the_reason(
        rig: Rig, data: bytes, status: int, reason: str) -> None:
    got, body = await rig.post(data)
    assert got == status and body["error"] == "refused"
    assert reason.lower() in body["reason"].lower(), body
    assert rig.saved == [] and rig.receiver.counts[f"refused_{status}"] == 1


async def test_a_schema_invalid_eido_names_what_is_wrong(rig: Rig) -> None:
    document = json.loads(eido_bytes())
    document["callComponent"][0]["direction"] = "sideways"
    status, body = await rig.post(json.dumps(document).encode())
    assert status == 400 and "/callComponent/0/direction" in body["reason"]
    assert rig.saved == []


async def test_oversized_wrong_type_and_wrong_path_are_refused(rig: Rig) -> None:
    status, body = await rig.post(b" " * (MAX_EIDO_BYTES + 1))
    assert (status, body["reason"]) == (413, f"body larger than {MAX_EIDO_BYTES} bytes")
    status, body = await rig.post(eido_bytes(), {"Authorization": f"Bearer {TOKEN}",
                                                 "Content-Type": "text/plain"})
    assert status == 415 and "JSON" in body["reason"]
    status, _ = await rig.post(eido_bytes(), path="/eido/transfers/x")
    assert status == 404
    status, _ = await rig.post(b"", method="GET")
    assert status == 405
    assert rig.saved == []


async def test_a_flood_is_limited_per_address_before_any_token_is_compared(rig: Rig) -> None:
    statuses = [(await rig.post(b"{}", JSON))[0] for _ in range(31)]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429
    status, body = await rig.post(eido_bytes())  # even with the right token now
    assert (status, body["reason"]) == (429, "too many requests")
    assert rig.saved == []
