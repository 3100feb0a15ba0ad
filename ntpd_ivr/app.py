"""The composition root: settings in, a running service out. No module-level state."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.agi.server import FastAgiServer, Handler
from ntpd_ivr.ami.client import AmiClient
from ntpd_ivr.ami.events import AmiEvent
from ntpd_ivr.api import http as api_http
from ntpd_ivr.api.tokens import TokenStore
from ntpd_ivr.audit.trail import AuditLog
from ntpd_ivr.callbacks import http as callbacks_http
from ntpd_ivr.callbacks.service import CallbackService
from ntpd_ivr.calls.confirm import AgiRecords, CallConfirmations
from ntpd_ivr.calls.keeper import RecordKeeper
from ntpd_ivr.calls.reconcile import Reconciler
from ntpd_ivr.calls.recorder import LOCAL, CallRecorder
from ntpd_ivr.calls.tracker import CallTracker
from ntpd_ivr.campaigns import http as warnings_http
from ntpd_ivr.campaigns.service import WarningService
from ntpd_ivr.db.models import Call
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.dispatch.service import ConnectDispatcher
from ntpd_ivr.feed.service import MonitoringFeed, report_figures
from ntpd_ivr.incidents.http import add_routes as add_incident_routes
from ntpd_ivr.incidents.rights import CallRights
from ntpd_ivr.incidents.service import IncidentService
from ntpd_ivr.ivr.emergency import EmergencyIvr
from ntpd_ivr.looplag import LoopLagMonitor
from ntpd_ivr.ops import metrics as ops_metrics
from ntpd_ivr.ops.sdnotify import SdNotifier
from ntpd_ivr.peer.feed import PeerFeed
from ntpd_ivr.peer.mirror import MirroredActions
from ntpd_ivr.prank import http as prank_http
from ntpd_ivr.prank.ivr import PrankGate
from ntpd_ivr.prank.service import PrankService
from ntpd_ivr.recordings import http as recordings_http
from ntpd_ivr.recordings.service import RecordingService
from ntpd_ivr.reports import http as reports_http
from ntpd_ivr.reports.grouped import taker_names
from ntpd_ivr.routing.config import RoutingConfig, load_routing_config
from ntpd_ivr.routing.live import QueueMonitor
from ntpd_ivr.routing.reload import load_for_reload, remove_pid_file, write_pid_file
from ntpd_ivr.settings import Settings
from ntpd_ivr.wall import http as wall_http
from ntpd_ivr.wall.model import TOPICS as WALL_TOPICS
from ntpd_ivr.wall.service import WallService
from ntpd_ivr.wall.store import WallStore
from ntpd_ivr.watchdog import LoopWatchdog
from ntpd_ivr.web.app import MapTiles, WebDeps
from ntpd_ivr.web.app import init as init_web
from ntpd_ivr.web.auth import PasswordChecker, SecretKeys, UserStore
from ntpd_ivr.web.client import ProxyTrust
from ntpd_ivr.web.hub import DEFAULT_TOPICS, LiveHub
from ntpd_ivr.web.ratelimit import LoginLimiter, LoginLimits
from ntpd_ivr.web.sessions import DbSessionStore, Sessions
from ntpd_ivr.workspace import http as workspace_http
from ntpd_ivr.workspace.model import TOPIC as WORKSPACE_TOPIC
from ntpd_ivr.workspace.model import TOPICS as WORKSPACE_TOPICS
from ntpd_ivr.workspace.service import WorkspaceService
from ntpd_ivr.workspace.store import DbStore

log = logging.getLogger(__name__)


def build_routes(ivr: Handler) -> dict[str, Handler]:
    """FastAGI script name -> handler. Every AGI() in dialplan/ must name one of these."""
    return {dp.SCRIPT_EMERGENCY_IVR: ivr}


class Service:
    """FastAGI IVR, AMI tracking, call records and the web app, started and stopped as one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database)
        self.records = RecordKeeper(settings.records, self.engine)
        self.tracker = CallTracker()
        self.reconciler = (Reconciler(Path(settings.records.cdr_csv), self.engine,
                                      self.records, self.tracker)
                           if settings.records.cdr_csv and self.engine is not None else None)
        self.routing = (load_routing_config(settings.ivr.routing_config)
                        if settings.ivr.routing_config
                        else RoutingConfig.minimal(settings.ivr.default_queue))
        # A FastAGI session's call must be one AMI shows (calls/confirm.py).
        self.confirmations = CallConfirmations(self.records, settings.agi.confirm_seconds)
        self.recorder = CallRecorder(self.records, self.tracker, self.reconciler,
                                     self.confirmations)
        self.ami = AmiClient(settings.ami, on_event=self._on_ami_event,
                             on_login=self._on_ami_login)
        self.confirmations.watch(LOCAL, self.ami)
        if self.reconciler is not None:
            self.confirmations.cdr_configured = True
            self.reconciler.on_cdr_read = self.confirmations.cdr_read
        self.queue_monitor = QueueMonitor(
            self.ami, timeout_seconds=self.routing.ivr.live_state_timeout_ms / 1000,
            cache_seconds=self.routing.ivr.live_state_cache_seconds)
        self.prank = PrankService(self.engine, lambda: self.routing, self.records)
        # The IVR's records never say who the caller is: AMI does (calls/confirm.py).
        self.ivr = EmergencyIvr(settings.ivr, AgiRecords(self.records), self.routing,
                                self.queue_monitor,
                                prank=PrankGate(self.prank, settings.ivr.prompts_dir))
        self.agi = FastAgiServer(settings.agi, build_routes(self.ivr),
                                 on_session=self.confirmations.session)
        users = UserStore(Path(settings.web.users_file) if settings.web.users_file else None)
        if not users.users:
            log.warning("no web users: nobody can log in (add one: ntpd-ivr user add)")
        keys = SecretKeys(settings.web.session_secret or secrets.token_urlsafe(32))
        # Call, queue and incident state is pushed to the screens through it.
        self.hub = LiveHub({**DEFAULT_TOPICS, **WORKSPACE_TOPICS, "incidents": "calltaker",
                            "dispatches": "agency", warnings_http.TOPIC: "supervisor",
                            **WALL_TOPICS})
        self.incidents = IncidentService(self.engine, lambda: self.routing,
                                         publish=self._incident_changed,
                                         on_disposition=self.prank.on_disposition)
        self.dispatcher = ConnectDispatcher(
            self.ami, self.incidents, lambda: self.routing, self.records.submit,
            self._dispatch_failed, prompts_dir=settings.ivr.prompts_dir)
        self.workspace = WorkspaceService(
            self.ami, DbStore(self.engine), users, self.hub,
            lambda: sorted({r.queue for r in self.routing.regions.values()}),
            wrapup_limit=lambda: self.routing.wrapup_limit_seconds,
            routing=lambda: self.routing)
        # The supervisor's wall, the callback list and the recordings (docs/supervisor.md).
        self.callbacks = CallbackService(self.engine, self.ami, settings.callbacks,
                                         changed=lambda: self.wall.changed())
        self.wall = WallService(
            self.ami, WallStore(self.engine), self.hub, settings.wall,
            known_takers=lambda: {u.sip_endpoint for u in users.users.values()
                                  if u.sip_endpoint},
            ami_connected=lambda: self.ami.connected, callbacks=self.callbacks.summary,
            on_call_ended=lambda _ended: self.callbacks.call_ended())
        self.peer = self._peer_feed() if settings.ami_peer.host else None
        self.recordings = RecordingService(settings.recordings, self.engine)
        audit = AuditLog(self.engine)
        web_deps = self._web_deps(users, keys, audit)
        web_app = init_web(web_deps, domains=(
            workspace_http.routes(self.workspace), prank_http.routes(self.prank),
            wall_http.routes(self.wall),
            callbacks_http.routes(self.callbacks, lambda: self.wall.state.takers.keys(),
                                  self.workspace.endpoint_of_user),
            recordings_http.routes(self.recordings, self.recent_calls)))
        add_incident_routes(web_app, self.incidents, connect=self.dispatcher.connect,
                            rights=CallRights(self.workspace.answered_by, audit))
        self._add_reports_api_metrics(web_app, users)
        # Public warning campaigns: outbound calls, paced behind the 112 queues.
        self.warnings = WarningService(
            settings.warnings, self.engine, self.ami, self.records, self.queue_monitor,
            publish=lambda kind, data: self.hub.publish(warnings_http.TOPIC, kind, data),
            watched_queues=lambda: {r.queue for r in self.routing.regions.values()})
        warnings_http.add_routes(web_app, self.warnings)
        self.web_runner = web.AppRunner(web_app, access_log=None)
        self._stopping = asyncio.Event()
        self.loop_lag = LoopLagMonitor()
        self.systemd = SdNotifier()  # READY and watchdog pings under systemd (Type=notify)

    def _web_deps(self, users: UserStore, keys: SecretKeys, audit: AuditLog) -> WebDeps:
        """Sessions in PostgreSQL, login limits, password checks off the loop (issue 19)."""
        web = self.settings.web
        return WebDeps(
            health=self.health, users=users, keys=keys,
            sessions=Sessions(DbSessionStore(self.engine), users, hours=web.session_hours),
            recent_calls=self.recent_calls, hub=self.hub,
            login_limiter=LoginLimiter(LoginLimits(
                per_user_address=web.login_failures_per_user_address,
                per_address=web.login_failures_per_address,
                window_seconds=web.login_window_seconds,
                refusal_delay_seconds=web.login_refusal_delay_seconds)),
            passwords=PasswordChecker(web.login_hash_threads, web.login_hash_queue),
            proxies=ProxyTrust.from_setting(web.trusted_proxies), audit=audit,
            zone=lambda: self.routing.zone,  # the center's zone: every shown time
            map_tiles=MapTiles(web.map_tile_url, web.map_tile_attribution))

    def _peer_feed(self) -> PeerFeed:
        """Two nodes: the other node's AMI for the wall and the screen pops only; each
        controller records its own node's calls (ntpd_ivr/peer/feed.py, docs/ha.md)."""
        def make_wall(ami: AmiClient, changed: Callable[[], None]) -> WallService:
            return WallService(ami, self.wall.store, self.hub, self.settings.wall,
                               known_takers=self.wall.known_takers,
                               ami_connected=lambda: ami.connected, on_change=changed)
        feed = PeerFeed(self.settings.ami_peer, self.ami, make_wall=make_wall,
                        on_screen_event=self.workspace.on_event, changed=self.wall.changed,
                        confirmations=self.confirmations)
        self.wall.peer = feed
        # The desk's presence changes (login, pause, wrap-up) on both nodes.
        mirrored = MirroredActions(self.ami, feed.ami, self.settings.ami_peer.name)
        self.workspace.ami = self.workspace.wrapups.ami = mirrored
        # A node back from an outage gets the presence changed meanwhile (docs/ha.md).
        self.workspace.before_resync = feed.presence.to_local
        return feed

    def _add_reports_api_metrics(self, web_app: web.Application, users: UserStore) -> None:
        """Reports, /api/v1 with its tokens, the monitoring feed, /metrics (issue 10)."""
        reports = reports_http.ReportSource(self.engine, lambda: self.routing,
                                            lambda: taker_names(users.users.values()))
        reports_http.add_routes(web_app, reports)
        self.feed = (MonitoringFeed(self.settings.feed, self.engine, report_figures(reports))
                     if self.settings.feed.url else None)
        api_http.add_routes(web_app, api_http.ApiDeps(self.engine, TokenStore(self.engine),
                                                      reports, self.feed))
        self.metrics = ops_metrics.Metrics()
        self.tracker.on_answer = self.metrics.observe_answer  # one observe per answer
        self.metrics.add_sources(ops_metrics.MetricSources(
            live_counts=self.tracker.live_counts,
            agi=lambda: (self.agi.active_sessions, self.agi.sessions_total),
            agi_refused=lambda: self.agi.refused,
            ami=self.ami.state, records=self.records.state,
            loop=lambda: self.loop_lag.state(),  # made after the web app; read at scrapes
            feed=self.feed.state if self.feed is not None else None))
        ops_metrics.add_routes(web_app, self.metrics)

    def _incident_changed(self, kind: str, data: Mapping[str, Any]) -> None:
        self.hub.publish("incidents", kind, data)
        if kind == "call.disposition":  # the call-taker's wrap-up ends
            self.workspace.on_disposition(data["call"])
        self.wall.incidents_changed()
        if kind.startswith("dispatch."):  # to that agency's screens alone
            self.hub.publish("dispatches", kind, data, agency=data["agency"])

    def _dispatch_failed(self, kind: str, data: Mapping[str, Any], user: str | None) -> None:
        self._incident_changed(kind, data)
        if user is not None:  # the call-taker who dispatched, on their own screen
            self.hub.publish(WORKSPACE_TOPIC, kind, data, user=user)

    async def _on_ami_event(self, event: AmiEvent) -> None:
        self.dispatcher.on_event(event)  # never waits: its work runs in tasks of its own
        await self.recorder.on_event(event)
        self.workspace.on_event(event)  # never waits: screen pops run in tasks of their own
        self.warnings.on_event(event)  # never waits
        self.prank.on_event(event)  # never waits: silent-call signals, strikes written behind
        self.wall.on_event(event)  # never waits either: a dict entry, and a timer at most
        self.callbacks.on_event(event)

    async def _on_ami_login(self) -> None:
        self.workspace.on_login()
        self.dispatcher.on_login()
        self.wall.on_login()
        await self.recorder.resync(self.ami)

    async def recent_calls(self, limit: int) -> list[dict[str, Any]]:
        """The latest calls for the web views, newest first; read-only."""
        table = Call.__table__
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(table).order_by(table.c.arrived_at.desc().nulls_last())
                                      .limit(limit))
            return [dict(row) for row in rows.mappings()]

    def health(self) -> tuple[bool, dict[str, Any]]:
        detail: dict[str, Any] = {
            "fastagi": {"serving": self.agi.serving, "host": self.settings.agi.host,
                        "port": self.agi.port, "active_sessions": self.agi.active_sessions},
            "ami": self.ami.state(),
            "records": self.records.state(),
            "loop": self.loop_lag.state(),
            "warnings": self.warnings.state(),
            "prank": self.prank.state(),
        }
        if self.peer is not None:  # the other node's AMI (screens only): not in the status
            detail["ami_peer"] = self.peer.ami.state()
        healthy = self.agi.serving
        detail["status"] = "ok" if healthy and self.ami.connected else (
            "degraded" if healthy else "down")
        return healthy, detail

    async def start(self) -> None:
        # Records first so the first call can be recorded; then calls; then the rest.
        await self.records.start()
        await self.prank.start()  # the strike view: unavailable (strike-free) if no database
        if self.reconciler is not None:
            self.reconciler.trigger()
        await self.agi.start()
        self.confirmations.start()
        await self.ami.start()
        if self.peer is not None:
            await self.peer.start()
        await self.start_web()
        await self.warnings.start()
        self.wall.start()
        self.callbacks.start()
        self.recordings.start()
        self.loop_lag.start()
        if self.feed is not None:
            self.feed.start()
        log.info("FastAGI on %s:%d, web on http://%s:%d, AMI to %s:%d, settings from %s",
                 self.settings.agi.host, self.agi.port, self.settings.web.host,
                 self.settings.web.port, self.settings.ami.host, self.settings.ami.port,
                 self.settings.source)

    async def start_web(self) -> None:
        await self.web_runner.setup()
        site = web.TCPSite(self.web_runner, self.settings.web.host, self.settings.web.port)
        await site.start()

    async def stop(self) -> None:
        # Stop taking calls first (live ones drain), then what follows them.
        await self.agi.stop()
        await self.web_runner.cleanup()
        await self.dispatcher.stop()
        await self.warnings.stop()
        await self.ami.stop()
        if self.peer is not None:
            await self.peer.stop()
        if self.reconciler is not None:
            await self.reconciler.stop()
        await self.prank.stop()
        await self.confirmations.stop()
        await self.records.stop(timeout=10.0)
        if self.feed is not None:
            await self.feed.stop()
        await self.engine.dispose()
        await self.loop_lag.stop()

    def request_stop(self) -> None:
        self._stopping.set()

    def reload_routing(self) -> None:
        """SIGHUP: the routing file again (ntpd_ivr/routing/reload.py). A bad file leaves
        the running config; calls in progress keep the config they started with."""
        if not self.settings.ivr.routing_config:
            return
        self.routing = load_for_reload(self.settings.ivr.routing_config, self.routing)
        self.ivr.routing = self.routing
        self.queue_monitor.timeout_seconds = self.routing.ivr.live_state_timeout_ms / 1000
        self.queue_monitor.cache_seconds = self.routing.ivr.live_state_cache_seconds

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload_routing)
        await self.start()
        write_pid_file(self.settings.service.pid_file)
        self.systemd.ready(f"FastAGI on port {self.agi.port}")  # Type=notify: started
        self.systemd.start_watchdog()
        watchdog = None
        if self.settings.agi.loop_stall_exit_seconds > 0:
            watchdog = LoopWatchdog(self.settings.agi.loop_stall_exit_seconds)
            watchdog.start()
        try:
            await self._stopping.wait()
        finally:
            log.info("stopping")
            self.systemd.stopping()
            await self.systemd.stop()
            if watchdog is not None:
                await watchdog.stop()
            remove_pid_file(self.settings.service.pid_file)
            await self.stop()
