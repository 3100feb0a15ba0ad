"""The campaign controller: the only code that dials contacts.

Every tick it asks `model.pace()` how many calls each trunk may start (112 queues first),
writes each attempt to PostgreSQL, then Originates it over AMI with the attempt's key as
the channel's uniqueid (ChannelId). The outcome comes back as AMI events (OriginateResponse
for no answer, busy, failed; the warning dialplan's UserEvent for confirmed or answered)
and is recorded as a call-record step through the record keeper's spool, so a database
outage never loses it. While PostgreSQL is away no attempt can be written, so nothing is
dialled: the campaign pauses and resumes by itself.

A restart resumes every running campaign from PostgreSQL (after the spool has drained):
an attempt without an outcome is settled from Asterisk itself (is the channel still up?
what did the dialplan write to AstDB?) before its contact can be called again, so a
contact who confirmed is never called twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import (
    AmiActions,
    AmiEvent,
    CoreShowChannel,
    Hangup,
    OriginateResponse,
    WarningOutcome,
)
from ntpd_ivr.background import Background
from ntpd_ivr.calls.values import CallStep, RecordSink
from ntpd_ivr.campaigns import model, store
from ntpd_ivr.campaigns.audio import message_file
from ntpd_ivr.campaigns.exceptions import BadInput, Conflict
from ntpd_ivr.clock import event_time
from ntpd_ivr.errors import AmiError
from ntpd_ivr.numbers import NATIONAL
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.routing.engine import LiveStateSource
from ntpd_ivr.settings import WarningsSettings

log = logging.getLogger(__name__)

Publish = Callable[[str, Mapping[str, Any]], object]
REFRESH_SECONDS = 2.0     # campaigns approved or cancelled elsewhere (CLI) are seen this late
SETTLE_EVERY_SECONDS = 3.0
SETTLE_MARGIN_SECONDS = 10.0
DB_RETRY_SECONDS = 2.0


@dataclass
class _Contact:
    listed: store.ListedContact
    attempts: int = 0
    outcome: str = ""
    due_at: float = 0.0         # time.time() from which it may be called again
    in_flight: str = ""         # the attempt key while a call is under way or unsettled
    done: bool = False


@dataclass
class _Run:
    campaign: store.CampaignRow
    contacts: dict[int, _Contact]
    paused: str = ""

    def finished(self) -> bool:
        return all(c.done for c in self.contacts.values())

    def progress(self) -> dict[str, Any]:
        counts = {name: 0 for name in (*model.OUTCOMES, "pending")}
        for contact in self.contacts.values():
            counts[contact.outcome or "pending"] += 1
        return {"campaign": self.campaign.id, "title": self.campaign.title,
                "contacts": len(self.contacts), "by_outcome": counts,
                "in_flight": sum(1 for c in self.contacts.values() if c.in_flight),
                "attempts": sum(c.attempts for c in self.contacts.values()),
                "done": sum(1 for c in self.contacts.values() if c.done),
                "paused": self.paused}


@dataclass
class _Attempt:
    key: str
    campaign_id: int
    contact_id: int
    attempt: int
    trunk: str
    dialed_at: float
    answered: bool = False
    reason: int | None = None   # OriginateResponse Reason, once it came
    cause: int | None = None    # the channel's hangup cause, once it came


@dataclass
class _TrunkPace:
    started: deque[float] = field(default_factory=deque)
    running_since: float | None = None  # None: paused (the ramp starts again after it)
    held_since: float | None = None  # held: the ramp stands still meanwhile
    last_start: float | None = None


class Records(RecordSink, Protocol):
    """The record keeper (core.records): the warnings pace themselves on its backlog."""

    def state(self) -> dict[str, Any]: ...


class WarningService:
    def __init__(self, settings: WarningsSettings, engine: AsyncEngine, ami: AmiActions,
                 records: Records, queues: LiveStateSource, *,
                 publish: Publish | None = None,
                 watched_queues: Callable[[], set[str]] | None = None,
                 routing: Callable[[], RoutingConfig] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        # the live routing config: how each trunk writes numbers (number_format)
        self.routing = routing or (lambda: RoutingConfig.minimal(""))
        self.engine = engine
        self.ami = ami
        self.records = records
        self.queues = queues
        self.publish = publish
        self.watched_queues = watched_queues
        self.clock = clock
        self.limits = model.PacingLimits(settings.max_channels, settings.calls_per_second,
                                         settings.max_queue_wait_seconds,
                                         settings.min_free_takers, settings.ramp_seconds,
                                         settings.hold_queue_wait_seconds)
        self.runs: dict[int, _Run] = {}
        self.attempts: dict[str, _Attempt] = {}
        self._pace: dict[str, _TrunkPace] = {}
        self._task: asyncio.Task[None] | None = None
        self._background = Background("campaigns")
        self._loaded = False
        self._database_down_until = 0.0
        self._next_refresh = 0.0
        self._next_settle = 0.0
        self.paused_reason = ""

    @property
    def trunks(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.settings.trunks.split(",") if t.strip())

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = self._background.spawn(self._main(), name="warning-campaigns")

    async def stop(self) -> None:
        await self._background.stop()
        self._task = None

    def state(self) -> dict[str, Any]:
        return {"running": [run.progress() for run in self.runs.values()],
                "in_flight": len(self.attempts), "paused": self.paused_reason}

    async def _main(self) -> None:
        # Outcomes spooled before a crash must be in PostgreSQL before we decide whom to
        # call: wait until the keeper has applied what its spool held at start (new 112
        # records keep coming meanwhile, so "nothing pending" may never be seen under
        # load). The keeper offers no event for it: poll, the wait is once per start.
        backlog = self.records.state()["pending"]
        while not self._backlog_applied(backlog):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("warning campaign tick failed; carrying on")
            await asyncio.sleep(self.settings.tick_seconds)

    def _backlog_applied(self, backlog: int) -> bool:
        state = self.records.state()
        # Database down: go on; the refresh fails and retries, and an attempt whose outcome
        # is still in the spool is in doubt until Asterisk settles it.
        return bool(state["pending"] == 0 or state["applied_total"] >= backlog
                    or state["database"] != "ok")

    # --- loading and resuming -----------------------------------------------------------------

    async def _refresh(self) -> None:
        """Running campaigns in, cancelled ones out: the CLI changes them from outside."""
        running = await store.running_campaigns(self.engine)
        running_ids = {c.id for c in running}
        for campaign_id in [i for i in self.runs if i not in running_ids]:
            run = self.runs.pop(campaign_id)
            log.info("campaign %d stopped (%s)", campaign_id, "cancelled or finished")
            self.changed("campaign.stopped", run.progress())
        for campaign in running:
            if campaign.id not in self.runs:
                await self._resume(campaign)

    async def _resume(self, campaign: store.CampaignRow) -> None:
        listed, attempts = await store.campaign_state(self.engine, campaign.id)
        contacts = {c.contact_id: _Contact(c) for c in listed}
        for row in attempts:
            contact = contacts.get(row.contact_id)
            if contact is None:
                continue
            contact.attempts = max(contact.attempts, row.attempt)
            if not row.outcome:
                if row.key not in self.attempts:
                    # Made before a restart, outcome unknown: settled from Asterisk.
                    self.attempts[row.key] = _Attempt(row.key, campaign.id, row.contact_id,
                                                      row.attempt, campaign.trunk,
                                                      row.dialed_at.timestamp())
                contact.in_flight = row.key
                continue
            if contact.in_flight == row.key:
                contact.in_flight = ""
            self._apply_outcome(campaign, contact, row.outcome, row.attempt,
                                (row.ended_at or row.dialed_at).timestamp())
        run = _Run(campaign, contacts)
        self.runs[campaign.id] = run
        log.info("campaign %d running: %d contacts, %d done, %d attempts in doubt",
                 campaign.id, len(contacts), sum(c.done for c in contacts.values()),
                 sum(1 for c in contacts.values() if c.in_flight))
        self.changed("campaign.running", run.progress())

    @staticmethod
    def _apply_outcome(campaign: store.CampaignRow, contact: _Contact, outcome: str,
                       attempt: int, ended_at: float) -> None:
        if contact.outcome == model.CONFIRMED:
            return  # a confirmation is final, whatever a later attempt said
        contact.outcome = outcome
        due = model.next_attempt_at(campaign.retry, outcome, attempt, ended_at)
        contact.done = due is None
        contact.due_at = due or 0.0

    # --- the tick -----------------------------------------------------------------------------

    async def tick(self) -> None:
        """One round: refresh the running campaigns, settle stale attempts, dial what the
        pacing allows. The loop calls it every tick_seconds (tests call it directly)."""
        now = self.clock()
        if now >= self._next_refresh:
            self._next_refresh = now + REFRESH_SECONDS
            try:
                await self._refresh()
                self._database_up()
            except Exception as exc:
                self._database_failed(exc)
        if now >= self._next_settle and self.attempts:
            self._next_settle = now + SETTLE_EVERY_SECONDS
            await self._settle_stale(now)
        await self._finish_done()
        trunks = {run.campaign.trunk for run in self.runs.values()}
        for idle in self._pace.keys() - trunks:
            # Nothing runs on it now: the next campaign there starts with the ramp again.
            del self._pace[idle]
        if not trunks:
            return
        if now < self._database_down_until:
            self._set_paused("database")
            for pace in self._pace.values():
                pace.running_since = None
            return
        queues = await self._queue_loads()
        for trunk in trunks:
            await self._dial_on(trunk, queues, now)

    async def _queue_loads(self) -> list[model.QueueLoad] | None:
        snapshot = await self.queues.snapshot()
        if not snapshot:
            return None
        watched = self.watched_queues() if self.watched_queues is not None else None
        return [model.QueueLoad(name, state.logged_in, state.available,
                                state.longest_wait_seconds, state.callers)
                for name, state in snapshot.items() if watched is None or name in watched]

    async def _dial_on(self, trunk: str, queues: list[model.QueueLoad] | None,
                       now: float) -> None:
        pace = self._pace.setdefault(trunk, _TrunkPace())
        while pace.started and pace.started[0] <= now - 1.0:
            pace.started.popleft()
        active = sum(1 for a in self.attempts.values() if a.trunk == trunk)
        if pace.running_since is None:
            pace.running_since = now
        running_since = pace.running_since
        decision = model.pace(self.limits, queues, active, len(pace.started),
                              now - running_since)
        if decision.held:
            if pace.held_since is None:
                pace.held_since = now
        elif pace.held_since is not None:
            # Out of a hold: the ramp goes on from where it stood when the hold began.
            pace.running_since = running_since = running_since + now - pace.held_since
            pace.held_since = None
            decision = model.pace(self.limits, queues, active, len(pace.started),
                                  now - running_since)
        self._set_paused(decision.paused)
        if decision.paused and not decision.held:
            pace.running_since = pace.held_since = None
        if decision.paused or decision.start <= 0:
            return
        if (self.limits.calls_per_second < 1 and pace.last_start is not None
                and now - pace.last_start < 1 / self.limits.calls_per_second):
            return  # below one call a second: one call every 1/rate seconds
        for run, contact in self._due(trunk, now, decision.start):
            attempt = contact.attempts + 1
            # The channel's uniqueid and its AstDB key; the time keeps it unique should a
            # database be started afresh beside an Asterisk that remembers older keys.
            key = f"w{run.campaign.id}-{contact.listed.contact_id}-{attempt}-{int(now)}"
            try:
                await store.insert_attempt(self.engine, run.campaign.id, contact.listed,
                                           attempt, key, datetime.fromtimestamp(now, UTC))
            except Exception as exc:
                self._database_failed(exc)
                self._set_paused("database")
                return
            self._database_up()
            contact.attempts = attempt
            contact.in_flight = key
            self.attempts[key] = _Attempt(key, run.campaign.id, contact.listed.contact_id,
                                          attempt, trunk, now)
            pace.started.append(now)
            pace.last_start = now
            self._background.spawn(self._originate(run.campaign, contact, key),
                                   name=f"warning-{key}")

    def _due(self, trunk: str, now: float, limit: int) -> list[tuple[_Run, _Contact]]:
        """Up to `limit` contacts to call now, taken from the trunk's campaigns in turn."""
        queues = [[(run, c) for c in run.contacts.values()
                   if not c.done and not c.in_flight and c.due_at <= now]
                  for run in self.runs.values() if run.campaign.trunk == trunk]
        chosen: list[tuple[_Run, _Contact]] = []
        while len(chosen) < limit and any(queues):
            for queue in queues:
                if queue and len(chosen) < limit:
                    chosen.append(queue.pop(0))
        return chosen

    async def _originate(self, campaign: store.CampaignRow, contact: _Contact,
                         key: str) -> None:
        number = model.dialled_number(contact.listed.number, self.routing().number_format_of(
            campaign.trunk, NATIONAL))
        message, prompts = model.message_for(
            contact.listed.language, message_file=campaign.message_file,
            regional_language=campaign.regional_language,
            regional_file=campaign.message_file_regional)
        variables = {dp.VAR_WARNING_MESSAGE: message,
                     dp.VAR_WARNING_LANGUAGE: prompts,
                     dp.VAR_WARNING_MAX_PLAYS: str(self.settings.max_plays),
                     dp.VAR_WARNING_KEY_TIMEOUT: f"{self.settings.key_timeout_seconds:g}"}
        action = {"Action": "Originate", "Channel": f"PJSIP/{number}@{campaign.trunk}",
                  "Context": dp.CONTEXT_WARNING, "Exten": "s", "Priority": "1",
                  "Timeout": str(int(self.settings.ring_seconds * 1000)),
                  "CallerID": f'"NTPD 112" <{campaign.caller_id}>', "Async": "true",
                  "ChannelId": key,
                  "Variable": ",".join(f"{k}={v}" for k, v in variables.items())}
        log.info("campaign %d: calling contact %d (%s), attempt %d", campaign.id,
                 contact.listed.contact_id, contact.listed.number, contact.attempts,
                 extra={"call_id": key})
        try:
            await self.ami.action(action)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("campaign %d: Originate failed: %s", campaign.id, exc,
                        extra={"call_id": key})
            self._settle(key, model.FAILED, self.clock(), detail={"error": str(exc)[:200]})

    # --- outcomes -----------------------------------------------------------------------------

    def on_event(self, event: AmiEvent) -> None:
        """From the AMI consumer; never waits."""
        key = getattr(event, "uniqueid", "")
        attempt = self.attempts.get(key) if key else None
        if attempt is None:
            return
        at = event_time(event)
        if isinstance(event, OriginateResponse):
            attempt.reason = event.reason
            outcome = model.originate_outcome(event.response, event.reason, attempt.cause)
            if outcome is None:
                attempt.answered = True
            elif attempt.cause is not None or not model.needs_cause(event.response,
                                                                      event.reason):
                self._settle(key, outcome, at, detail={"reason": event.reason,
                                                        "cause": attempt.cause})
        elif isinstance(event, WarningOutcome):
            outcome = model.CONFIRMED if event.outcome == model.CONFIRMED else model.ANSWERED
            self._settle(key, outcome, at, detail={"plays": event.plays})
        elif isinstance(event, Hangup) and attempt.answered:
            # Hung up before the message ended (no UserEvent came).
            self._settle(key, model.ANSWERED, at, detail={"cause": event.cause})
        elif isinstance(event, Hangup):
            attempt.cause = event.cause
            if attempt.reason is not None:  # the OriginateResponse came first
                outcome = model.originate_outcome("Failure", attempt.reason, event.cause)
                self._settle(key, outcome or model.FAILED, at,
                             detail={"reason": attempt.reason, "cause": event.cause})

    def _settle(self, key: str, outcome: str, at: float,
                detail: Mapping[str, Any] | None = None) -> None:
        attempt = self.attempts.pop(key, None)
        if attempt is None:
            return
        step = CallStep(key, at, store.OUTCOME_STEP, {
            "campaign": attempt.campaign_id, "contact": attempt.contact_id,
            "attempt": attempt.attempt, "outcome": outcome, **(detail or {})})
        try:
            future = self.records.submit(step)
        except RuntimeError as exc:  # the keeper is stopping: the restart settles it
            log.warning("outcome of %s not spooled: %s", key, exc, extra={"call_id": key})
        else:
            future.add_done_callback(_report_spool_failure)
        log.info("campaign %d: contact %d attempt %d: %s %s", attempt.campaign_id,
                 attempt.contact_id, attempt.attempt, outcome, dict(detail or {}),
                 extra={"call_id": key})
        run = self.runs.get(attempt.campaign_id)
        contact = run.contacts.get(attempt.contact_id) if run else None
        if run is None or contact is None:
            return
        if contact.in_flight == key:
            contact.in_flight = ""
        self._apply_outcome(run.campaign, contact, outcome, attempt.attempt, at)
        self.changed("campaign.progress", run.progress())

    async def _settle_stale(self, now: float) -> None:
        """Attempts whose events were missed (the controller was down, AMI was cut): once
        the channel is gone, Asterisk's database tells whether the contact confirmed."""
        stale = [a for a in self.attempts.values()
                 if now - a.dialed_at > self.settings.ring_seconds + SETTLE_MARGIN_SECONDS]
        if not stale:
            return
        try:
            result = await self.ami.action({"Action": "CoreShowChannels"})
        except AmiError as exc:
            log.info("cannot settle %d warning attempts yet: %s", len(stale), exc)
            return
        live = {e.uniqueid for e in result.events if isinstance(e, CoreShowChannel)}
        for attempt in stale:
            if attempt.key in live or attempt.key not in self.attempts:
                continue
            try:
                value = await self._astdb(attempt.key)
            except AmiError as exc:
                log.info("cannot settle %s yet: %s", attempt.key, exc,
                         extra={"call_id": attempt.key})
                return
            outcome = {"confirmed": model.CONFIRMED, "answered": model.ANSWERED}.get(
                value, model.FAILED)
            self._settle(attempt.key, outcome, self.clock(),
                         detail={"settled_from": "astdb", "astdb": value})

    async def _astdb(self, key: str) -> str:
        try:
            result = await self.ami.action({"Action": "DBGet",
                                            "Family": dp.ASTDB_WARNING_FAMILY, "Key": key})
        except AmiError as exc:
            if "not found" in str(exc).lower():
                return ""
            raise
        for event in result.events:
            for name, value in getattr(event, "fields", ()):
                if name.lower() == "val":
                    return str(value)
        return ""

    async def _finish_done(self) -> None:
        for run in [r for r in self.runs.values() if r.finished()]:
            try:
                await store.finish(self.engine, run.campaign.id)
            except Conflict:
                pass  # cancelled meanwhile
            except Exception as exc:
                self._database_failed(exc)
                return
            self.runs.pop(run.campaign.id, None)
            log.info("campaign %d finished", run.campaign.id)
            self.changed("campaign.finished", run.progress())

    # --- commands from the web app ------------------------------------------------------------

    async def approved(self, campaign_id: int) -> None:
        """Start at once rather than at the next refresh."""
        if campaign_id not in self.runs:
            await self._resume(await store.campaign(self.engine, campaign_id))

    def cancelled(self, campaign_id: int) -> None:
        run = self.runs.pop(campaign_id, None)
        if run is not None:
            self.changed("campaign.cancelled", run.progress())

    # --- helpers ------------------------------------------------------------------------------

    def changed(self, kind: str, data: Mapping[str, Any]) -> None:
        if self.publish is not None:
            self.publish(kind, data)

    def _set_paused(self, reason: str) -> None:
        if reason == self.paused_reason:
            return
        if reason:
            log.info("warning calls paused: %s", reason)
        else:
            log.info("warning calls resumed (was paused: %s)", self.paused_reason)
        self.paused_reason = reason
        for run in self.runs.values():
            run.paused = reason
        self.changed("campaign.paused", {"paused": reason})

    def _database_failed(self, exc: Exception) -> None:
        if self._database_down_until == 0.0:
            log.warning("database unreachable: warning campaigns pause, outcomes go to the "
                        "spool: %s", exc)
        self._database_down_until = self.clock() + DB_RETRY_SECONDS

    def _database_up(self) -> None:
        if self._database_down_until:
            log.warning("database reachable again: warning campaigns resume")
        self._database_down_until = 0.0


def _report_spool_failure(future: asyncio.Future[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        if future.exception() is not None:
            log.error("warning outcome not spooled: %s", future.exception())


async def create_campaign(settings: WarningsSettings, engine: AsyncEngine,
                          draft: model.CampaignDraft, actor: str) -> dict[str, Any]:
    """What the web views and the CLI share: validate, make the audio, store it awaiting
    a second supervisor."""
    trunks = tuple(t.strip() for t in settings.trunks.split(",") if t.strip())
    try:
        draft.validate(trunks, settings.regional_language)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    audio = await message_file(settings, draft.message_text, draft.recording)
    regional = ""
    if draft.message_text_regional.strip():
        regional = await message_file(settings, draft.message_text_regional,
                                      language=settings.regional_voice)
    return await store.create_campaign(engine, draft, audio, actor,
                                       regional_language=settings.regional_language,
                                       regional_file=regional)
