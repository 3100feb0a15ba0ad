"""`ntpd-ivr report --from-peer` (docs/ha.md, "A second site"): the first site's report of the
calls the second site took for its region, read from the second site's real API (our aiohttp
app on a loopback port, over a real PostgreSQL) with a real token. Only the calls overflowed
for the asked region count, in pages when there are more than a page's worth; a bad token
and a dead peer are clear errors."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.api.tokens import TokenStore
from ntpd_ivr.calls.tables import Call
from ntpd_ivr.reports import peer
from ntpd_ivr.reports.model import compute_figures
from tests.integration.reporting import END, START, seed, serving_center


async def overflowed(engine: AsyncEngine) -> None:
    """At the second site: five calls it took for muba (two arriving at the same instant,
    one abandoned), one for palembang, on top of its own seeded calls."""
    at = START + timedelta(hours=3)
    rows = [("s2-1", at, 4, "muba"), ("s2-2", at + timedelta(seconds=10), 12, "muba"),
            ("s2-3", at + timedelta(seconds=10), 30, "muba"),
            ("s2-4", at + timedelta(seconds=20), 2, "muba"),
            ("s2-5", at + timedelta(seconds=30), None, "muba"),
            ("s2-6", at + timedelta(seconds=40), 3, "palembang")]
    async with engine.begin() as conn:
        for uniqueid, arrived, answer, region in rows:
            answered = arrived + timedelta(seconds=answer) if answer is not None else None
            await conn.execute(insert(Call).values(
                uniqueid=uniqueid, caller_number="+6281299990002", trunk="center-first-site",
                category="fire", region="sumsel", queue="takers-default", arrived_at=arrived,
                answered_at=answered, ended_at=arrived + timedelta(seconds=60),
                disposition="answered" if answered else "abandoned",
                overflow_region=region))


@pytest.mark.parametrize("page", [peer.PAGE, 3])
async def test_the_first_sites_report_reads_the_calls_the_second_site_took_for_it(
        db_engine: AsyncEngine, tmp_path: Path, page: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await seed(db_engine)
    await overflowed(db_engine)
    monkeypatch.setattr(peer, "PAGE", page)  # 3: a full page ending at the two calls
    # that arrived at one instant, then the rest
    async with serving_center(db_engine, tmp_path) as (client, _):
        token = (await TokenStore(db_engine).create("first-site", "supervisor", "", "cli:t"))[1]
        url = str(client.make_url("/"))
        rows = await peer.overflow_rows(url, token, "muba", START, END)
        assert sorted((r.answered_at - r.arrived_at).seconds if r.answered_at else -1
                      for r in rows) == [-1, 2, 4, 12, 30]
        assert {r.region for r in rows} == {"muba"}
        figures = compute_figures(rows)
        assert (figures.offered, figures.answered, figures.abandoned) == (5, 4, 1)
        with pytest.raises(peer.PeerError, match="HTTP 401"):
            await peer.overflow_rows(url, "not-a-token", "muba", START, END)


async def test_the_command_prints_the_figures_and_says_why_it_cannot(
        db_engine: AsyncEngine, tmp_path: Path) -> None:
    await overflowed(db_engine)
    async with serving_center(db_engine, tmp_path) as (client, _):
        token = (await TokenStore(db_engine).create("first-site", "supervisor", "", "cli:t"))[1]
        token_file = tmp_path / "second-site.token"
        token_file.write_text(token + "\n", encoding="utf-8")
        url = str(client.make_url("/"))

        async def report(*extra: str) -> tuple[int, str, str]:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ntpd_ivr", "report", "--from", START.isoformat(),
                "--to", END.isoformat(), *extra, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(process.communicate(), 60)
            assert process.returncode is not None
            return process.returncode, out.decode(), err.decode()

        code, out, err = await report("--from-peer", url, "--token-file", str(token_file),
                                      "--region", "palembang", "--format", "json")
        assert code == 0, err
        figures = json.loads(out)
        assert (figures["region"], figures["offered"], figures["answered"]) == (
            "palembang", 1, 1)
        code, _, err = await report("--from-peer", url, "--token-file", str(token_file))
        assert code == 2 and "--region" in err
        code, _, err = await report("--from-peer", url, "--token-file",
                                    str(tmp_path / "none"), "--region", "muba")
        assert code == 1 and "--token-file" in err
    # The peer is gone: a clear error, not a traceback.
    code, _, err = await report("--from-peer", url, "--token-file", str(token_file),
                                "--region", "muba")
    assert code == 1 and "ClientConnectorError" in err and "Traceback" not in err
