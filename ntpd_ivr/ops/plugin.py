"""/metrics as a plugin: Prometheus figures of calls, FastAGI, AMI, records, the loop."""

from __future__ import annotations

from aiohttp import web

from ntpd_ivr.calls.events import CallAnswered
from ntpd_ivr.calls.plugin import TRACKER
from ntpd_ivr.core import Core, Plugin
from ntpd_ivr.feed.plugin import FEED
from ntpd_ivr.ops import metrics as ops_metrics


def load(core: Core) -> Plugin:
    metrics = ops_metrics.Metrics()
    core.bus.subscribe(CallAnswered, lambda e: metrics.observe_answer(
        e.answer_seconds, e.queue_wait_seconds))  # one observe per answer
    feed = core.services.get(FEED)
    # The FastAGI server and the loop probe are read at scrapes (the server is built
    # once every plugin gave its scripts).
    metrics.add_sources(ops_metrics.MetricSources(
        live_counts=core.services[TRACKER].live_counts,
        agi=lambda: (core.agi.active_sessions, core.agi.sessions_total),
        agi_refused=lambda: core.agi.refused,
        ami=core.ami.state, records=core.records.state, loop=lambda: core.loop_lag.state(),
        feed=feed.state if feed is not None else None, live=core.hub.state))

    def add_routes(app: web.Application) -> None:
        ops_metrics.add_routes(app, metrics)

    return Plugin("metrics", routes=add_routes)
