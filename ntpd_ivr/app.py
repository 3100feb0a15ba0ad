"""The composition root: settings in, a running service out. No module-level state."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.agi.server import FastAgiServer, Handler
from ntpd_ivr.ami.client import AmiClient
from ntpd_ivr.ami.events import AmiEvent
from ntpd_ivr.callbacks import http as callbacks_http
from ntpd_ivr.callbacks.service import CallbackService
from ntpd_ivr.calls.keeper import RecordKeeper
from ntpd_ivr.calls.reconcile import Reconciler
from ntpd_ivr.calls.recorder import CallRecorder
from ntpd_ivr.calls.tracker import CallTracker
from ntpd_ivr.db.models import Call
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.incidents.http import add_routes as add_incident_routes
from ntpd_ivr.incidents.service import IncidentService
from ntpd_ivr.ivr.emergency import EmergencyIvr
from ntpd_ivr.looplag import LoopLagMonitor
from ntpd_ivr.recordings import http as recordings_http
from ntpd_ivr.recordings.service import RecordingService
from ntpd_ivr.routing.config import RoutingConfig, load_routing_config
from ntpd_ivr.routing.live import QueueMonitor
from ntpd_ivr.routing.reload import load_for_reload, remove_pid_file, write_pid_file
from ntpd_ivr.settings import Settings
from ntpd_ivr.wall import http as wall_http
from ntpd_ivr.wall.model import TOPICS as WALL_TOPICS
from ntpd_ivr.wall.service import WallService
from ntpd_ivr.wall.store import WallStore
from ntpd_ivr.watchdog import LoopWatchdog
from ntpd_ivr.web.app import WebDeps
from ntpd_ivr.web.app import init as init_web
from ntpd_ivr.web.auth import SessionSigner, UserStore
from ntpd_ivr.web.hub import DEFAULT_TOPICS, LiveHub
from ntpd_ivr.workspace import http as workspace_http
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
        self.recorder = CallRecorder(self.records, self.tracker, self.reconciler)
        self.ami = AmiClient(settings.ami, on_event=self._on_ami_event,
                             on_login=self._on_ami_login)
        self.queue_monitor = QueueMonitor(
            self.ami, timeout_seconds=self.routing.ivr.live_state_timeout_ms / 1000,
            cache_seconds=self.routing.ivr.live_state_cache_seconds)
        self.ivr = EmergencyIvr(settings.ivr, self.records, self.routing, self.queue_monitor)
        self.agi = FastAgiServer(settings.agi, build_routes(self.ivr))
        users = UserStore(Path(settings.web.users_file) if settings.web.users_file else None)
        if not users.users:
            log.warning("no web users: nobody can log in (add one: ntpd-ivr user add)")
        signer = SessionSigner(settings.web.session_secret or secrets.token_urlsafe(32))
        # Call, queue and incident state is pushed to the screens through it.
        self.hub = LiveHub({**DEFAULT_TOPICS, **WORKSPACE_TOPICS, "incidents": "calltaker",
                            "dispatches": "agency", **WALL_TOPICS})
        self.incidents = IncidentService(self.engine, lambda: self.routing,
                                         publish=self._incident_changed)
        self.workspace = WorkspaceService(
            self.ami, DbStore(self.engine), users, self.hub,
            lambda: sorted({r.queue for r in self.routing.regions.values()}))
        # The supervisor's wall, the callback list and the recordings (docs/supervisor.md).
        self.callbacks = CallbackService(self.engine, self.ami, settings.callbacks,
                                         changed=lambda: self.wall.changed())
        self.wall = WallService(
            self.ami, WallStore(self.engine), self.hub, settings.wall,
            known_takers=lambda: {u.sip_endpoint for u in users.users.values()
                                  if u.sip_endpoint},
            ami_connected=lambda: self.ami.connected, callbacks=self.callbacks.summary,
            on_call_ended=lambda _ended: self.callbacks.call_ended())
        self.recordings = RecordingService(settings.recordings, self.engine)
        web_deps = WebDeps(health=self.health, users=users, signer=signer,
                           recent_calls=self.recent_calls, hub=self.hub)
        web_app = init_web(web_deps, domains=(
            workspace_http.routes(self.workspace), wall_http.routes(self.wall),
            callbacks_http.routes(self.callbacks, lambda: self.wall.state.takers.keys(),
                                  self.workspace.endpoint_of_user),
            recordings_http.routes(self.recordings, self.recent_calls)))
        add_incident_routes(web_app, self.incidents)
        self.web_runner = web.AppRunner(web_app, access_log=None)
        self._stopping = asyncio.Event()
        self.loop_lag = LoopLagMonitor()

    def _incident_changed(self, kind: str, data: Mapping[str, Any]) -> None:
        self.hub.publish("incidents", kind, data)
        self.wall.incidents_changed()
        if kind.startswith("dispatch."):  # to that agency's screens alone
            self.hub.publish("dispatches", kind, data, agency=data["agency"])

    async def _on_ami_event(self, event: AmiEvent) -> None:
        await self.recorder.on_event(event)
        self.workspace.on_event(event)  # never waits: screen pops run in tasks of their own
        self.wall.on_event(event)  # never waits either: a dict entry, and a timer at most
        self.callbacks.on_event(event)

    async def _on_ami_login(self) -> None:
        self.workspace.on_login()
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
        }
        healthy = self.agi.serving
        detail["status"] = "ok" if healthy and self.ami.connected else (
            "degraded" if healthy else "down")
        return healthy, detail

    async def start(self) -> None:
        # Records first so the first call can be recorded; then calls; then the rest.
        await self.records.start()
        if self.reconciler is not None:
            self.reconciler.trigger()
        await self.agi.start()
        await self.ami.start()
        await self.start_web()
        self.wall.start()
        self.callbacks.start()
        self.recordings.start()
        self.loop_lag.start()
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
        await self.ami.stop()
        if self.reconciler is not None:
            await self.reconciler.stop()
        await self.records.stop(timeout=10.0)
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
        watchdog = None
        if self.settings.agi.loop_stall_exit_seconds > 0:
            watchdog = LoopWatchdog(self.settings.agi.loop_stall_exit_seconds)
            watchdog.start()
        try:
            await self._stopping.wait()
        finally:
            log.info("stopping")
            if watchdog is not None:
                await watchdog.stop()
            remove_pid_file(self.settings.service.pid_file)
            await self.stop()
