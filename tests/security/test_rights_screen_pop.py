"""A change to the users file reaches the running controller's screen pops (issue 19):
`ntpd-ivr user add cttwo --sip-endpoint taker-1` while the center runs, then a real call
rung on that stand-in pops on cttwo's desk. (The workspace built its endpoint -> users
map once, at start: logins worked, pops never came.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ntpd_ivr.stack.devstack import DevStack
from tests.e2e.conftest import Controller, Takers, caller, dial, record

from .rights_fixtures import Desk, desk, new_user

pytestmark = pytest.mark.e2e


@contextlib.asynccontextmanager
async def watching(stack: DevStack, user: str
                   ) -> AsyncIterator[tuple[Desk, aiohttp.ClientWebSocketResponse]]:
    """The user's desk with its workspace topic open, as the screen keeps it."""
    async with desk(stack, user) as found:
        async with found.http.ws_connect(f"{found.base}/ws") as socket:
            await socket.send_str(json.dumps({"id": 1, "type": "subscribe",
                                              "topic": "workspace"}))
            assert json.loads(await socket.receive_str(timeout=5))["success"]
            yield found, socket


async def first_pop(socket: aiohttp.ClientWebSocketResponse, within: float
                    ) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no screen pop within {within} s"
        message = json.loads(await socket.receive_str(timeout=left))
        if message.get("kind") == "call.ringing":
            data: dict[str, Any] = message["data"]
            return data


async def test_a_call_taker_added_while_running_gets_the_screen_pop(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    assert running_controller.process is not None  # started before the users exist
    # Whichever stand-in the queue rings, its new user must see the call.
    users = {endpoint: new_user(stack, "cttwo", sip_endpoint=endpoint)
             for endpoint in ("taker-1", "taker-2")}
    number = caller()
    try:
        async with watching(stack, users["taker-1"]) as (one, socket_1), \
                watching(stack, users["taker-2"]) as (two, socket_2):
            call = asyncio.create_task(dial(stack, number, "1"))
            waits = {asyncio.create_task(first_pop(socket, 30)): (endpoint, found)
                     for endpoint, found, socket in (("taker-1", one, socket_1),
                                                     ("taker-2", two, socket_2))}
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            first = done.pop()
            pop = first.result()
            endpoint, popped_desk = waits[first]
            await call
            row, _ = await record(stack, number)
            assert pop["uniqueid"] == row["uniqueid"] and pop["endpoint"] == endpoint
            # The popped call's wrap-up ends with its disposition, set by its own user.
            status, body = await popped_desk.post(
                f"/api/calls/{row['uniqueid']}/disposition", {"disposition": "test"})
            assert status == 200 or row["answered_by"] != endpoint, body
    finally:  # the stand-ins go back as the other tests expect them
        assert stack.asterisk is not None
        for endpoint in users:
            stack.asterisk.cli(f"queue unpause member PJSIP/{endpoint}")
