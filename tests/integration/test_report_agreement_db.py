"""The report page (its table and charts), its CSV and JSON, /api/v1/figures and
`ntpd-ivr report --by` give the same figures over the same rows in PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.reports.model import COLUMNS
from tests.integration.reporting import (
    END,
    EXAMPLE,
    START,
    TEXTS,
    seed,
    seed_information_only,
    seed_texts,
    serving_center,
)
from tests.protocol.webtools import Client, log_in

QUERY = {"from": START.isoformat(), "to": END.isoformat()}


async def cli_report(engine: AsyncEngine, tmp_path: Path, by: str | None, fmt: str,
                     *extra: str) -> str:
    url = engine.url.render_as_string(hide_password=False)
    settings = tmp_path / "ntpd-ivr.toml"
    settings.write_text(f'[database]\nurl = "{url}"\n[ami]\nsecret = "x"\n'
                        f'[ivr]\nrouting_config = "{EXAMPLE}"\n'
                        f'[web]\nusers_file = "{tmp_path / "users.toml"}"\n', encoding="utf-8")
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ntpd_ivr", "report", "--config", str(settings),
        "--from", QUERY["from"], "--to", QUERY["to"], *(("--by", by) if by else ()),
        "--format", fmt, *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(done.communicate(), 60)
    assert done.returncode == 0, err.decode()
    return out.decode()


async def fetch(client: Client, path: str, **query: str) -> str:
    reply = await client.get(path, params={**QUERY, **query})
    assert reply.status == 200, await reply.text()
    return await reply.text()


def page_table(html: str) -> list[list[str]]:
    """The report table's cells, row by row, as the page shows them ("-" for none)."""
    rows = re.findall(r'<tr data-group="[^"]*"[^>]*>(.*?)</tr>', html, re.S)
    return [re.findall(r'<td data-column="[^"]+">(.*?)</td>', row) for row in rows]


def page_texts(html: str) -> dict[str, object]:
    """The page's "Pesan teks (SMS)" section as the JSON's `texts` ("-" for none)."""
    section = html.split('id="report-texts"', 1)[1]
    shown: dict[str, object] = dict(
        re.findall(r'<td data-figure="([a-z0-9_]+)">(.*?)</td>', section.split("</table>")[0]))
    shown["by_category"] = dict(re.findall(
        r'<tr data-category="([^"]+)"><td>[^<]*</td><td data-figure="sessions">(\d+)</td>',
        section))
    return shown


def as_shown(texts: dict[str, object]) -> dict[str, object]:
    """The JSON's `texts` as the page prints them."""
    return {k: ({c: str(n) for c, n in v.items()} if isinstance(v, dict)
                else "-" if v is None else str(v)) for k, v in texts.items()}


@pytest.mark.parametrize("by", ["day", "agency", "calltaker"])
async def test_page_csv_json_api_and_cli_agree(db_engine: AsyncEngine, tmp_path: Path,
                                               by: str) -> None:
    await seed(db_engine)
    await seed_texts(db_engine)
    async with serving_center(db_engine, tmp_path) as (client, _):
        cli_csv, cli_json, cli_table = await asyncio.gather(
            cli_report(db_engine, tmp_path, by, "csv", "--within", "15"),
            cli_report(db_engine, tmp_path, by, "json", "--within", "15"),
            cli_report(db_engine, tmp_path, by, "table", "--within", "15"))
        await log_in(client, "budi")
        web_csv = await fetch(client, "/reports/figures.csv", by=by, within="15")
        web_json = await fetch(client, "/reports/figures.json", by=by, within="15")
        api_json = await fetch(client, "/api/v1/figures", by=by, within="15")
        page = await fetch(client, "/reports", by=by, within="15")
    assert web_csv == cli_csv
    assert json.loads(web_json) == json.loads(cli_json) == json.loads(api_json)
    rows = list(csv.reader(io.StringIO(cli_csv)))
    figures = json.loads(cli_json)
    assert [r[0] for r in rows[1:]] == [g["group"] for g in figures["groups"]] + ["all"]
    # The page's table: the same cells ("-" for an empty one; "semua" names the total).
    shown = page_table(page)
    assert [r[1:] for r in shown] == [[c or "-" for c in r[1:]] for r in rows[1:]]
    # One bar and at most one point per group in the charts.
    assert page.count('<rect class="chart-bar"') == len(figures["groups"])
    assert page.count('<circle class="chart-point"') == sum(
        1 for g in figures["groups"] if g["answered_within_n_pct"] is not None)
    # The text sessions: their own figures, the same in the JSON, on the page and in the
    # CLI's table; in none of the calls' (the 12 voice calls below).
    assert figures["texts"] == TEXTS
    assert page_texts(page) == as_shown(TEXTS)
    assert "Pesan teks (SMS)" in page and "Balasan pertama p90 (d)" in page
    assert_texts_table(cli_table)
    if by == "day":
        # 12 calls over three WIB days (UTC+7): 01:00 UTC on the 27th is 08:00 WIB.
        assert [g["group"] for g in figures["groups"]] == [
            "2026-11-27", "2026-11-28", "2026-11-29"]
        assert [g["offered"] for g in figures["groups"]] == [4, 4, 4]
        assert figures["total"]["prank"] == 1 and figures["total"]["ghost"] == 1
    if by == "calltaker":
        assert [g["group"] for g in figures["groups"]] == ["ani", "taker-9", "unanswered"]


