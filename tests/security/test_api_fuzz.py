"""Issue 19, API hygiene: schemathesis, a schema-driven fuzzer, plays a client that sends
/api/v1 everything its OpenAPI document allows and much that it forbids (wrong types,
out-of-range numbers, strings off their pattern, NUL bytes, undocumented methods), with a
supervisor's token, against the real web app on a free port and a real PostgreSQL with the
report's rows in it. Every reply must be in the document: no 5xx, only documented status
codes and content types, every body valid against its schema, every input the document
forbids refused with a 4xx. The one POST (feed/push) stays in: without `[feed]` it answers
409 feed-off and changes nothing.

The number of examples is bounded (EXAMPLES per operation) so that the run stays well
under three minutes on a loaded two-core machine; schemathesis' own report is printed
when it finds something."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.api.tokens import TokenStore
from tests.integration.reporting import seed, serving_center

EXAMPLES = 30
RUN_SECONDS = 240
ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")


async def test_fuzzing_api_v1_finds_no_5xx_and_nothing_outside_the_schema(
        db_engine: AsyncEngine, tmp_path: Path) -> None:
    await seed(db_engine)
    _, secret = await TokenStore(db_engine).create("fuzzer", "supervisor", "", "cli:test")
    async with serving_center(db_engine, tmp_path) as (client, _):
        base = str(client.make_url("")).rstrip("/")
        fuzzer = await asyncio.create_subprocess_exec(
            str(ST), "--config-file", str(CONFIG), "run", f"{base}/api/v1/openapi.json",
            "--url", base, "-H", f"Authorization: Bearer {secret}",
            "--max-examples", str(EXAMPLES), "--seed", "19", "--workers", "1",
            "--generation-database", "none", "--no-color", "--checks", "all",
            "--report", "junit", "--report-dir", str(tmp_path / "report"),
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
    assert "No issues found" in report or "passed" in report, report[-4000:]
