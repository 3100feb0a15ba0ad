"""The warning tables in PostgreSQL: every change in one transaction with its audit entry
(ntpd_ivr/audit). Shared by the controller, the web views and the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.audit.trail import CONTROLLER, Entry, record
from ntpd_ivr.calls.tables import CallEvent
from ntpd_ivr.campaigns import model
from ntpd_ivr.campaigns.exceptions import BadInput, Conflict, NotFound
from ntpd_ivr.campaigns.tables import (
    WarningAttempt,
    WarningCampaign,
    WarningCampaignContact,
    WarningContact,
)
from ntpd_ivr.clock import utcnow

CONTACTS = cast(Table, WarningContact.__table__)
CAMPAIGNS = cast(Table, WarningCampaign.__table__)
LISTS = cast(Table, WarningCampaignContact.__table__)
ATTEMPTS = cast(Table, WarningAttempt.__table__)
EVENTS = cast(Table, CallEvent.__table__)
OUTCOME_STEP = "warning.outcome"  # call_events.kind of an attempt's outcome


def _iso(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(k): v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


# --- contacts --------------------------------------------------------------------------------

async def import_contacts(engine: AsyncEngine, plan: model.ImportPlan,
                          actor: str) -> dict[str, int]:
    """All of the plan or nothing: one transaction. A number already known is updated."""
    at = utcnow()
    async with engine.begin() as conn:
        known = set((await conn.execute(select(CONTACTS.c.number).where(
            CONTACTS.c.number.in_([c.number for c in plan.contacts])))).scalars())
        rows = [{"name": c.name, "number": c.number, "role": c.role,
                 "kecamatan": c.kecamatan, "desa": c.desa, "language": c.language,
                 "updated_at": at, "updated_by": actor} for c in plan.contacts]
        for start in range(0, len(rows), 1000):
            statement = pg_insert(CONTACTS).values(rows[start:start + 1000])
            await conn.execute(statement.on_conflict_do_update(
                index_elements=[CONTACTS.c.number],
                set_={name: statement.excluded[name] for name in
                      ("name", "role", "kecamatan", "desa", "language", "updated_at",
                       "updated_by")}))
        counts = {"rows": plan.rows, "merged_duplicates": plan.merged,
                  "added": len(plan.contacts) - len(known), "updated": len(known)}
        await record(conn, Entry(at, actor, "contacts.imported", "warning_contacts", "*",
                                 counts))
    return counts


async def list_contacts(engine: AsyncEngine, limit: int = 1000,
                        offset: int = 0) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(CONTACTS).order_by(CONTACTS.c.kecamatan,
                                                            CONTACTS.c.desa, CONTACTS.c.name)
                                  .limit(limit).offset(offset))
        return [_iso(row) for row in rows.mappings()]


async def update_contact(engine: AsyncEngine, contact_id: int, fields: Mapping[str, Any],
                         actor: str, languages: Sequence[str] = model.LANGUAGES
                         ) -> dict[str, Any]:
    """An admin's edit, validated like an imported row (BadInput says what is wrong)."""
    unknown = set(fields) - set(model.EDITABLE)
    if unknown or not fields:
        raise BadInput(f"send some of {', '.join(model.EDITABLE)}; unknown {sorted(unknown)}")
    at = utcnow()
    async with engine.begin() as conn:
        current = (await conn.execute(select(CONTACTS).where(CONTACTS.c.id == contact_id)
                                      .with_for_update())).mappings().first()
        if current is None:
            raise NotFound(f"no contact {contact_id}")
        merged = {name: str(fields.get(name, current[name])) for name in model.EDITABLE}
        try:
            contact = model.contact_from_row(merged, 1, languages)
        except model.ContactImportError as exc:
            raise BadInput(exc.reason) from None
        changes = {name: getattr(contact, name) for name in model.EDITABLE
                   if getattr(contact, name) != current[name]}
        if "number" in changes and (await conn.execute(select(CONTACTS.c.id).where(
                CONTACTS.c.number == changes["number"]))).first():
            raise Conflict(f"another contact already has {changes['number']}")
        row = (await conn.execute(update(CONTACTS).where(CONTACTS.c.id == contact_id)
                                  .values(**changes, updated_at=at, updated_by=actor)
                                  .returning(*CONTACTS.c))).mappings().one()
        await record(conn, Entry(at, actor, "contact.updated", "warning_contact",
                                 str(contact_id), changes))
        return _iso(row)


async def delete_contact(engine: AsyncEngine, contact_id: int, actor: str) -> None:
    at = utcnow()
    async with engine.begin() as conn:
        row = (await conn.execute(CONTACTS.delete().where(CONTACTS.c.id == contact_id)
                                  .returning(CONTACTS.c.number))).first()
        if row is None:
            raise NotFound(f"no contact {contact_id}")
        await record(conn, Entry(at, actor, "contact.deleted", "warning_contact",
                                 str(contact_id), {"number": row[0]}))


