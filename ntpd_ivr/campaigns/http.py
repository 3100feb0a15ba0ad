"""Warning campaigns over HTTP (docs/warnings.md): contacts for admins, campaigns for
supervisors. The web package's middleware checks the session, the role and the CSRF token
before a handler runs; every change is audited in its own transaction (store.py)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from aiohttp import web

from ntpd_ivr.campaigns import model, store
from ntpd_ivr.campaigns.exceptions import BadInput
from ntpd_ivr.campaigns.service import WarningService
from ntpd_ivr.campaigns.service import create_campaign as new_campaign
from ntpd_ivr.web import csrf
from ntpd_ivr.web.app import Handler, checked_fields, json_reply, path_id, protect
from ntpd_ivr.web.auth import Session
from ntpd_ivr.web.templates import SESSION_KEY, add_template_package, render

SERVICE: web.AppKey[WarningService] = web.AppKey("warnings", WarningService)
TOPIC = "warnings"  # the live hub topic of campaign progress (supervisor)
PAGE = "/warnings"


def _user(request: web.Request) -> str:
    session: Session = request[SESSION_KEY]
    return session.user


def _id(request: web.Request) -> int:
    return path_id(request, lambda value: BadInput(f"no such id {value}"))


def _texts(body: dict[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name, [])
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput(f"{name} must be a list of names")
    return tuple(v.strip() for v in value)


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadInput(f"{name} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise BadInput(f"{name} must be a number") from None
    if not math.isfinite(number):  # int(inf) and int(nan) would be a 500
        raise BadInput(f"{name} must be a finite number")
    return number


def draft_from(body: dict[str, Any], default_caller_id: str) -> model.CampaignDraft:
    """A campaign as a supervisor sent it (JSON or a form); BadInput says what is wrong."""
    for name in ("title", "message_text", "message_text_regional", "trunk", "caller_id"):
        if not isinstance(body.get(name, ""), str):
            raise BadInput(f"{name} must be text")
    retry = model.RetryPolicy(int(_number(body, "max_attempts", 3)),
                              _number(body, "no_answer_seconds", 300),
                              _number(body, "busy_seconds", 120),
                              _number(body, "failed_seconds", 300))
    return model.CampaignDraft(
        title=body.get("title", "").strip(), message_text=body.get("message_text", "").strip(),
        message_text_regional=body.get("message_text_regional", "").strip(),
        target=model.Target(_texts(body, "kecamatan"), _texts(body, "desa"),
                            tuple(r.lower() for r in _texts(body, "roles"))),
        trunk=body.get("trunk", "warning-trunk"),
        caller_id=body.get("caller_id", "") or default_caller_id, retry=retry)


async def list_contacts(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return json_reply({"contacts": await store.list_contacts(service.engine)})


async def import_contacts(request: web.Request) -> web.Response:
    body = await checked_fields(request)
    text = body.get("csv")
    if not isinstance(text, str):
        raise BadInput("send the CSV as the field csv (larger files: ntpd-ivr contacts import)")
    try:
        plan = model.parse_contacts_csv(text, _languages(request))
    except model.ContactImportError as exc:
        return json_reply({"error": "bad-csv", "line": exc.line, "reason": exc.reason}, status=400)
    counts = await store.import_contacts(request.app[SERVICE].engine, plan, _user(request))
    return json_reply(counts, status=201)


async def edit_contact(request: web.Request) -> web.Response:
    return json_reply(await store.update_contact(request.app[SERVICE].engine, _id(request),
                                                 await checked_fields(request), _user(request),
                                                 _languages(request)))


def _languages(request: web.Request) -> tuple[str, ...]:
    return model.contact_languages(request.app[SERVICE].settings.regional_language)


async def delete_contact(request: web.Request) -> web.Response:
    await store.delete_contact(request.app[SERVICE].engine, _id(request), _user(request))
    return json_reply({"deleted": _id(request)})


async def list_campaigns(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return json_reply({"campaigns": await store.list_campaigns(service.engine),
                  "live": service.state()})


def _answer(request: web.Request, data: Any, status: int = 200) -> web.Response:
    """JSON for scripts; a form from the page goes back to the page."""
    if request.content_type in csrf.FORM_TYPES:
        raise web.HTTPSeeOther(PAGE)
    return json_reply(data, status=status)


async def create_campaign(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    draft = draft_from(await checked_fields(request), service.settings.caller_id)
    created = await new_campaign(service.settings, service.engine, draft, _user(request))
    service.changed("campaign.created", {"campaign": created["id"]})
    return _answer(request, created, status=201)


async def approve_campaign(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    result = await store.approve(service.engine, _id(request), _user(request))
    await service.approved(_id(request))
    return _answer(request, result)


async def cancel_campaign(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    result = await store.cancel(service.engine, _id(request), _user(request))
    service.cancelled(_id(request))
    return _answer(request, result)


async def campaigns_page(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    rows = await store.list_campaigns(service.engine, limit=50)
    figures = {}
    for row in rows:
        _, report, _ = await store.campaign_report(service.engine, row["id"])
        figures[row["id"]] = {"confirmed": report.confirmed, "reached": report.reached,
                              "contacts": report.contacts, "attempts": report.attempts}
    return render(request, "warnings.html", rows=rows, figures=figures,
                  paused=service.paused_reason if service.runs else "",
                  trunks=service.trunks, caller_id=service.settings.caller_id,
                  regional_language=service.settings.regional_language,
                  regional_language_name=service.settings.regional_language_name)


async def campaign_report(request: web.Request) -> web.Response:
    row, figures, outcomes = await store.campaign_report(request.app[SERVICE].engine,
                                                         _id(request))
    return json_reply({"campaign": row.id, "title": row.title, "status": row.status,
                  "created_by": row.created_by, "approved_by": row.approved_by,
                  **figures.as_dict(),
                  "contacts_detail": [o.__dict__ for o in outcomes]})


def report_csv(outcomes: list[model.ContactOutcome]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("contact_id", "name", "number", "outcome", "attempts", "confirmed_at"))
    for o in outcomes:
        writer.writerow((o.contact_id, o.name, o.number, o.outcome or "pending", o.attempts,
                         "" if o.confirmed_at is None else f"{o.confirmed_at:.3f}"))
    return out.getvalue()


async def campaign_report_csv(request: web.Request) -> web.Response:
    row, _, outcomes = await store.campaign_report(request.app[SERVICE].engine, _id(request))
    return web.Response(text=report_csv(outcomes), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="campaign-{row.id}.csv"'})


def add_routes(app: web.Application, service: WarningService) -> None:
    """The warnings domain in the web app (called by the composition root)."""
    app[SERVICE] = service
    add_template_package(app, "ntpd_ivr.campaigns")
    routes: list[tuple[str, str, Handler, str, str]] = [
        ("GET", "/api/warnings/contacts", list_contacts, "warning-contacts", "admin"),
        ("POST", "/api/warnings/contacts/import", import_contacts, "warning-contacts-upload",
         "admin"),
        ("POST", r"/api/warnings/contacts/{id:\d+}", edit_contact, "warning-contact-edit",
         "admin"),
        ("DELETE", r"/api/warnings/contacts/{id:\d+}", delete_contact,
         "warning-contact-delete", "admin"),
        ("GET", "/api/warnings/campaigns", list_campaigns, "warning-campaigns", "supervisor"),
        ("POST", "/api/warnings/campaigns", create_campaign, "warning-campaign-create",
         "supervisor"),
        ("POST", r"/api/warnings/campaigns/{id:\d+}/approve", approve_campaign,
         "warning-campaign-approve", "supervisor"),
        ("POST", r"/api/warnings/campaigns/{id:\d+}/cancel", cancel_campaign,
         "warning-campaign-cancel", "supervisor"),
        ("GET", r"/api/warnings/campaigns/{id:\d+}/report", campaign_report,
         "warning-campaign-report", "supervisor"),
        ("GET", r"/api/warnings/campaigns/{id:\d+}/report.csv", campaign_report_csv,
         "warning-campaign-report-csv", "supervisor"),
    ]
    for method, path, handler, name, role in routes:
        app.router.add_route(method, path, handler, name=name)
        protect(app, name, role)
    app.router.add_get(PAGE, campaigns_page, name="warnings-page")
    protect(app, "warnings-page", "supervisor", page=True)
