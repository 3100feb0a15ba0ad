"""/metrics in the Prometheus text format (prometheus-client), on the service's own
registry (no process-wide state).

Per-call cost (docs/performance.md measures the call path's CPU): the only work done per
call is one histogram observation when a call is answered (CallTracker.on_answer). Every
other figure is read from state the controller keeps anyway, when Prometheus scrapes:
calls by state and queue waits from the call tracker, FastAGI sessions, AMI logins, the
record spool, the feed's outbox and the event-loop lag.

Access (docs/production.md): from loopback, or with `Authorization: Bearer <token>` of a
token whose role is supervisor or admin (`ntpd-ivr token create --role supervisor
prometheus`).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from ntpd_ivr.calls.values import LiveCounts
from ntpd_ivr.web.app import problem
from ntpd_ivr.web.auth import role_allows
from ntpd_ivr.web.bearer import TOKENS, bearer_of

# Answer times of 112 calls: the standards' 10, 15 and 20 s are bucket edges.
ANSWER_BUCKETS = (2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0)
State = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class MetricSources:
    live_counts: Callable[[], LiveCounts]
    agi: Callable[[], tuple[int, int]]          # (active sessions, sessions since start)
    ami: State                                   # AmiClient.state()
    records: State                               # RecordKeeper.state()
    loop: State                                  # LoopLagMonitor.state()
    feed: State | None = None                    # MonitoringFeed.state()
    # FastAGI connections and sessions refused, by reason (FastAgiServer.refused)
    agi_refused: Callable[[], dict[str, int]] | None = None
    live: State | None = None                    # LiveHub.state(): the screens' sockets
    clock: Callable[[], float] = time.time


class StateCollector(Collector):
    def __init__(self, sources: MetricSources) -> None:
        self.sources = sources

    def describe(self) -> Iterator[Metric]:
        """Nothing: registering must not read the sources (the service is still being
        built then); the names are checked by the tests of this module."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        s = self.sources
        counts = s.live_counts()
        calls = GaugeMetricFamily("ntpd_calls", "112 calls followed now, by state",
                                  labels=["state"])
        for state, value in (("ivr", counts.ivr), ("queued", counts.queued),
                             ("talking", counts.talking)):
            calls.add_metric([state], value)
        yield calls
        now = s.clock()
        waiting = GaugeMetricFamily("ntpd_queue_waiting_calls", "Calls waiting, by queue",
                                    labels=["queue"])
        oldest = GaugeMetricFamily("ntpd_queue_oldest_wait_seconds",
                                   "Wait of the longest-waiting call, by queue",
                                   labels=["queue"])
        for queue, since in sorted(counts.queued_since.items()):
            waiting.add_metric([queue], len(since))
            oldest.add_metric([queue], max(0.0, now - min(since)))
        yield waiting
        yield oldest
        active, total = s.agi()
        yield GaugeMetricFamily("ntpd_fastagi_active_sessions", "FastAGI sessions in progress",
                                value=active)
        yield CounterMetricFamily("ntpd_fastagi_sessions", "FastAGI sessions since start",
                                  value=total)
        if s.agi_refused is not None:
            refused = CounterMetricFamily(
                "ntpd_fastagi_refused", "FastAGI connections and sessions refused since "
                "start: address not in agi.allow, no secret, a second session for a call",
                labels=["reason"])
            for reason, count in sorted(s.agi_refused().items()):
                refused.add_metric([reason], count)
            yield refused
        ami = s.ami()
        yield GaugeMetricFamily("ntpd_ami_connected", "1 while logged in to AMI",
                                value=1 if ami.get("connected") else 0)
        yield CounterMetricFamily("ntpd_ami_reconnects", "AMI logins after the first",
                                  value=max(0, int(ami.get("logins", 0)) - 1))
        records = s.records()
        yield GaugeMetricFamily("ntpd_spool_pending", "Call record updates in the spool "
                                "not yet in PostgreSQL", value=int(records.get("pending", 0)))
        loop = s.loop()
        lag = GaugeMetricFamily("ntpd_event_loop_lag_seconds",
                                "Event-loop lag over the last ~10 s", labels=["stat"])
        for stat in ("p50", "p99", "max"):
            lag_ms = loop.get(f"lag_ms_{stat}")
            if lag_ms is not None:
                lag.add_metric([stat], lag_ms / 1000)
        yield lag
        if s.live is not None:
            live = s.live()
            yield GaugeMetricFamily("ntpd_live_sockets", "Screens' live sockets open",
                                    value=int(live.get("sockets", 0)))
            yield CounterMetricFamily("ntpd_live_sockets_dropped", "Live sockets closed "
                                      "for slowness (queue full or a send stalled)",
                                      value=int(live.get("sockets_dropped", 0)))
            yield CounterMetricFamily("ntpd_live_messages_dropped", "Messages lost with "
                                      "the sockets closed for slowness",
                                      value=int(live.get("messages_dropped", 0)))
            yield CounterMetricFamily("ntpd_live_states_coalesced", "Whole states (the "
                                      "wall's) replaced by a newer one before their send",
                                      value=int(live.get("coalesced", 0)))
        if s.feed is not None:
            feed = s.feed()
            yield GaugeMetricFamily("ntpd_feed_pending", "Monitoring feed pushes not yet "
                                    "delivered", value=int(feed.get("pending", 0)))


class Metrics:
    """The registry, the answer-time histograms and the /metrics handler."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.answer_seconds = Histogram(
            "ntpd_answer_seconds", "Answer time of 112 calls, arrival to call-taker",
            buckets=ANSWER_BUCKETS, registry=self.registry)
        self.queue_wait_seconds = Histogram(
            "ntpd_queue_wait_seconds", "Wait in the queue of answered 112 calls",
            buckets=ANSWER_BUCKETS, registry=self.registry)

    def observe_answer(self, answer_seconds: float, queue_wait_seconds: float | None) -> None:
        self.answer_seconds.observe(answer_seconds)
        if queue_wait_seconds is not None:
            self.queue_wait_seconds.observe(queue_wait_seconds)

    def add_sources(self, sources: MetricSources) -> None:
        self.registry.register(StateCollector(sources))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def from_loopback(request: web.Request) -> bool:
    """A request from this host itself, not relayed: a reverse proxy on this host connects
    from loopback too, but says who it relays for (X-Forwarded-For, Forwarded)."""
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


async def metrics_view(request: web.Request) -> web.Response:
    secret = bearer_of(request)
    if secret is not None or not from_loopback(request):
        if not secret:
            return problem(401, "unauthenticated", "/metrics answers loopback, or a token: "
                                                   "Authorization: Bearer <token>")
        principal = await request.app[TOKENS].authenticate(secret)
        if principal is None:
            return problem(401, "bad-token", "unknown or revoked token")
        if not role_allows(principal.role, "supervisor"):
            return problem(403, "forbidden", f"role {principal.role} may not read metrics")
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application, metrics: Metrics) -> None:
    app[METRICS] = metrics
    app.router.add_get("/metrics", metrics_view, name="metrics")