# --- campaigns -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CampaignRow:
    id: int
    title: str
    message_file: str
    trunk: str
    caller_id: str
    retry: model.RetryPolicy
    status: str
    created_by: str
    approved_by: str | None
    approved_at: datetime | None
    regional_language: str = ""
    message_file_regional: str = ""


def _campaign(row: Mapping[Any, Any]) -> CampaignRow:
    return CampaignRow(
        id=row["id"], title=row["title"], message_file=row["message_file"],
        regional_language=row["regional_language"],
        message_file_regional=row["message_file_regional"],
        trunk=row["trunk"], caller_id=row["caller_id"],
        retry=model.RetryPolicy(row["max_attempts"], row["no_answer_seconds"],
                                row["busy_seconds"], row["failed_seconds"]),
        status=row["status"], created_by=row["created_by"], approved_by=row["approved_by"],
        approved_at=row["approved_at"])


async def create_campaign(engine: AsyncEngine, draft: model.CampaignDraft, message_file: str,
                          actor: str, *, regional_language: str = "",
                          regional_file: str = "") -> dict[str, Any]:
    """The campaign, awaiting a second supervisor, with its list frozen now."""
    at = utcnow()
    async with engine.begin() as conn:
        contacts = (await conn.execute(select(CONTACTS))).mappings().all()
        chosen = [c for c in contacts if draft.target.matches(model.Contact(
            name=c["name"], number=c["number"], role=c["role"], kecamatan=c["kecamatan"],
            desa=c["desa"], language=c["language"]))]
        if not chosen:
            raise Conflict("no contact matches the target")
        row = (await conn.execute(CAMPAIGNS.insert().values(
            title=draft.title, message_text=draft.message_text, message_file=message_file,
            regional_language=regional_language if regional_file else "",
            message_text_regional=draft.message_text_regional if regional_file else "",
            message_file_regional=regional_file,
            target=draft.target.as_dict(), trunk=draft.trunk, caller_id=draft.caller_id,
            max_attempts=draft.retry.max_attempts,
            no_answer_seconds=draft.retry.no_answer_seconds,
            busy_seconds=draft.retry.busy_seconds, failed_seconds=draft.retry.failed_seconds,
            status=model.AWAITING_APPROVAL, created_at=at, created_by=actor)
            .returning(*CAMPAIGNS.c))).mappings().one()
        await conn.execute(LISTS.insert(), [
            {"campaign_id": row["id"], "contact_id": c["id"], "name": c["name"],
             "number": c["number"], "language": c["language"]} for c in chosen])
        await record(conn, Entry(at, actor, "campaign.created", "warning_campaign",
                                 str(row["id"]), {"title": draft.title,
                                                  "contacts": len(chosen),
                                                  "target": draft.target.as_dict(),
                                                  "trunk": draft.trunk,
                                                  "regional_language": row[
                                                      "regional_language"]}))
    return {**_iso(row), "contacts": len(chosen)}


async def _change_status(engine: AsyncEngine, campaign_id: int, actor: str, action: str,
                         allowed_from: tuple[str, ...], values: Mapping[str, Any],
                         detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
    at = utcnow()
    async with engine.begin() as conn:
        current = (await conn.execute(select(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id)
                                      .with_for_update())).mappings().first()
        if current is None:
            raise NotFound(f"no campaign {campaign_id}")
        if current["status"] not in allowed_from:
            raise Conflict(f"campaign {campaign_id} is {current['status']}")
        if action == "campaign.approved" and current["created_by"] == actor:
            raise Conflict("a second supervisor must approve: the campaign was created by "
                           f"{actor}")
        filled = {k: (at if v is _NOW else v) for k, v in values.items()}
        row = (await conn.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id)
                                  .values(**filled).returning(*CAMPAIGNS.c))).mappings().one()
        await record(conn, Entry(at, actor, action, "warning_campaign", str(campaign_id),
                                 {"created_by": current["created_by"], **(detail or {})}))
    return _iso(row)


_NOW = object()


async def approve(engine: AsyncEngine, campaign_id: int, actor: str) -> dict[str, Any]:
    """The second supervisor: the campaign runs from now. Both names go into the audit."""
    return await _change_status(engine, campaign_id, actor, "campaign.approved",
                                (model.AWAITING_APPROVAL,),
                                {"status": model.RUNNING, "approved_by": actor,
                                 "approved_at": _NOW}, {"approved_by": actor})


async def cancel(engine: AsyncEngine, campaign_id: int, actor: str) -> dict[str, Any]:
    return await _change_status(engine, campaign_id, actor, "campaign.cancelled",
                                (model.AWAITING_APPROVAL, model.RUNNING),
                                {"status": model.CANCELLED, "ended_by": actor,
                                 "ended_at": _NOW})


async def finish(engine: AsyncEngine, campaign_id: int) -> dict[str, Any]:
    return await _change_status(engine, campaign_id, CONTROLLER, "campaign.finished",
                                (model.RUNNING,), {"status": model.FINISHED,
                                                   "ended_by": CONTROLLER, "ended_at": _NOW})


