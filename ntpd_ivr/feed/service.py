"""The monitoring feed: every `feed.interval_seconds` (periods aligned on the UTC epoch),
the figures of the period that just ended go into the outbox table, then every undelivered
push is POSTed to `feed.url`, oldest first, over HTTPS with the configured CA and bearer
token. A push that fails stays, and the ones after it wait: the central monitoring
receives the periods in order. The outbox is in PostgreSQL, so pushes survive restarts;
periods that ended while the controller was down (or the database unreachable) are
queued at the next tick, up to MAX_BACKFILL of them.

Each push carries `sequence` (its outbox id, increasing) and an `Idempotency-Key`
(center and period) so that the receiver can drop a push it already took (a reply lost on
the way back makes us send it again).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.audit.trail import Entry, record
from ntpd_ivr.clock import utcnow
from ntpd_ivr.feed.model import PushResult
from ntpd_ivr.feed.tables import FeedOutbox
from ntpd_ivr.reports.model import DEFAULT_WITHIN, ReportQuery
from ntpd_ivr.reports.repository import ReportSource
from ntpd_ivr.settings import FeedSettings

log = logging.getLogger(__name__)

MAX_BACKFILL = 288  # one day of 5-minute periods
MAX_ERROR_CHARS = 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Figures = Callable[[datetime, datetime], Awaitable[dict[str, Any]]]


def period_start(at: datetime, interval: timedelta) -> datetime:
    """The start of the period `at` falls in (periods aligned on the epoch)."""
    return EPOCH + ((at - EPOCH) // interval) * interval


class MonitoringFeed:
    def __init__(self, settings: FeedSettings, engine: AsyncEngine, figures: Figures,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.engine = engine
        self.figures = figures
        self.clock = clock
        self.interval = timedelta(seconds=settings.interval_seconds)
        self.delivered_total = 0
        self.failed_total = 0
        self.pending = 0
        self.last_error: str | None = None
        self._origin: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "ntpd-ivr-feed"}
        if self.settings.bearer_token_file:
            token = Path(self.settings.bearer_token_file).read_text(encoding="utf-8").strip()
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            context = ssl.create_default_context(cafile=self.settings.ca_file or None)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds))
        return self._session

    async def enqueue_due(self) -> int:
        """Queue every period that has ended and is not queued yet; returns how many."""
        now = self.clock()
        current = period_start(now, self.interval)
        t = FeedOutbox.__table__
        async with self.engine.connect() as conn:
            last = (await conn.execute(select(func.max(t.c.period_end)))).scalar_one()
        # Before the first push ever, start with the period under way at the first tick:
        # no backfill of history from before the feed was configured.
        if self._origin is None:
            self._origin = current
        first = last if last is not None else self._origin
        first = max(first, current - MAX_BACKFILL * self.interval)
        queued = 0
        start = first
        while start + self.interval <= now:
            end = start + self.interval
            payload = {"center": self.settings.center_id, **await self.figures(start, end)}
            async with self.engine.begin() as conn:
                result = await conn.execute(insert(FeedOutbox).values(
                    period_start=start, period_end=end, payload=payload, created_at=now)
                    .on_conflict_do_nothing(index_elements=["period_start"]))
                queued += result.rowcount or 0
            start = end
        return queued

    async def deliver(self) -> int:
        """POST the pending pushes oldest first; stop at the first failure (order)."""
        t = FeedOutbox.__table__
        delivered = 0
        async with self.engine.connect() as conn:
            pending = list(await conn.execute(
                select(t.c.id, t.c.period_start, t.c.payload)
                .where(t.c.delivered_at.is_(None)).order_by(t.c.id)))
        self.pending = len(pending)
        for push_id, start, payload in pending:
            error = await self._post(push_id, start, payload)
            async with self.engine.begin() as conn:
                if error is None:
                    await conn.execute(update(FeedOutbox).where(t.c.id == push_id).values(
                        delivered_at=self.clock(), attempts=t.c.attempts + 1, last_error=None))
                else:
                    await conn.execute(update(FeedOutbox).where(t.c.id == push_id).values(
                        attempts=t.c.attempts + 1, last_error=error))
            if error is not None:
                self.failed_total += 1
                self.last_error = error
                log.warning("monitoring feed: push %d (period %s) not delivered, %d "
                            "waiting: %s", push_id, start.isoformat(), self.pending, error)
                return delivered
            delivered += 1
            self.delivered_total += 1
            self.pending -= 1
        self.last_error = None
        return delivered

    async def _post(self, push_id: int, start: datetime, payload: dict[str, Any]
                    ) -> str | None:
        body = {"sequence": push_id, **payload}
        try:
            # Read at each push: a token rotated in its file is used without a restart.
            headers = {**self._headers(),
                       "Idempotency-Key": f"{self.settings.center_id}:{start.isoformat()}"}
            async with self._client().post(self.settings.url, json=body,
                                           headers=headers) as reply:
                if 200 <= reply.status < 300:
                    return None
                text = (await reply.text())[:200]
                return f"HTTP {reply.status}: {text}"
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]

    async def tick(self) -> tuple[int, int]:
        async with self._lock:
            queued = await self.enqueue_due()
            return queued, await self.deliver()

    async def push_now(self, actor: str) -> PushResult:
        """For /api/v1/feed/push: queue what is due and deliver now; audited."""
        queued, delivered = await self.tick()
        async with self.engine.begin() as conn:
            await record(conn, Entry(self.clock(), actor, "feed.push", "feed",
                                     self.settings.url, {"queued": queued,
                                                         "delivered": delivered,
                                                         "pending": self.pending}))
        return PushResult(queued, delivered, self.pending)

    def state(self) -> dict[str, Any]:
        return {"url": self.settings.url, "pending": self.pending,
                "delivered_total": self.delivered_total, "failed_total": self.failed_total,
                "last_error": self.last_error}

    async def _run(self) -> None:
        retry = self.settings.retry_seconds
        while True:
            try:
                await self.tick()
            except Exception as exc:  # the database away: the next tick catches up
                self.last_error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
                log.warning("monitoring feed: tick failed, retrying in %g s: %s", retry,
                            self.last_error)
            now = self.clock()
            until_next = (period_start(now, self.interval) + self.interval - now)
            wait = until_next.total_seconds() + 0.5
            if self.pending or self.last_error:
                wait = min(wait, retry)
            await asyncio.sleep(wait)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="monitoring-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None


def report_figures(source: ReportSource) -> Figures:
    """The feed's figures: the report of the period by region, as /api/v1/figures gives."""
    async def figures(start: datetime, end: datetime) -> dict[str, Any]:
        report = await source.report(ReportQuery(start, end, "region",
                                                 DEFAULT_WITHIN, None))
        return report.as_dict()
    return figures
