"""Issue 19, API hygiene: schemathesis, a schema-driven fuzzer, plays a client that sends
the API everything its OpenAPI documents allow and much that they forbid (wrong types,
out-of-range numbers, strings off their pattern, NUL bytes, undocumented methods), against
the real web app on a free port and a real PostgreSQL with the report's rows in it.

- /api/v1 (the integration contract) with a supervisor's token, every check on: no 5xx,
  only documented status codes and content types, every body valid against its schema,
  every input the document forbids refused with a 4xx, every input it allows accepted
  (except the period rules between two parameters: tests/security/schemathesis.toml).
  The one POST (feed/push) stays in: without `[feed]` it answers 409 and changes nothing.
- The screens' JSON routes (/api/openapi.json) with a supervisor's session and its CSRF
  token: no 5xx, only documented status codes and content types, every error in the
  Problem shape, 405 for undocumented methods. They change this test's own database
  (incidents, dispatches, dispositions, strikes), never the shared stack's.

The number of examples is bounded (EXAMPLES per operation) so that each run stays well
under three minutes on a loaded two-core machine; schemathesis' own report is printed
when it finds something."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.web.auth import SESSION_COOKIE
from ntpd_ivr.web.csrf import CSRF_COOKIE, CSRF_HEADER
from tests.protocol.webtools import log_in
from tests.security.api_fixtures import ApiCenter, serving_api

EXAMPLES = 30
RUN_SECONDS = 240
ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")
# The screens' bodies accept forms' strings and strip blanks before checking lengths: a
# schema cannot state exactly what they take, so the two checks that need it stay off.
SCREENS_CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
                  "response_schema_conformance,unsupported_method")


@pytest.fixture
async def center(db_engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[ApiCenter]:
    async with serving_api(db_engine, tmp_path) as center:
        yield center


async def fuzz(center: ApiCenter, document: str, headers: dict[str, str], checks: str,
               tmp_path: Path) -> None:
    base = str(center.client.make_url("")).rstrip("/")
    options = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    fuzzer = await asyncio.create_subprocess_exec(
        str(ST), "--config-file", str(CONFIG), "run", f"{base}{document}", "--url", base,
        *options, "--checks", checks, "--max-examples", str(EXAMPLES), "--seed", "19",
        "--workers", "1", "--generation-database", "none", "--no-color",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"})
    try:
        out, _ = await asyncio.wait_for(fuzzer.communicate(), RUN_SECONDS)
    finally:
        if fuzzer.returncode is None:
            fuzzer.kill()
            await fuzzer.wait()
    report = out.decode(errors="replace")
    assert fuzzer.returncode == 0, report[-12000:]
    assert " passed" in report and "Failures:" not in report, report[-4000:]


async def test_fuzzing_api_v1_with_a_token_finds_nothing_outside_its_schema(
        center: ApiCenter, tmp_path: Path) -> None:
    await fuzz(center, "/api/v1/openapi.json", center.bearer("monitor"), "all", tmp_path)


async def test_fuzzing_the_screens_routes_with_a_session_finds_no_5xx_and_no_stray_reply(
        center: ApiCenter, tmp_path: Path) -> None:
    headers = await log_in(center.client, "budi")
    cookies = {c.key: c.value for c in center.client.session.cookie_jar}
    cookie = "; ".join(f"{name}={cookies[name]}" for name in (SESSION_COOKIE, CSRF_COOKIE))
    await fuzz(center, "/api/openapi.json",
               {"Cookie": cookie, CSRF_HEADER: headers[CSRF_HEADER]}, SCREENS_CHECKS,
               tmp_path)