async def list_campaigns(engine: AsyncEngine, limit: int = 100) -> list[dict[str, Any]]:
    counts = (select(LISTS.c.campaign_id, func.count().label("contacts"))
              .group_by(LISTS.c.campaign_id).subquery())
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(CAMPAIGNS, counts.c.contacts)
            .join(counts, counts.c.campaign_id == CAMPAIGNS.c.id, isouter=True)
            .order_by(CAMPAIGNS.c.id.desc()).limit(limit))
        return [_iso(row) for row in rows.mappings()]


async def campaign(engine: AsyncEngine, campaign_id: int) -> CampaignRow:
    async with engine.connect() as conn:
        row = (await conn.execute(select(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id))
               ).mappings().first()
    if row is None:
        raise NotFound(f"no campaign {campaign_id}")
    return _campaign(row)


async def running_campaigns(engine: AsyncEngine) -> list[CampaignRow]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(CAMPAIGNS).where(CAMPAIGNS.c.status == model.RUNNING)
                                  .order_by(CAMPAIGNS.c.id))
        return [_campaign(row) for row in rows.mappings()]


async def campaign_status(engine: AsyncEngine, ids: Sequence[int]) -> dict[int, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(CAMPAIGNS.c.id, CAMPAIGNS.c.status)
                                  .where(CAMPAIGNS.c.id.in_(list(ids))))
        return {row[0]: row[1] for row in rows}


# --- attempts and outcomes -----------------------------------------------------------------

@dataclass(frozen=True)
class ListedContact:
    contact_id: int
    name: str
    number: str
    language: str


@dataclass(frozen=True)
class AttemptRow:
    key: str
    contact_id: int
    attempt: int
    dialed_at: datetime
    outcome: str           # "" while no outcome is on record
    ended_at: datetime | None


async def campaign_state(engine: AsyncEngine, campaign_id: int
                         ) -> tuple[list[ListedContact], list[AttemptRow]]:
    """The campaign's list and every attempt with its recorded outcome, oldest first."""
    outcome = EVENTS.c.detail["outcome"].astext
    async with engine.connect() as conn:
        listed = await conn.execute(select(LISTS).where(LISTS.c.campaign_id == campaign_id)
                                    .order_by(LISTS.c.contact_id))
        contacts = [ListedContact(r["contact_id"], r["name"], r["number"], r["language"])
                    for r in listed.mappings()]
        rows = await conn.execute(
            select(ATTEMPTS.c.key, ATTEMPTS.c.contact_id, ATTEMPTS.c.attempt,
                   ATTEMPTS.c.dialed_at, outcome.label("outcome"), EVENTS.c.at)
            .join(EVENTS, and_(EVENTS.c.uniqueid == ATTEMPTS.c.key,
                               EVENTS.c.kind == OUTCOME_STEP), isouter=True)
            .where(ATTEMPTS.c.campaign_id == campaign_id)
            .order_by(ATTEMPTS.c.contact_id, ATTEMPTS.c.attempt, EVENTS.c.at))
        attempts = [AttemptRow(r["key"], r["contact_id"], r["attempt"], r["dialed_at"],
                               r["outcome"] or "", r["at"]) for r in rows.mappings()]
    return contacts, attempts


async def insert_attempt(engine: AsyncEngine, campaign_id: int, contact: ListedContact,
                         attempt: int, key: str, at: datetime) -> None:
    """On record before the call is dialled: a restart then knows it was made."""
    async with engine.begin() as conn:
        await conn.execute(ATTEMPTS.insert().values(
            key=key, campaign_id=campaign_id, contact_id=contact.contact_id, attempt=attempt,
            number=contact.number, dialed_at=at))


def contact_outcomes(contacts: Sequence[ListedContact], attempts: Sequence[AttemptRow]
                     ) -> list[model.ContactOutcome]:
    """Each contact as its attempts left it: the last recorded outcome, the attempts made,
    and when it confirmed."""
    by_contact: dict[int, list[AttemptRow]] = {}
    for row in attempts:
        by_contact.setdefault(row.contact_id, []).append(row)
    result = []
    for contact in contacts:
        rows = by_contact.get(contact.contact_id, [])
        ended = [r for r in rows if r.outcome]
        confirmed = next((r.ended_at for r in ended if r.outcome == model.CONFIRMED), None)
        last = ended[-1].outcome if ended else ""
        result.append(model.ContactOutcome(
            contact.contact_id, contact.name, contact.number,
            model.CONFIRMED if confirmed is not None else last,
            len({r.attempt for r in rows}),
            confirmed.timestamp() if confirmed is not None else None))
    return result


async def campaign_report(engine: AsyncEngine, campaign_id: int
                          ) -> tuple[CampaignRow, model.Report, list[model.ContactOutcome]]:
    row = await campaign(engine, campaign_id)
    contacts, attempts = await campaign_state(engine, campaign_id)
    outcomes = contact_outcomes(contacts, attempts)
    started = row.approved_at.timestamp() if row.approved_at is not None else None
    return row, model.report(outcomes, started), outcomes