async def test_information_only_calls_are_their_own_column_not_abandoned(
        db_engine: AsyncEngine, tmp_path: Path) -> None:
    """Surge mode's information-only call: in `information_only` and out of `abandoned`,
    the same in the JSON, the page's table and the CLI's tables (with and without --by)."""
    await seed(db_engine)
    await seed_information_only(db_engine)
    async with serving_center(db_engine, tmp_path) as (client, _):
        cli_json, cli_table, cli_totals = await asyncio.gather(
            cli_report(db_engine, tmp_path, "category", "json"),
            cli_report(db_engine, tmp_path, "category", "table"),
            cli_report(db_engine, tmp_path, None, "table"))
        await log_in(client, "budi")
        page = await fetch(client, "/reports", by="category")
    figures = json.loads(cli_json)
    total = figures["total"]
    assert total["information_only"] == 1 and total["offered"] == 14  # seed()'s 12 + 2
    assert total["offered"] == (total["answered"] + total["abandoned"]
                                + total["information_only"] + total["in_progress"])
    asked_for_a_human = next(g for g in figures["groups"] if g["group"] == "unclassified")
    assert (asked_for_a_human["abandoned"], asked_for_a_human["information_only"]) == (1, 0)
    informed = next(g for g in figures["groups"] if g["group"] == "surge-information")
    assert (informed["offered"], informed["information_only"], informed["abandoned"],
            informed["abandon_rate_pct"]) == (1, 1, 0, 0.0)
    # The page: a column of its own, the same numbers per group.
    shown = {row[0]: row for row in page_table(page)}
    cells = dict(zip(COLUMNS, shown["surge-information"], strict=True))
    assert (cells["information_only"], cells["abandoned"]) == ("1", "0")
    assert 'data-column="information_only">Hanya informasi</th>' in page
    # The CLI's grouped table: info beside aband; its totals table: a line of its own.
    head = cli_table.splitlines()[1].split()
    row = next(line.split() for line in cli_table.splitlines()
               if line.split()[:1] == ["surge-information"])
    assert (row[head.index("aband")], row[head.index("info")]) == ("0", "1")
    assert "  information only (surge)     1" in cli_totals
    assert f"  abandoned                    {total['abandoned']}" in cli_totals


def assert_texts_table(table: str) -> None:
    """The CLI table's text-session lines show TEXTS."""
    lines = table.split("112 by text", 1)[1].splitlines()
    shown = {line[:31].strip(): line[31:].strip() for line in lines[1:9]}
    assert shown == {"sessions": "3", "taken by a call-taker": "2",
                     "unanswered (offer timed out)": "1", "replied": "2",
                     "still in progress": "0", "first reply p50": "42 s",
                     "first reply p90": "90 s", "by category:": ""}
    assert [line.split() for line in lines[9:11]] == [["fire", "2"], ["medical", "1"]]


async def test_the_cli_totals_table_shows_the_text_sessions(db_engine: AsyncEngine,
                                                             tmp_path: Path) -> None:
    """`ntpd-ivr report` without --by: the period's totals, then the text sessions'."""
    await seed(db_engine)
    await seed_texts(db_engine)
    table = await cli_report(db_engine, tmp_path, None, "table")
    assert "  offered                      12" in table  # the voice calls only
    assert_texts_table(table)


async def test_bad_report_queries_are_refused(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with serving_center(db_engine, tmp_path) as (client, _):
        reply = await client.get("/reports/figures.csv")
        assert reply.status == 401  # no session
        await log_in(client, "ani")
        reply = await client.get("/reports/figures.csv")
        assert reply.status == 403  # a call-taker
        await log_in(client, "budi")
        for query in ({"by": "hour"}, {"within": "-3"}, {"from": "soon"}):
            reply = await client.get("/reports/figures.json", params=query)
            assert reply.status == 400, query
            assert (await reply.json())["error"] == "bad-request"


async def test_the_plain_reports_json_and_csv_carry_the_text_figures_too(
        db_engine: AsyncEngine, tmp_path: Path) -> None:
    """`ntpd-ivr report` without --by: its table had the text sessions' block, its JSON
    and CSV did not. All three now carry the same figures."""
    await seed(db_engine)
    await seed_texts(db_engine)
    cli_json, cli_csv = await asyncio.gather(
        cli_report(db_engine, tmp_path, None, "json"),
        cli_report(db_engine, tmp_path, None, "csv"))
    assert json.loads(cli_json)["texts"] == TEXTS
    rows = dict(csv.reader(io.StringIO(cli_csv)))
    assert rows["texts.sessions"] == str(TEXTS["sessions"])
    assert rows["texts.first_reply_p90_seconds"] == (
        "" if TEXTS["first_reply_p90_seconds"] is None
        else str(TEXTS["first_reply_p90_seconds"]))
    for category, count in TEXTS["by_category"].items():  # type: ignore[attr-defined]
        assert rows[f"texts.by_category.{category}"] == str(count)
