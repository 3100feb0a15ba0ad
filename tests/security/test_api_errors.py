"""Issue 19, API hygiene: hostile input to /api/ gets a 4xx with a reason in the documented
error shape, `{"error": id, "reason": text}` as JSON, never a 500 and never aiohttp's
text/plain. The real app on a free port, a real PostgreSQL.

Seen failing on the old code (main at d793dc8): a NUL in a query or path parameter went to
PostgreSQL and gave 500; an unknown path, a wrong method and a too-large body got
aiohttp's text/plain 404/405/413; an unknown charset and absurdly deep JSON gave 500; a
failing handler gave a text/plain 500; an infinite number in a campaign gave 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.web.app import MAX_BODY_BYTES
from tests.conftest import RunningPostgres
from tests.protocol.webtools import log_in
from tests.security.api_fixtures import (
    CRASH_PATH,
    ApiCenter,
    serving_api,
    serving_controller_web,
)


@pytest.fixture
async def center(db_engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[ApiCenter]:
    async with serving_api(db_engine, tmp_path) as center:
        yield center


async def problem(reply: ClientResponse, status: int, error: str) -> dict[str, Any]:
    """The reply is `status` in the documented error shape, with this id and a reason."""
    text = await reply.text()
    assert reply.status == status, text
    assert reply.content_type == "application/json", (reply.content_type, text)
    body = await reply.json()
    assert set(body) == {"error", "reason"} and body["error"] == error and body["reason"], body
    return body  # type: ignore[no-any-return]


NUL_QUERIES = [
    ("/api/v1/calls?region=palembang%00x", "desk"),
    ("/api/v1/dispatches?agency=%00", "monitor"),
    ("/api/v1/calls/1795800000.1%00", "desk"),
    ("/api/v1/incidents?status=open&limit=5&from=2026-11-01%00", "desk"),
    ("/api/dispatches?agency=palembang-damkar%00", "session"),
    ("/api/reports/commitments?region=%00", "session"),
]


@pytest.mark.parametrize(("path", "who"), NUL_QUERIES)
async def test_a_nul_byte_in_a_parameter_is_refused_before_the_database(
        center: ApiCenter, path: str, who: str) -> None:
    headers = {}
    if who == "session":
        await log_in(center.client, "budi")
    else:
        headers = center.bearer(who)
    body = await problem(await center.client.get(path, headers=headers), 400, "bad-request")
    assert "NUL" in body["reason"]


@pytest.mark.parametrize("path", [
    "/api/reports/commitments?to=0001-01-02",  # 30 days before: OverflowError
    "/api/v1/calls?to=0001-01-02",
    "/api/reports/commitments?region=Not%20a%20region",
    "/api/dispatches?agency=x%3Bdrop",
])
async def test_a_date_or_name_off_its_pattern_is_refused(center: ApiCenter,
                                                          path: str) -> None:
    await log_in(center.client, "budi")
    await problem(await center.client.get(path), 400, "bad-request")


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/no-such-thing",
                                  "/api/v1/incidents/not-a-number"])
async def test_an_unknown_api_path_is_a_json_404(center: ApiCenter, path: str) -> None:
    await problem(await center.client.get(path, headers=center.bearer("monitor")), 404,
                  "not-found")


async def test_an_api_refusal_is_json_even_for_a_browser(center: ApiCenter) -> None:
    """Accept: text/html used to get an HTML page from the domains' refusals under /api/;
    only a page's form post still does."""
    await log_in(center.client, "budi")
    reply = await center.client.get("/api/incidents/99", headers={"Accept": "text/html"})
    await problem(reply, 404, "not-found")


async def test_a_page_outside_the_api_keeps_its_own_404(center: ApiCenter) -> None:
    reply = await center.client.get("/no-such-page")
    assert reply.status == 404 and reply.content_type != "application/json"


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/api/v1/calls", "GET"),
    ("POST", "/api/v1/figures", "GET"),
    ("GET", "/api/notices", "POST"),
])
async def test_a_wrong_method_is_a_json_405_that_says_what_is_allowed(
        center: ApiCenter, method: str, path: str, allowed: str) -> None:
    reply = await center.client.request(method, path, headers=center.bearer("monitor"))
    await problem(reply, 405, "method-not-allowed")
    assert allowed in reply.headers["Allow"]


MALFORMED = [
    pytest.param(b'{"region": "palembang", ', "application/json", id="truncated"),
    pytest.param(b"[" * 5000 + b"]" * 5000, "application/json", id="deep-nesting"),
    pytest.param(b'{"region": "palembang"}', "application/json; charset=x-no-such",
                 id="unknown-charset"),
    pytest.param(b'{"region": "\xff\xfe"}', "application/json", id="not-utf-8"),
    pytest.param(b'{"description": "a\\u0000b"}', "application/json", id="nul-in-a-string"),
    pytest.param(b'["a list"]', "application/json", id="not-an-object"),
]


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
async def test_a_malformed_json_body_is_a_400_with_its_reason(
        center: ApiCenter, body: bytes, content_type: str) -> None:
    headers = await log_in(center.client, "ani")
    reply = await center.client.post("/api/incidents", data=body,
                                     headers={**headers, "Content-Type": content_type})
    reason = (await problem(reply, 400, "bad-request"))["reason"]
    assert "JSON" in reason or "NUL" in reason


async def test_a_body_over_the_limit_is_a_json_413(center: ApiCenter) -> None:
    headers = await log_in(center.client, "ani")
    big = b'{"description": "' + b"x" * MAX_BODY_BYTES + b'"}'
    reply = await center.client.post("/api/incidents", data=big,
                                     headers={**headers, "Content-Type": "application/json"})
    await problem(reply, 413, "too-large")


async def test_a_failing_handler_is_a_json_500_without_its_details(
        center: ApiCenter) -> None:
    body = await problem(await center.client.get(CRASH_PATH), 500, "internal")
    assert "bug" not in body["reason"]


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b'"inf"', b'"nan"'])
async def test_an_infinite_number_in_a_campaign_is_a_400(
        db_engine: AsyncEngine, postgres: RunningPostgres, tmp_path: Path,
        number: bytes) -> None:
    """JSON's 1e400 is float('inf'); int() of it was an OverflowError (500)."""
    async with serving_controller_web(db_engine, postgres.url, tmp_path) as web:
        headers = await web.session_headers("root")
        async with ClientSession() as http:
            reply = await http.post(
                f"{web.base_url}/api/warnings/campaigns",
                data=b'{"title": "Banjir", "message_text": "Air naik", "max_attempts": '
                     + number + b"}",
                headers={**headers, "Content-Type": "application/json"})
            body = await problem(reply, 400, "bad-request")
    assert "max_attempts" in body["reason"]
