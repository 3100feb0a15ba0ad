"""The texts' service: the only code that changes text sessions and their messages.

- `on_sms` (the bus's SmsReceived, awaited inside the inbox's transaction): an SMS to a
  short code that is not an AML SMS joins the sender's open session or opens one (a
  `calls` row, medium "sms", routed to a region by the sender's number like a call);
  stored with the SMS or not at all. `on_sms_stored` (its commit) offers the session and
  sends the acknowledgement through the outbox.
- `take`, `reply`, `end`, `callback`: the desk's actions, each by the one call-taker who
  took the session (model.Session.check_owner).
- `on_delivery` (the SMS domain's SmsDelivery): a reply's delivery state, to the owner.
- `watch_offers`: a session nobody took within `offer_timeout_seconds` is raised on the
  wall (`text.unanswered`).
Pushes go on the hub's `workspace` topic to each user's own sockets (docs/texts.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ntpd_ivr.audit.trail import Entry, record
from ntpd_ivr.background import Background
from ntpd_ivr.calls.tables import Call
from ntpd_ivr.clock import utcnow
from ntpd_ivr.incidents.tables import Incident
from ntpd_ivr.location.aml import is_aml
from ntpd_ivr.numbers import parse_caller
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.routing.engine import CallFacts, identify_region
from ntpd_ivr.sms.events import SmsDelivery, SmsReceived, SmsStored
from ntpd_ivr.sms.tables import SmsOutbox
from ntpd_ivr.texts import model
from ntpd_ivr.texts.model import NotFound, Session, TextRefusal
from ntpd_ivr.texts.repository import session_with_messages
from ntpd_ivr.texts.tables import MAX_STORED_BODY, TextDesk, TextMessage, TextSession

log = logging.getLogger(__name__)

TOPIC, WALL_TOPIC = "workspace", "wall"
OFFER_CHECK_SECONDS = 1.0
PENDING_MEMORY = 1000
OUTBOX_MEMORY = 10_000
ENDED_MEMORY = 200
MAX_HISTORY = 10

Publish = Callable[..., int]  # LiveHub.publish(topic, kind, data, user=...)
Enqueue = Callable[[str, str, str], Awaitable[int]]  # Outbox.enqueue(to, body, purpose)
# (user, sip endpoint, the queues that endpoint is logged in to)
Takers = Callable[[], Sequence[tuple[str, str | None, Sequence[str]]]]
History = Callable[[str, str], Awaitable[list[dict[str, Any]]]]  # (number, uniqueid)
Dispose = Callable[[str, Mapping[str, Any], str], Awaitable[dict[str, Any]]]
Escalate = Callable[[str, str, str, str], Awaitable[dict[str, Any]]]
# (number, region, the [texts] priority) -> the priority under the prank policy and the
# number's standing (the strike policy keyed by number, as for a call); in memory.
Standing = Callable[[str, str, int], tuple[int, dict[str, Any]]]


def _strike_free(number: str, region: str, priority: int) -> tuple[int, dict[str, Any]]:
    return priority, {}


@dataclass(frozen=True)
class Arrival:
    """What an incoming SMS made, announced once its transaction committed."""
    session: Session
    message: dict[str, Any]
    opened: bool
    flagged: bool


class TextService:
    def __init__(self, engine: AsyncEngine, routing: Callable[[], RoutingConfig],
                 publish: Publish, takers: Takers, *, enqueue: Enqueue | None = None,
                 history: History | None = None, dispose: Dispose | None = None,
                 escalate: Escalate | None = None,
                 endpoint_of: Callable[[str], str | None] = lambda user: None,
                 changed: Callable[[], None] = lambda: None,
                 standing: Standing = _strike_free) -> None:
        self.engine = engine
        self.routing = routing
        self.publish = publish
        self.takers = takers
        self.enqueue = enqueue
        self.history = history
        self.dispose = dispose
        self.escalate = escalate
        self.endpoint_of = endpoint_of
        self.changed = changed  # the waiting sessions changed: the wall reads them again
        self.standing = standing
        self.sessions: dict[str, Session] = {}  # open ones, and the last ended ones
        self.accepts: dict[str, bool] = {}
        self.counts: Counter[str] = Counter()  # opened, joined, flagged, replies, ended
        self._pending: OrderedDict[int, Arrival] = OrderedDict()
        # outbox id -> its session, for the delivery pushes (the newest OUTBOX_MEMORY)
        self._outbox: OrderedDict[int, str] = OrderedDict()
        self._background = Background("texts")

    @property
    def config(self) -> Any:
        return self.routing().texts

    # --- life ----------------------------------------------------------------------------

    async def load(self) -> None:
        """The open sessions and the desks' toggles, from the database (at start)."""
        s, c = TextSession.__table__, Call.__table__
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(s, c.c.region, c.c.queue, c.c.category, c.c.priority)
                .join(c, c.c.uniqueid == s.c.uniqueid).where(s.c.ended_at.is_(None)))
            for row in rows.mappings():
                self.sessions[row["uniqueid"]] = Session(
                    row["uniqueid"], row["caller_number"], row["region"] or "",
                    row["queue"] or "", row["category"] or "", row["opened_at"],
                    taken_by=row["taken_by"], unanswered=row["unanswered_at"] is not None,
                    priority=row["priority"] or 0)
            desks = await conn.execute(select(TextDesk.web_user, TextDesk.accepts))
            self.accepts = {user: bool(accepts) for user, accepts in desks}
        log.info("text sessions: %d open", len(self.sessions))

    def start(self) -> None:
        self._background.spawn(self.watch_offers(), "texts-offers")

    async def stop(self) -> None:
        await self._background.stop()

    # --- who is offered what ----------------------------------------------------------

    def eligible(self, session: Session) -> list[str]:
        takers = self.takers()
        return model.eligible_users(((u, e) for u, e, _ in takers), session.queue,
                                    {e: q for _, e, q in takers if e}, self.accepts)

    def _push(self, users: Sequence[str] | set[str], kind: str, data: Mapping[str, Any]) -> None:
        for user in sorted(set(users)):
            self.publish(TOPIC, kind, data, user=user)

    def _audience(self, session: Session) -> set[str]:
        """Who sees a session's news: its owner, or (not taken) the desks it is offered to."""
        if session.taken_by is not None:
            return {session.taken_by}
        return set(self.eligible(session)) | session.offered_to

    # --- incoming SMS (bus) ---------------------------------------------------------------

    async def on_sms(self, event: SmsReceived) -> None:
        config = self.config
        if not config.enabled or is_aml(event.text):
            return  # an AML SMS is the location domain's, never a session
        if event.receiver and event.receiver not in config.short_codes:
            return
        caller = parse_caller(event.sender)
        if not caller.is_number:
            log.info("SMS %s from %s: no number to answer, no text session", event.sms_id,
                     event.sender)
            return
        conn, number, now = event.conn, caller.value, utcnow()
        t = TextSession.__table__
        found = (await conn.execute(select(t.c.uniqueid).where(
            t.c.caller_number == number, t.c.ended_at.is_(None)).with_for_update())
            ).scalar_one_or_none()
        opened = found is None
        if found is None:
            uniqueid = model.uniqueid_of(event.sms_id)
            session = await self._open(conn, uniqueid, number, event.receiver, now)
            flagged = False
        else:
            uniqueid = str(found)
            session = self.sessions.get(uniqueid) or await self._session_row(conn, uniqueid)
            recent = (await conn.execute(select(func.count()).select_from(TextMessage).where(
                TextMessage.uniqueid == uniqueid, TextMessage.direction == "in",
                TextMessage.at > now - model.FLOOD_WINDOW))).scalar_one()
            flagged = int(recent) >= config.flood_per_minute
        body = event.text[:min(config.max_body_chars, MAX_STORED_BODY)]
        row = (await conn.execute(insert(TextMessage).values(
            uniqueid=uniqueid, direction="in", body=body, author=number, at=now,
            sms_inbox_id=event.sms_id, flagged=flagged)
            .returning(*TextMessage.__table__.c))).mappings().one()
        self._pending[event.sms_id] = Arrival(session, model.message_json(dict(row)), opened,
                                              flagged)
        while len(self._pending) > PENDING_MEMORY:
            self._pending.popitem(last=False)

    async def _open(self, conn: AsyncConnection, uniqueid: str, number: str, dialed: str,
                    now: datetime) -> Session:
        routing = self.routing()
        config = routing.texts
        region, how = identify_region(CallFacts(trunk="", dialed=dialed, caller=number,
                                                digit=None, at=now), routing)
        priority, standing = self.standing(number, region.key, config.priority)
        await conn.execute(insert(Call).values(
            uniqueid=uniqueid, caller_number=number, dialed=dialed or None,
            category=config.category, queue=region.queue, route_reason=f"text-{how}",
            arrived_at=now, queued_at=now, region=region.key, priority=priority,
            medium="sms", created_at=now, updated_at=now))
        await conn.execute(insert(TextSession).values(uniqueid=uniqueid, caller_number=number,
                                                      opened_at=now))
        return Session(uniqueid, number, region.key, region.queue, config.category, now,
                       priority=priority, standing=standing)

    async def _session_row(self, conn: AsyncConnection, uniqueid: str) -> Session:
        s, c = TextSession.__table__, Call.__table__
        row = (await conn.execute(select(s, c.c.region, c.c.queue, c.c.category, c.c.priority)
                                  .join(c, c.c.uniqueid == s.c.uniqueid)
                                  .where(s.c.uniqueid == uniqueid))).mappings().first()
        if row is None:
            raise NotFound(f"no text session {uniqueid}")
        return Session(uniqueid, row["caller_number"], row["region"] or "", row["queue"] or "",
                       row["category"] or "", row["opened_at"], taken_by=row["taken_by"],
                       unanswered=row["unanswered_at"] is not None,
                       ended=row["ended_at"] is not None, priority=row["priority"] or 0)

    def on_sms_stored(self, event: SmsStored) -> None:
        arrival = self._pending.pop(event.sms_id, None)
        if arrival is None:
            return
        session = self.sessions.setdefault(arrival.session.uniqueid, arrival.session)
        if arrival.opened:
            self.counts["opened"] += 1
            log.info("text session opened from %s in %s", session.caller_number,
                     session.region, extra={"call_id": session.uniqueid})
            self._background.spawn(self._offer_and_ack(session, arrival.message),
                                   f"text-open-{session.uniqueid}")
            self.changed()
            return
        self.counts["joined"] += 1
        if arrival.flagged:
            self.counts["flagged"] += 1
            log.warning("text session: message over the flood limit (kept, flagged)",
                        extra={"call_id": session.uniqueid})
            if session.taken_by is not None:  # the owner sees everything; nobody is offered
                self._push([session.taken_by], "text.message",
                           {"uniqueid": session.uniqueid, "message": arrival.message})
            return
        self._push(self._audience(session), "text.message",
                   {"uniqueid": session.uniqueid, "message": arrival.message})

    async def _offer_and_ack(self, session: Session, first: dict[str, Any]) -> None:
        users = self.eligible(session)
        session.offered_to |= set(users)
        offered = session.to_json([first], await self._history(session))
        self._push(users, "text.offered", offered)
        if self.enqueue is None:
            return
        try:
            message = await self._send(session, self.config.ack_text, model.AUTO_AUTHOR,
                                       model.ACK_PURPOSE)
        except Exception:
            log.exception("text session: acknowledgement not queued",
                          extra={"call_id": session.uniqueid})
            return
        self._push(self._audience(session), "text.message",
                   {"uniqueid": session.uniqueid, "message": message})

    async def _send(self, session: Session, body: str, author: str, purpose: str
                    ) -> dict[str, Any]:
        """Through the outbox, then kept as the session's message (with its outbox id)."""
        assert self.enqueue is not None
        outbox_id = await self.enqueue(session.caller_number, body, purpose)
        self._outbox[outbox_id] = session.uniqueid
        while len(self._outbox) > OUTBOX_MEMORY:
            self._outbox.popitem(last=False)
        now = utcnow()
        async with self.engine.begin() as conn:
            row = (await conn.execute(insert(TextMessage).values(
                uniqueid=session.uniqueid, direction="out", body=body, author=author, at=now,
                sms_outbox_id=outbox_id).returning(*TextMessage.__table__.c))).mappings().one()
            status = (await conn.execute(select(SmsOutbox.status).where(
                SmsOutbox.id == outbox_id))).scalar_one_or_none()
            if author != model.AUTO_AUTHOR:
                await conn.execute(update(TextSession).where(
                    TextSession.uniqueid == session.uniqueid,
                    TextSession.first_reply_at.is_(None)).values(first_reply_at=now))
        return model.message_json({**row, "outbox_status": status})

    # --- deliveries (bus) -----------------------------------------------------------------

    def on_delivery(self, event: SmsDelivery) -> None:
        uniqueid = self._outbox.get(event.outbox_id)
        if uniqueid is None:
            return  # not a text session's (or from before a restart: the desk reads it)
        self._background.spawn(self._delivered(uniqueid, event), f"text-dlr-{uniqueid}")

    async def _delivered(self, uniqueid: str, event: SmsDelivery) -> None:
        session = self.sessions.get(uniqueid)
        if session is None:
            return
        async with self.engine.connect() as conn:
            message_id = (await conn.execute(select(TextMessage.id).where(
                TextMessage.sms_outbox_id == event.outbox_id))).scalar_one_or_none()
        if message_id is None:  # the reply's row is being written: _send pushes its state
            return
        self._push(self._audience(session), "text.delivery",
                   {"uniqueid": uniqueid, "message_id": int(message_id),
                    "delivery": model.delivery_of(event.status)})

    # --- the wall -------------------------------------------------------------------------

    async def watch_offers(self) -> None:
        while True:
            try:
                await self.check_offers()
            except Exception:  # the database away: the next round tells
                log.exception("text sessions: offers not checked")
            await asyncio.sleep(OFFER_CHECK_SECONDS)

    async def check_offers(self, now: datetime | None = None) -> list[str]:
        now = now or utcnow()
        limit = self.config.offer_timeout_seconds
        late = [s for s in self.sessions.values() if s.state == model.OFFERED
                and not s.unanswered and (now - s.opened_at).total_seconds() >= limit]
        for session in late:
            async with self.engine.begin() as conn:
                await conn.execute(update(TextSession).where(
                    TextSession.uniqueid == session.uniqueid,
                    TextSession.unanswered_at.is_(None)).values(unanswered_at=now))
            session.unanswered = True
            self.counts["unanswered"] += 1
            log.warning("text session not taken in %d s: raised on the wall", limit,
                        extra={"call_id": session.uniqueid})
            self.publish(WALL_TOPIC, "text.unanswered", session.to_json())
            self.changed()
            self._push(self._audience(session), "text.unanswered",
                       {"uniqueid": session.uniqueid})
        return [s.uniqueid for s in late]

    # --- the desk -------------------------------------------------------------------------

    def _session(self, uniqueid: str) -> Session:
        session = self.sessions.get(uniqueid)
        if session is None:
            raise NotFound(f"no open text session {uniqueid}")
        return session

    async def messages(self, uniqueid: str) -> list[dict[str, Any]]:
        found = await session_with_messages(self.engine, uniqueid)
        return list(found["messages"]) if found is not None else []

    async def _history(self, session: Session) -> list[dict[str, Any]]:
        if self.history is None:
            return []
        try:
            return await self.history(session.caller_number, session.uniqueid)
        except Exception:
            log.exception("text session: caller history unreadable",
                          extra={"call_id": session.uniqueid})
            return []

    async def view(self, session: Session) -> dict[str, Any]:
        return session.to_json(await self.messages(session.uniqueid),
                               await self._history(session))

    def visible(self, user: str) -> list[Session]:
        """The open sessions offered to `user` now, and theirs: the higher priority first,
        then the oldest (a number with strikes waits behind the strike-free ones)."""
        return [s for s in sorted(self.sessions.values(),
                                  key=lambda s: (-s.priority, s.opened_at))
                if not s.ended and (s.taken_by == user
                                    or (s.taken_by is None and user in self.eligible(s)))]

    async def listing(self, user: str) -> list[dict[str, Any]]:
        return [await self.view(s) for s in self.visible(user)]

    async def one(self, uniqueid: str, user: str, *, supervisor: bool) -> dict[str, Any]:
        session = self.sessions.get(uniqueid)
        if session is None:
            if not supervisor:
                raise NotFound(f"no open text session {uniqueid}")
            async with self.engine.connect() as conn:
                session = await self._session_row(conn, uniqueid)
        elif not supervisor and session not in self.visible(user):
            raise model.NotYours(f"text session {uniqueid} is neither offered to you "
                                 "nor yours")
        return await self.view(session)

    async def take(self, uniqueid: str, user: str) -> dict[str, Any]:
        session = self._session(uniqueid)
        if session.check_take(user, user in self.eligible(session)):
            return await self.view(session)
        now, endpoint = utcnow(), self.endpoint_of(user)
        t = TextSession.__table__
        async with self.engine.begin() as conn:
            won = (await conn.execute(update(TextSession).where(
                t.c.uniqueid == uniqueid, t.c.taken_by.is_(None), t.c.ended_at.is_(None))
                .values(taken_by=user, taken_at=now).returning(t.c.uniqueid))).first()
            if won is None:
                taken = (await conn.execute(select(t.c.taken_by).where(
                    t.c.uniqueid == uniqueid))).scalar_one_or_none()
                raise model.TakenByOther(f"text session {uniqueid} was taken by {taken}")
            # answered_by: whose call it is for the incidents' rights, as for a call.
            await conn.execute(update(Call).where(Call.uniqueid == uniqueid).values(
                answered_at=now, answered_by=endpoint, updated_at=now))
            await record(conn, Entry(now, user, "text.taken", "call", uniqueid,
                                     {"endpoint": endpoint}))
        others = self._audience(session) - {user}
        session.taken_by = user
        log.info("text session taken by %s", user, extra={"call_id": uniqueid})
        self._push(others, "text.taken", {"uniqueid": uniqueid, "by": user})
        self.changed()
        return await self.view(session)

    async def reply(self, uniqueid: str, user: str, body: Mapping[str, Any],
                    language: str) -> dict[str, Any]:
        session = self._session(uniqueid)
        session.check_owner(user)
        text = model.reply_body(body, self.config, language)
        if self.enqueue is None:
            raise TextRefusal("SMS is off: no reply can be sent", status=503,
                              error="sms-off")
        message = await self._send(session, text, user, model.REPLY_PURPOSE)
        self.counts["replies"] += 1
        self._push([user], "text.message", {"uniqueid": uniqueid, "message": message})
        return message

    async def end(self, uniqueid: str, user: str, body: Mapping[str, Any]) -> dict[str, Any]:
        session = self._session(uniqueid)
        session.check_owner(user)
        if self.dispose is None:
            raise TextRefusal("no disposition path", status=503, error="unavailable")
        disposed = await self.dispose(uniqueid, body, user)  # strikes, audit: as for a call
        now = utcnow()
        async with self.engine.begin() as conn:
            await conn.execute(update(TextSession).where(
                TextSession.uniqueid == uniqueid, TextSession.ended_at.is_(None))
                .values(ended_at=now, ended_by=user))
            ended: dict[str, Any] = {"ended_at": now, "disposition": "answered",
                                     "updated_at": now}
            if disposed.get("incident_id") is not None:  # classified by its incident
                category = (await conn.execute(select(Incident.category).where(
                    Incident.id == disposed["incident_id"]))).scalar_one_or_none()
                if category:
                    ended["category"] = session.category = category
            await conn.execute(update(Call).where(Call.uniqueid == uniqueid).values(**ended))
        session.ended = True
        self.counts["ended"] += 1
        self._forget_ended()
        log.info("text session ended by %s", user, extra={"call_id": uniqueid})
        self._push([user], "text.ended", {"uniqueid": uniqueid})
        self.changed()
        return await self.view(session)

    def _forget_ended(self) -> None:
        ended = [k for k, s in self.sessions.items() if s.ended]
        for key in ended[:max(0, len(ended) - ENDED_MEMORY)]:
            del self.sessions[key]

    async def callback(self, uniqueid: str, user: str) -> dict[str, Any]:
        session = self._session(uniqueid)
        session.check_owner(user)
        endpoint = self.endpoint_of(user)
        if self.escalate is None or endpoint is None:
            raise TextRefusal("a callback rings your phone first: you have no sip_endpoint"
                              if endpoint is None else "callbacks are off",
                              status=409, error="no-endpoint" if endpoint is None
                              else "unavailable")
        return await self.escalate(session.caller_number, uniqueid, user, endpoint)

    async def set_accepts(self, user: str, accepts: bool) -> bool:
        now = utcnow()
        async with self.engine.begin() as conn:
            await conn.execute(pg_insert(TextDesk).values(
                web_user=user, accepts=accepts, updated_at=now).on_conflict_do_update(
                index_elements=[TextDesk.web_user],
                set_={"accepts": accepts, "updated_at": now}))
            await record(conn, Entry(now, user, "text.accepts", "user", user,
                                     {"accepts": accepts}))
        self.accepts[user] = accepts
        if accepts:  # what waits in their queues is offered to them now
            for session in self.visible(user):
                if session.taken_by is None and user not in session.offered_to:
                    session.offered_to.add(user)
                    self._push([user], "text.offered", await self.view(session))
        return accepts

    def quick_replies(self, language: str) -> list[dict[str, str]]:
        return [{"id": q.id, "text": q.text(language)} for q in self.config.quick_replies]

    def wall_summary(self) -> dict[str, Any]:
        """For the supervisor's wall: the open sessions nobody took yet (oldest first;
        `unanswered`: its offer timed out), and how many are being answered."""
        open_ = [s for s in self.sessions.values() if not s.ended]
        waiting = sorted((s for s in open_ if s.taken_by is None), key=lambda s: s.opened_at)
        return {"waiting": [{"uniqueid": s.uniqueid, "caller_number": s.caller_number,
                             "region": s.region, "opened_at": s.opened_at.timestamp(),
                             "unanswered": s.unanswered} for s in waiting],
                "taken": sum(1 for s in open_ if s.taken_by is not None)}

    def health(self) -> dict[str, Any]:
        return {"open": sum(1 for s in self.sessions.values() if not s.ended),
                **dict(self.counts)}
