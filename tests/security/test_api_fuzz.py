"""Issue 19, API hygiene: schemathesis, a schema-driven fuzzer, plays a client that sends
the API everything its OpenAPI documents allow and much that they forbid (wrong types,
out-of-range numbers, strings off their pattern, NUL bytes, undocumented methods), against
the controller's own web app (`Service`, every domain's routes) on a free port and a real
PostgreSQL with the report's rows in it. Asterisk is not started: no call is placed, and
what needs AMI answers as it does when AMI is down.

- /api/v1 (the integration contract, /api/v1/openapi.json) with a supervisor's token,
  every check on: no 5xx, only documented status codes and content types, every body valid
  against its schema, every input the document forbids refused with a 4xx, every input it
  allows accepted (except the period rules between two parameters:
  tests/security/schemathesis.toml). The one POST (feed/push) stays in: without `[feed]`
  it answers 409 and changes nothing.
- The screens' JSON routes (/api/openapi.json) with an admin's session and its CSRF
  token: no 5xx, only documented status codes and content types, every error in the
  Problem shape, 405 for undocumented methods. Every route stays in, the state-changing
  ones included: they change this test's own database (incidents, dispatches,
  dispositions, strikes, contacts, campaigns), never the shared stack's, and without AMI
  no phone rings and no campaign dials.

The number of examples is bounded (EXAMPLES per operation) so that each run stays within
about two minutes on a loaded two-core machine; schemathesis' own report is printed when it
finds something."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.api import openapi as api_v1
from ntpd_ivr.api import screens
from tests.conftest import RunningPostgres
from tests.security.api_fixtures import ControllerWeb, serving_controller_web

EXAMPLES = 20
RUN_SECONDS = 240
ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")
# The screens' bodies accept forms' strings and strip blanks before checking lengths: a
# schema cannot state exactly what they take, so the two checks that need it stay off.
SCREENS_CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
                  "response_schema_conformance,unsupported_method")


@pytest.fixture
async def web(db_engine: AsyncEngine, postgres: RunningPostgres, tmp_path: Path
              ) -> AsyncIterator[ControllerWeb]:
    async with serving_controller_web(db_engine, postgres.url, tmp_path) as web:
        yield web


async def fuzz(web: ControllerWeb, document: str, headers: dict[str, str], checks: str,
               tmp_path: Path) -> None:
    options = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    fuzzer = await asyncio.create_subprocess_exec(
        str(ST), "--config-file", str(CONFIG), "run", f"{web.base_url}{document}",
        "--url", web.base_url, *options, "--checks", checks,
        "--max-examples", str(EXAMPLES), "--seed", "19", "--workers", "1",
        "--generation-database", "none", "--no-color",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"})
    try:
        out, _ = await asyncio.wait_for(fuzzer.communicate(), RUN_SECONDS)
    finally:
        if fuzzer.returncode is None:
            fuzzer.kill()
            await fuzzer.wait()
    report = out.decode(errors="replace")
    print(report[-6000:])  # shown with -s, and with a failure
    assert fuzzer.returncode == 0, report[-12000:]
    assert " passed" in report and "Failures:" not in report, report[-4000:]


def test_every_api_route_of_the_controller_is_in_an_openapi_document(
        web: ControllerWeb) -> None:
    documented = {(method.upper(), path)
                  for document in (api_v1.document(), screens.document())
                  for path, operations in document["paths"].items() for method in operations}
    documents = {("GET", "/api/v1/openapi.json"), ("GET", "/api/openapi.json")}
    assert web.api_routes - documents == documented


async def test_fuzzing_api_v1_with_a_token_finds_nothing_outside_its_schema(
        web: ControllerWeb, tmp_path: Path) -> None:
    await fuzz(web, "/api/v1/openapi.json",
               {"Authorization": f"Bearer {web.tokens['monitor']}"}, "all", tmp_path)


async def test_fuzzing_the_screens_routes_with_a_session_finds_no_5xx_and_no_stray_reply(
        web: ControllerWeb, tmp_path: Path) -> None:
    await fuzz(web, "/api/openapi.json", await web.session_headers("root"), SCREENS_CHECKS,
               tmp_path)
