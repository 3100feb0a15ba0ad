"""The benches' web client: log in to the stack's web app as a user, and a call-taker's
desk socket subscribed to the workspace topic (bench-location, bench-texts, bench-surge)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from ntpd_ivr.errors import StackError


async def web_login(http: aiohttp.ClientSession, base: str, user: str, password: str) -> str:
    """Log `user` in on `http` (CSRF first, as a browser does); the session's CSRF token."""
    async with http.get(f"{base}/api/csrf") as reply:
        token = (await reply.json())["csrf_token"]
    async with http.post(f"{base}/login", json={"user": user, "password": password},
                         headers={"X-CSRF-Token": token}) as reply:
        if reply.status != 200:
            raise StackError(f"login as {user}: {reply.status} {await reply.text()}")
        session_token: str = (await reply.json())["csrf_token"]
    return session_token


@asynccontextmanager
async def workspace_desk(base: str, user: str, password: str) -> AsyncIterator[
        tuple[aiohttp.ClientSession, str, aiohttp.ClientWebSocketResponse]]:
    """A logged-in call-taker's (HTTP session, CSRF token, live socket on `workspace`)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await web_login(http, base, user, password)
        async with http.ws_connect(f"{base}/ws") as socket:
            await socket.send_str(json.dumps({"id": 1, "type": "subscribe",
                                              "topic": "workspace"}))
            json.loads(await socket.receive_str(timeout=5))
            yield http, token, socket
