"""The alerts' service: polls the CAP feeds, stores and matches what they carry, keeps
surge mode, and tells the wall (docs/alerts.md).

The poller never stops on a bad document: each is refused with its reason, logged and
counted (`counters`, shown in /health), and the next one is read. Every read has a
timeout and a size bound; an unchanged document costs a 304 (ETag / Last-Modified).
Surge mode is one row in PostgreSQL (`surge_state`) shared by the center's controllers
(two nodes): every change is written there with its audit entry, in one transaction (a
change that cannot be written is refused). Each controller keeps the state in memory for
the IVR (`current()` never waits) and reads the row every `surge_sync_seconds`, bounded;
while the database is away the last state holds. It ends by itself at its end time (the
end written once for the center), and a restart takes it back from the row.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.alerts import cap, store
from ntpd_ivr.alerts.config import AlertsConfig
from ntpd_ivr.alerts.events import SurgeChanged
from ntpd_ivr.alerts.model import (
    CapAlert,
    CapError,
    Place,
    SurgeMode,
    SurgeState,
    matching_regions,
    places,
    surge_mode,
)
from ntpd_ivr.alerts.sign import signed_alert
from ntpd_ivr.audit.trail import CONTROLLER, Entry, record
from ntpd_ivr.background import Background
from ntpd_ivr.clock import utcnow
from ntpd_ivr.errors import Refusal
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.settings import AlertsSettings, alert_feeds, feed_certificates

log = logging.getLogger(__name__)

WALL_ROWS = 10
SURGE_DB_TIMEOUT = 5.0  # each read or change of surge mode's shared row, start to end
USER_AGENT = "ntpd-ivr CAP poller (NTPD 112)"


class AlertsError(Refusal):
    error = "bad-request"


class NoSuchAlert(AlertsError):
    status = 404
    error = "not-found"


class AuditUnavailable(AlertsError):
    status = 503
    error = "unavailable"


@dataclass
class _Validator:
    etag: str = ""
    modified: str = ""


class FetchError(Exception):
    pass


class AlertService:
    def __init__(self, engine: AsyncEngine, settings: AlertsSettings,
                 routing: Callable[[], RoutingConfig], *,
                 changed: Callable[[], None] = lambda: None,
                 surge_changed: Callable[[SurgeChanged], None] = lambda _: None) -> None:
        self.engine = engine
        self.settings = settings
        self.routing = routing
        self.changed = changed
        self.surge_changed = surge_changed
        self.counters: Counter[str] = Counter()
        self.last_refusal = ""
        self.recent: list[dict[str, Any]] = []
        self.surge = SurgeState()
        self._version = -1  # the shared row's version this controller last took
        self.db_timeout = SURGE_DB_TIMEOUT
        self._validators: dict[str, _Validator] = {}
        # feed URL -> the PEM certificate its alerts must be signed with (checked at start)
        self._certificates = {url: Path(path).read_text(encoding="ascii")
                              for url, path in feed_certificates(settings).items()}
        self._background = Background("alerts")
        self._surge_wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    # --- reading ----------------------------------------------------------------------

    def places(self) -> list[Place]:
        config = self.routing()
        alerts: AlertsConfig = config.alerts
        return places(config.regions.values(), alerts.centres)

    def refuse(self, source: str, reason: str) -> None:
        self.counters["refused"] += 1
        self.last_refusal = f"{source}: {reason}"[:500]
        log.warning("CAP document refused: %s: %s", source, reason)

    async def handle(self, data: bytes, source: str, certificate: str = "") -> int | None:
        """One CAP alert document: validated, stored, matched. The alert's id, or None
        when refused (logged and counted). Never raises for the document's faults. With
        its feed's `certificate` (PEM), only an alert signed with its key is taken, as
        signed."""
        try:
            root = cap.parse_xml(data, self.settings.max_bytes)
            if certificate:
                data = signed_alert(data, certificate)
                root = cap.parse_xml(data, self.settings.max_bytes)
            alert = cap.read_alert(root)
        except CapError as exc:
            self.refuse(source, str(exc))
            return None
        return await self.accept(alert, data.decode("utf-8", "replace"), source)

    async def accept(self, alert: CapAlert, document: str, source: str) -> int:
        self.counters["valid"] += 1
        regions = self.places()
        matched = matching_regions(alert, regions)
        now = utcnow()
        alert_id, new = await store.insert_alert(self.engine, alert, matched, source,
                                                 document, now)
        if not new:
            self.counters["duplicate"] += 1
            return alert_id
        self.counters["stored"] += 1
        log.info("CAP alert %s from %s (%s, %s): regions %s", alert.identifier, alert.sender,
                 alert.severity, alert.urgency, ", ".join(matched) or "none")
        if matched:
            self.counters["matched"] += 1
            await self.refresh()
            rule = self.routing().alerts.rule
            region = rule.fires(alert, regions)
            if region is not None and not alert.expired(now):
                await self._turn_on(alert_id, alert, "rule", region=region,
                                    minutes=rule.minutes)
        return alert_id

    async def refresh(self) -> None:
        self.recent = await store.recent_matching(self.engine, utcnow(), WALL_ROWS)
        self.changed()

    # --- polling ----------------------------------------------------------------------

    async def poll_once(self) -> None:
        """Every feed once; a feed's fault is logged and counted, the others go on."""
        session = self._client()
        for url in alert_feeds(self.settings):
            try:
                await self._poll(session, url)
            except FetchError as exc:
                self.counters["fetch_failed"] += 1
                log.warning("CAP feed %s not read: %s", url, exc)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not stop the poller for good
                self.counters["fetch_failed"] += 1
                log.exception("CAP feed %s: unexpected fault", url)

    async def _poll(self, session: aiohttp.ClientSession, url: str) -> None:
        data = await self._fetch(session, url)
        if data is None:
            return
        try:
            root = cap.parse_xml(data, self.settings.max_bytes)
        except CapError as exc:
            self.refuse(url, str(exc))
            return
        certificate = self._certificates.get(url, "")
        links = cap.feed_links(root)
        if links is None:
            await self.handle(data, url, certificate)
            return
        origin = urlsplit(url)
        for link in links[:self.settings.max_alerts_per_poll]:
            target = urljoin(url, link)
            if urlsplit(target).scheme not in ("http", "https") or (
                    origin.scheme == "https" and urlsplit(target).scheme != "https"):
                self.refuse(url, f"link {link[:100]!r} is not an http(s) URL")
                continue
            try:
                body = await self._fetch(session, target)
            except FetchError as exc:
                self.counters["fetch_failed"] += 1
                log.warning("CAP alert %s not read: %s", target, exc)
                continue
            if body is not None:
                await self.handle(body, target, certificate)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
            self._session = aiohttp.ClientSession(
                timeout=timeout, headers={"User-Agent": USER_AGENT},
                connector=aiohttp.TCPConnector(limit=2))
        return self._session

    async def _fetch(self, session: aiohttp.ClientSession, url: str) -> bytes | None:
        """The body, or None when unchanged since the last read (304)."""
        validator = self._validators.setdefault(url, _Validator())
        headers = {"Accept": "application/cap+xml, application/xml, application/atom+xml, "
                             "application/rss+xml, text/xml"}
        if validator.etag:
            headers["If-None-Match"] = validator.etag
        if validator.modified:
            headers["If-Modified-Since"] = validator.modified
        limit = self.settings.max_bytes
        self.counters["requests"] += 1
        try:
            async with session.get(url, headers=headers, allow_redirects=False) as reply:
                if reply.status == 304:
                    self.counters["not_modified"] += 1
                    return None
                if reply.status != 200:
                    raise FetchError(f"HTTP {reply.status}")
                if reply.content_length is not None and reply.content_length > limit:
                    self.refuse(url, f"document larger than {limit} bytes "
                                     f"(Content-Length {reply.content_length})")
                    return None
                data = await reply.content.read(limit + 1)
                if len(data) > limit:
                    self.refuse(url, f"document larger than {limit} bytes")
                    return None
                validator.etag = reply.headers.get("ETag", "")
                validator.modified = reply.headers.get("Last-Modified", "")
                return data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FetchError(str(exc) or type(exc).__name__) from None

    async def _poll_loop(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.settings.poll_seconds)

    # --- surge mode -------------------------------------------------------------------

    def current(self) -> SurgeMode | None:
        """Surge mode now, or None: what the IVR reads at call time (core.services[SURGE])."""
        return self.surge.current(utcnow())

    async def alert(self, alert_id: int) -> tuple[CapAlert, list[str]]:
        found = await store.document(self.engine, alert_id)
        if found is None:
            raise NoSuchAlert(f"no alert {alert_id}")
        text, regions = found
        return cap.read_alert(cap.parse_xml(text.encode(), 10 * self.settings.max_bytes)), regions

    async def turn_on(self, alert_id: int, actor: str) -> SurgeMode:
        """A supervisor's one action from the alert: on (or renewed) for the rule's time."""
        alert, regions = await self.alert(alert_id)
        return await self._turn_on(alert_id, alert, actor, region=regions[0] if regions else "",
                                   minutes=self.routing().alerts.rule.minutes)

    async def _turn_on(self, alert_id: int, alert: CapAlert, actor: str, *, region: str,
                       minutes: float) -> SurgeMode:
        now = utcnow()
        ends_at = now + timedelta(minutes=minutes)
        try:
            async with asyncio.timeout(self.db_timeout), self.engine.begin() as conn:
                before = await store.lock_surge(conn)
                renewal = before.on(now)
                action = "surge.renewed" if renewal else "surge.on"
                row = await store.write_surge(
                    conn, alert_id=alert_id,
                    started_at=before.started_at if renewal else now, ends_at=ends_at,
                    started_by=actor, region=region, changed_at=now, changed_by=actor)
                await record(conn, Entry(now, actor, action, "surge", str(alert_id), {
                    "alert": alert.identifier, "headline": alert.headline, "region": region,
                    "minutes": minutes, "ends_at": ends_at.isoformat()}))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("surge mode not changed: the shared state and its audit entry cannot "
                      "be written: %s", exc)
            raise AuditUnavailable("the audit trail cannot be written; try again") from None
        mode = self._take(row, alert, now, actor)
        assert mode is not None
        log.warning("surge mode %s by %s until %s: %s", action.split(".")[1], actor,
                    mode.ends_at.isoformat(), mode.headline)
        return mode

    async def turn_off(self, actor: str) -> SurgeMode | None:
        now = utcnow()
        try:
            async with asyncio.timeout(self.db_timeout), self.engine.begin() as conn:
                before = await store.lock_surge(conn)
                if not before.on(now):
                    row = before
                else:
                    row = await store.write_surge(
                        conn, alert_id=None, started_at=None, ends_at=None, started_by="",
                        region="", changed_at=now, changed_by=actor)
                    await record(conn, Entry(now, actor, "surge.off", "surge",
                                             str(before.alert_id),
                                             {"headline": self._headline(before)}))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("surge mode not ended: the shared state and its audit entry cannot be "
                      "written: %s", exc)
            raise AuditUnavailable("the audit trail cannot be written; try again") from None
        ended = self.current()
        if before.on(now) and (ended is None or ended.alert_id != before.alert_id):
            ended = await self._mode_of(before, now)  # on through the other controller
        self._take(row, None, now, actor)
        if not before.on(now):
            return None
        log.warning("surge mode off by %s", actor)
        return ended

    async def _mode_of(self, row: store.SurgeRow, now: datetime) -> SurgeMode | None:
        if row.alert_id is None or row.started_at is None or row.ends_at is None:
            return None
        async with asyncio.timeout(self.db_timeout):
            alert, _ = await self.alert(row.alert_id)
        return surge_mode(row.alert_id, alert, started_at=row.started_at, ends_at=row.ends_at,
                          started_by=row.started_by, region=row.region)

    def _headline(self, row: store.SurgeRow) -> str:
        mode = self.surge.mode
        return mode.headline if mode is not None and mode.alert_id == row.alert_id else ""

    def _take(self, row: store.SurgeRow, alert: CapAlert | None, now: datetime,
              actor: str, ended: str = "off") -> SurgeMode | None:
        """The shared row as this controller's surge mode (`alert`: the row's alert, when
        on); the change told on the bus and to the wall (an end as `ended`)."""
        mode = None
        if row.on(now) and alert is not None and row.alert_id is not None:
            assert row.started_at is not None and row.ends_at is not None
            mode = surge_mode(row.alert_id, alert, started_at=row.started_at,
                              ends_at=row.ends_at, started_by=row.started_by,
                              region=row.region)
        self._version = row.version
        what = self.surge.become(mode, now=now, actor=actor)
        if what is not None:
            self._surge_news(ended if what == "off" else what, mode)
        return mode

    async def sync_surge(self) -> None:
        """Read the shared row (bounded) and take it when another controller changed it.
        The database away: this controller's last state holds, and ends at its time."""
        now = utcnow()
        async with asyncio.timeout(self.db_timeout):
            row = await store.read_surge(self.engine)
            if row.alert_id is not None and not row.on(now):
                # Its time ran out and no controller has written that yet (the database
                # was away at the end time, or none was running): once, here.
                written = await self._expire(row.version)
                if written is not None:
                    self._take(written, None, now, CONTROLLER, ended="expired")
                return
            if row.version == self._version:
                return
            if row.version == 0:  # never written since migration 0020: the audit trail's
                self._version = 0
                await self._restore_from_trail()
                return
            alert = None
            if row.alert_id is not None:
                alert, _ = await self.alert(row.alert_id)
        if self._take(row, alert, now, row.started_by or CONTROLLER) is not None:
            log.warning("surge mode taken from the shared state (version %d) until %s",
                        row.version, row.ends_at.isoformat() if row.ends_at else "")

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.surge_sync_seconds)
            try:
                await self.sync_surge()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # TimeoutError, the database away: the last state holds
                self.counters["surge_sync_failed"] += 1
                log.warning("surge mode not read from the database (the last state holds): "
                            "%s", exc or type(exc).__name__)

    def _surge_news(self, action: str, mode: SurgeMode | None) -> None:
        self._surge_wake.set()
        self.surge_changed(SurgeChanged(action, mode))
        self.changed()

    async def _expire(self, version: int) -> store.SurgeRow | None:
        """Write the end of surge mode whose time ran out, once for the center: only the
        controller that finds the row still on (at `version`) writes it and its audit
        entry; another that comes later finds it done."""
        now = utcnow()
        async with asyncio.timeout(self.db_timeout), self.engine.begin() as conn:
            row = await store.lock_surge(conn)
            if row.version != version or row.alert_id is None or row.on(now):
                return None
            headline = self._headline(row)
            written = await store.write_surge(
                conn, alert_id=None, started_at=None, ends_at=None, started_by="", region="",
                changed_at=now, changed_by=CONTROLLER)
            await record(conn, Entry(now, CONTROLLER, "surge.expired", "surge",
                                     str(row.alert_id),
                                     {"headline": headline,
                                      "ends_at": row.ends_at.isoformat() if row.ends_at
                                      else ""}))
        self._version = written.version
        return written

    async def _expiry_loop(self) -> None:
        """Surge mode ends by itself at its end time: audited (once for the center) and
        shown."""
        while True:
            self._surge_wake.clear()
            mode = self.surge.mode
            wait = None if mode is None else max(
                0.0, (mode.ends_at - utcnow()).total_seconds())
            try:
                async with asyncio.timeout(wait):
                    await self._surge_wake.wait()
                continue
            except TimeoutError:
                pass
            if mode is not None and self.surge.current(utcnow()) is None:
                log.warning("surge mode ended by itself (%s)", mode.headline)
                version = self._version
                try:
                    await self._expire(version)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # it has ended all the same; a later sync writes it
                    log.error("surge expiry not written yet: %s", exc or type(exc).__name__)
                self._surge_news("expired", None)

    # --- what the wall shows ----------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        mode = self.current()
        return {"recent": self.recent, "surge": mode.to_json() if mode else None,
                "refused": self.counters["refused"]}

    def health(self) -> dict[str, Any]:
        return {"feeds": len(alert_feeds(self.settings)), **dict(self.counters),
                "last_refusal": self.last_refusal, "surge": self.current() is not None}

    # --- start and stop ---------------------------------------------------------------

    async def restore_surge(self) -> SurgeMode | None:
        """At start: surge mode as the shared row has it (or, never written since migration
        0020, as the audit trail last left it), if its time has not run out."""
        await self.sync_surge()
        return self.current()

    async def _restore_from_trail(self) -> None:
        entry = await store.last_surge_change(self.engine)
        if entry is None or entry["action"] not in ("surge.on", "surge.renewed"):
            return
        minutes = entry["detail"].get("minutes")
        if not isinstance(minutes, int) or minutes <= 0:
            return
        alert_id = int(entry["subject_id"])
        alert, _ = await self.alert(alert_id)
        mode = surge_mode(alert_id, alert, started_at=entry["at"],
                          ends_at=entry["at"] + timedelta(minutes=minutes),
                          started_by=entry["actor"], region=entry["detail"].get("region", ""))
        if self.surge.become(mode, now=utcnow(), actor=entry["actor"]) is not None:
            log.warning("surge mode restored from the audit trail, on until %s: %s",
                        mode.ends_at.isoformat(), mode.headline)
            self._surge_news("on", mode)

    async def start(self) -> None:
        try:
            await self.refresh()
            await self.restore_surge()
        except Exception as exc:  # the database is away: the poller fills it later
            log.warning("alerts: recent alerts or surge mode not read: %s", exc)
        self._background.spawn(self._expiry_loop(), "surge-expiry")
        self._background.spawn(self._sync_loop(), "surge-sync")
        if alert_feeds(self.settings):
            self._background.spawn(self._poll_loop(), "cap-poller")

    async def stop(self) -> None:
        await self._background.stop()
        if self._session is not None:
            await self._session.close()

