"""Every refusal of the web app, on a real server: CSRF, rate limit, roles, bad input,
language switch and security headers. Each answer is a 4xx with a reason."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ntpd_ivr.web.ratelimit import LoginLimiter, LoginLimits
from tests.protocol.webtools import PASSWORDS, csrf_headers, log_in, serving_web

HTML = {"Accept": "text/html"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(tmp_path: Path, clock: Clock) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    limiter = LoginLimiter(LoginLimits(per_user_address=5, per_address=10,
                                       window_seconds=300.0, refusal_delay_seconds=0),
                           clock=clock)
    async with serving_web(tmp_path, limiter=limiter) as test_client:
        yield test_client


async def test_login_without_csrf_cookie_is_refused(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.post("/login", json={"user": "ani", "password": PASSWORDS["ani"]})
    assert reply.status == 403
    body = await reply.json()
    assert body["error"] == "csrf" and "no CSRF cookie" in body["reason"]
    assert "ntpd_session" not in reply.cookies


async def test_login_without_or_with_a_wrong_csrf_token_is_refused(
        client: TestClient) -> None:  # type: ignore[type-arg]
    await client.get("/login")  # the browser now holds the CSRF cookie
    credentials = {"user": "ani", "password": PASSWORDS["ani"]}
    missing = await client.post("/login", data=credentials)
    assert missing.status == 403 and "no CSRF token" in (await missing.json())["reason"]
    wrong = await client.post("/login", data={**credentials, "csrf_token": "0" * 64})
    assert wrong.status == 403 and "does not match" in (await wrong.json())["reason"]
    assert (await client.get("/api/me")).status == 401


async def test_form_post_without_token_gets_a_page_in_bahasa(
        client: TestClient) -> None:  # type: ignore[type-arg]
    await client.get("/login")
    reply = await client.post("/login", data={"user": "ani", "password": "x"}, headers=HTML)
    assert reply.status == 403 and reply.content_type == "text/html"
    page = await reply.text()
    assert 'lang="id"' in page and "Token keamanan formulir (CSRF)" in page


async def test_csrf_token_changes_at_login_and_logout(client: TestClient) -> None:  # type: ignore[type-arg]
    before = await csrf_headers(client)
    after_login = await log_in(client, "ani")
    assert after_login != before
    stale = await client.post("/logout", headers=before)
    assert stale.status == 403 and (await client.get("/api/me")).status == 200
    assert (await client.post("/logout", headers=after_login)).status == 200
    assert (await client.get("/api/me")).status == 401
    assert (await client.post("/logout", headers=after_login)).status == 403


async def test_five_failures_for_a_user_then_429_with_retry_after(
        client: TestClient, clock: Clock) -> None:  # type: ignore[type-arg]
    headers = await csrf_headers(client)
    for _ in range(5):
        reply = await client.post("/login", json={"user": "ani", "password": "guess"},
                                  headers=headers)
        assert reply.status == 401
    clock.now += 10
    right = {"user": "ani", "password": PASSWORDS["ani"]}
    limited = await client.post("/login", json=right, headers=headers)
    assert limited.status == 429 and limited.headers["Retry-After"] == "290"
    assert (await limited.json())["error"] == "rate-limited"
    assert "ntpd_session" not in limited.cookies
    clock.now += 291
    assert (await client.post("/login", json=right, headers=headers)).status == 200


async def test_failures_on_many_names_limit_the_address(
        client: TestClient) -> None:  # type: ignore[type-arg]
    headers = await csrf_headers(client)
    for n in range(10):
        reply = await client.post("/login", json={"user": f"guess{n}", "password": "x"},
                                  headers=headers)
        assert reply.status == 401
    limited = await client.post("/login", json={"user": "budi", "password": PASSWORDS["budi"]},
                                headers=headers)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) == 300


async def test_rate_limited_form_login_says_so_in_bahasa(
        client: TestClient) -> None:  # type: ignore[type-arg]
    token = (await csrf_headers(client))["X-CSRF-Token"]
    form = {"user": "ani", "password": "guess", "csrf_token": token}
    for _ in range(5):
        failed = await client.post("/login", data=form, headers=HTML)
        assert failed.status == 401
        assert "Nama pengguna atau kata sandi salah." in await failed.text()
    limited = await client.post("/login", data=form, headers=HTML)
    assert limited.status == 429 and "Retry-After" in limited.headers
    assert "Terlalu banyak percobaan gagal. Coba lagi dalam 5 menit." in await limited.text()


@pytest.mark.parametrize(("body", "reason"), [
    ({"user": "ani", "password": "p" * 1025}, "at most"),
    ({"user": "a" * 65, "password": "p"}, "at most"),
    ({"user": 7, "password": "p"}, "required strings"),
])
async def test_oversized_or_mistyped_credentials_are_a_400(
        client: TestClient, body: dict[str, object], reason: str) -> None:  # type: ignore[type-arg]
    reply = await client.post("/login", json=body, headers=await csrf_headers(client))
    assert reply.status == 400 and reason in (await reply.json())["reason"]


async def test_oversized_body_is_a_413(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.post("/login", json={"user": "ani", "password": "p" * 20_000},
                              headers=await csrf_headers(client))
    assert reply.status == 413


async def test_calltaker_may_not_post_notices(client: TestClient) -> None:  # type: ignore[type-arg]
    headers = await log_in(client, "ani")
    reply = await client.post("/api/notices", json={"text": "banjir"}, headers=headers)
    assert reply.status == 403
    body = await reply.json()
    assert body["error"] == "forbidden" and "needs supervisor" in body["reason"]
    page = await client.post("/api/notices", json={"text": "banjir"}, headers={**headers, **HTML})
    assert page.status == 403


async def test_notices_need_a_session(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.post("/api/notices", json={"text": "banjir"},
                              headers=await csrf_headers(client))
    assert reply.status == 401 and (await reply.json())["error"] == "unauthenticated"


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"json": {}}, "text must be"),
    ({"json": {"text": "   "}}, "text must be"),
    ({"json": {"text": "x" * 501}}, "text must be"),
    ({"data": "[1]", "headers": {"Content-Type": "application/json"}}, "JSON object"),
    ({"data": "text", "headers": {"Content-Type": "text/plain"}}, "send JSON or a form"),
])
async def test_bad_notice_is_a_400(
        client: TestClient, kwargs: dict[str, Any], reason: str) -> None:  # type: ignore[type-arg]
    headers = await log_in(client, "budi")
    extra = kwargs.pop("headers", {})
    reply = await client.post("/api/notices", headers={**headers, **extra}, **kwargs)
    assert reply.status == 400 and reason in (await reply.json())["reason"]


async def test_supervisor_notice_reaches_nobody_yet(client: TestClient) -> None:  # type: ignore[type-arg]
    headers = await log_in(client, "budi")
    reply = await client.post("/api/notices", json={"text": "banjir"}, headers=headers)
    assert reply.status == 200 and await reply.json() == {"delivered": 0}


async def test_language_switch(client: TestClient) -> None:  # type: ignore[type-arg]
    assert "Kata sandi" in await (await client.get("/login")).text()
    token = (await csrf_headers(client))["X-CSRF-Token"]
    no_token = await client.post("/lang", data={"lang": "en", "next": "/login"})
    assert no_token.status == 403
    bad = await client.post("/lang", data={"lang": "fr", "csrf_token": token})
    assert bad.status == 400 and "lang must be one of" in (await bad.json())["reason"]
    switched = await client.post("/lang", data={"lang": "en", "next": "/login",
                                               "csrf_token": token}, allow_redirects=False)
    assert switched.status == 303 and switched.headers["Location"] == "/login"
    page = await (await client.get("/login")).text()
    assert 'lang="en"' in page and "Password" in page and "Kata sandi" not in page


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "login"])
async def test_language_switch_never_redirects_off_site(
        client: TestClient, target: str) -> None:  # type: ignore[type-arg]
    token = (await csrf_headers(client))["X-CSRF-Token"]
    reply = await client.post("/lang", data={"lang": "en", "next": target, "csrf_token": token},
                              allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"] == "/"


async def test_pages_are_local_only_and_static_is_served(
        client: TestClient) -> None:  # type: ignore[type-arg]
    page = await client.get("/login")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "http" not in (await page.text()).replace('href="/', "")
    for asset, kind in (("style.css", "text/css"), ("live.js", "javascript")):
        reply = await client.get(f"/static/{asset}")
        assert reply.status == 200 and kind in reply.content_type
    assert (await client.get("/static/../app.py")).status in (403, 404)


async def test_a_login_over_a_session_ends_the_old_one(
        client: TestClient) -> None:  # type: ignore[type-arg]
    await log_in(client, "ani")
    old = {name: morsel.value for name, morsel in client.session.cookie_jar.filter_cookies(
        client.make_url("/")).items()}
    await log_in(client, "budi")
    assert (await client.get("/api/me")).status == 200
    replay = await client.get("/api/me", cookies={"ntpd_session": old["ntpd_session"]})
    assert replay.status == 401
