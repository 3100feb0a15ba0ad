"""The report pages for supervisors: /reports (table and SVG charts), and the same figures
as /reports/figures.csv and /reports/figures.json, byte for byte what
`ntpd-ivr report --by ... --format csv|json` prints for the same period (a test checks).

Query: from, to (ISO 8601; UTC without a zone; default the last 7 days), by (day, week,
month, region, category, agency, calltaker; default day), within (the N of "answered
within N s", default 20), region (optional).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ntpd_ivr.reports import grouped
from ntpd_ivr.reports.model import (
    COLUMNS,
    GROUPINGS,
    TEXT_COLUMNS,
    GroupedReport,
    parse_query,
    to_json,
)
from ntpd_ivr.reports.repository import ReportSource
from ntpd_ivr.reports.svg import bar_chart, line_chart
from ntpd_ivr.web.app import protect, refuse
from ntpd_ivr.web.i18n import translator
from ntpd_ivr.web.templates import add_template_package, render

NFPA_TARGET_PCT = 90.0  # NFPA 1225 / NENA: 90 % answered within the threshold


SOURCE: web.AppKey[ReportSource] = web.AppKey("report_source", ReportSource)


async def _report(request: web.Request) -> GroupedReport:
    source = request.app[SOURCE]
    return await source.report(parse_query(request.query, source.clock()))


def charts(report: GroupedReport, titles: Callable[[str], str]) -> list[str]:
    """The page's charts: calls offered per group, and % answered within N s of offered
    against the 90 % target."""
    labels = [g["group"] for g in report.groups]
    return [bar_chart(titles("reports.chart.offered"), labels,
                      [g["offered"] for g in report.groups]),
            line_chart(titles("reports.chart.within"), labels,
                       [g["answered_within_n_pct"] for g in report.groups], unit="%",
                       top=100.0, target=NFPA_TARGET_PCT)]


async def reports_page(request: web.Request) -> web.StreamResponse:
    try:
        report = await _report(request)
    except ValueError as exc:
        return refuse(request, 400, "bad-request", str(exc))
    t = translator(request)
    query = {"from": report.start.isoformat(), "to": report.end.isoformat(), "by": report.by,
             "within": str(report.within), **({"region": report.region}
                                               if report.region else {})}
    return render(request, "reports.html", report=report, groupings=GROUPINGS,
                  columns=COLUMNS, text_columns=TEXT_COLUMNS,
                  charts=charts(report, lambda key: t(key, n=report.within)),
                  csv_url=request.app.router["reports-csv"].url_for().with_query(query),
                  json_url=request.app.router["reports-json"].url_for().with_query(query))


async def reports_csv(request: web.Request) -> web.StreamResponse:
    try:
        report = await _report(request)
    except ValueError as exc:
        return refuse(request, 400, "bad-request", str(exc))
    name = f"ntpd-ivr-report-{report.by}-{report.start:%Y%m%d}-{report.end:%Y%m%d}.csv"
    return web.Response(text=grouped.to_csv(report), content_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def reports_json(request: web.Request) -> web.StreamResponse:
    try:
        report = await _report(request)
    except ValueError as exc:
        return refuse(request, 400, "bad-request", str(exc))
    return web.Response(text=to_json(report), content_type="application/json")


def add_routes(app: web.Application, source: ReportSource) -> None:
    """The reports in the web app (called by the composition root); supervisors only."""
    app[SOURCE] = source
    add_template_package(app, "ntpd_ivr.reports")
    for path, handler, name, page in (("/reports", reports_page, "reports-page", True),
                                      ("/reports/figures.csv", reports_csv, "reports-csv",
                                       False),
                                      ("/reports/figures.json", reports_json, "reports-json",
                                       False)):
        app.router.add_get(path, handler, name=name)
        protect(app, name, "supervisor", page=page)
