"""The web app on a real aiohttp server: login, roles, and 4xx with a reason."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.protocol.webtools import CALL, csrf_headers, log_in, serving_web


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with serving_web(tmp_path) as test_client:
        yield test_client


async def test_health_is_public(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.get("/healthz")
    assert reply.status == 200 and (await reply.json())["status"] == "ok"


async def test_api_needs_login(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.get("/api/calls")
    assert reply.status == 401
    assert (await reply.json())["error"] == "unauthenticated"
    home = await client.get("/", allow_redirects=False)
    assert home.status == 303 and home.headers["Location"] == "/login"


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, "not valid JSON"),
    ({"json": ["ani"]}, "JSON object"),
    ({"json": {"user": "ani"}}, "user and password are required"),
    ({"data": "user=ani", "headers": {"Content-Type": "text/plain"}}, "send JSON or a form"),
])
async def test_malformed_login_is_a_400_with_a_reason(
        client: TestClient, kwargs: dict[str, Any], reason: str) -> None:  # type: ignore[type-arg]
    kwargs["headers"] = {**kwargs.get("headers", {}), **await csrf_headers(client)}
    reply = await client.post("/login", **kwargs)
    assert reply.status == 400
    assert reason in (await reply.json())["reason"]


async def test_wrong_password_is_refused(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.post("/login", json={"user": "ani", "password": "guess"},
                              headers=await csrf_headers(client))
    assert reply.status == 401
    assert "ntpd_session" not in reply.cookies


async def test_calltaker_logs_in_and_reads_calls(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.post("/login", json={"user": "ani", "password": "ani-password"},
                              headers=await csrf_headers(client))
    assert reply.status == 200 and (await reply.json())["role"] == "calltaker"
    cookie = reply.cookies["ntpd_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    me = await client.get("/api/me")
    assert (await me.json())["user"] == "ani"
    calls = await client.get("/api/calls", params={"limit": "2"})
    assert calls.status == 200 and (await calls.json())["calls"] == [CALL, CALL]
    page = await client.get("/")
    assert page.status == 200 and "0811" in await page.text()
    headers = {"X-CSRF-Token": (await reply.json())["csrf_token"]}
    assert (await client.post("/logout", headers=headers)).status == 200
    assert (await client.get("/api/me")).status == 401


@pytest.mark.parametrize(("limit", "reason"), [("abc", "whole number"), ("0", "1-500"),
                                               ("501", "1-500")])
async def test_bad_query_is_a_400_with_a_reason(
        client: TestClient, limit: str, reason: str) -> None:  # type: ignore[type-arg]
    await log_in(client, "ani")
    reply = await client.get("/api/calls", params={"limit": limit})
    assert reply.status == 400 and reason in (await reply.json())["reason"]


async def test_forged_cookie_is_refused(client: TestClient) -> None:  # type: ignore[type-arg]
    client.session.cookie_jar.update_cookies({"ntpd_session": "ani|admin|9999999999|00"})
    assert (await client.get("/api/me")).status == 401
