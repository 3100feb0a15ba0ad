"""The composition root: settings in, a running service out. No module-level state.

The core (ntpd_ivr/core.py) holds what every domain shares; each domain wires itself in
its `plugin.py` (`load(core) -> Plugin`), and the domains talk over the bus (ntpd_ivr/
bus.py). Adding a domain: one new package with its plugin.py, and one line in PLUGINS.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from ntpd_ivr.agi.server import FastAgiServer
from ntpd_ivr.alerts import plugin as alerts
from ntpd_ivr.api import plugin as api
from ntpd_ivr.callbacks import plugin as callbacks
from ntpd_ivr.calls import plugin as calls
from ntpd_ivr.campaigns import plugin as campaigns
from ntpd_ivr.core import Core, Plugin, core_plugins, health, web_deps
from ntpd_ivr.dispatch import plugin as dispatch
from ntpd_ivr.eido import plugin as eido
from ntpd_ivr.feed import plugin as feed
from ntpd_ivr.incidents import plugin as incidents
from ntpd_ivr.ivr import plugin as ivr
from ntpd_ivr.ivr.plugin import build_routes  # noqa: F401  (the dialplan contract's test)
from ntpd_ivr.location import plugin as location
from ntpd_ivr.ops import plugin as ops
from ntpd_ivr.ops.sdnotify import SdNotifier
from ntpd_ivr.peer import plugin as peer
from ntpd_ivr.prank import plugin as prank
from ntpd_ivr.recordings import plugin as recordings
from ntpd_ivr.reports import plugin as reports
from ntpd_ivr.routing.reload import remove_pid_file, write_pid_file
from ntpd_ivr.settings import Settings
from ntpd_ivr.sms import plugin as sms
from ntpd_ivr.texts import plugin as texts
from ntpd_ivr.transfer import plugin as transfer
from ntpd_ivr.wall import plugin as wall
from ntpd_ivr.watchdog import LoopWatchdog
from ntpd_ivr.web.app import init as init_web
from ntpd_ivr.workspace import plugin as workspace

log = logging.getLogger(__name__)

# Loaded in this order: a plugin may read what an earlier one provided. AMI events reach
# the plugins in this order too (dispatch first: it never waits; then the recorder, which
# waits; then the screens). Start and stop follow each plugin's phase (core.Start,
# core.Stop: today's order), and this order within a phase.
PLUGINS: tuple[Callable[[Core], Plugin], ...] = (
    incidents.load, dispatch.load, calls.load, workspace.load, campaigns.load, prank.load,
    ivr.load, wall.load, callbacks.load, peer.load, recordings.load, reports.load,
    feed.load, api.load, eido.load, ops.load, sms.load, location.load, texts.load,
    alerts.load, transfer.load)


class Service:
    """FastAGI IVR, AMI tracking, call records and the web app, started and stopped as one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.core = core = Core.build(settings)
        domains = []
        for load in PLUGINS:
            domains.append(plugin := load(core))
            core.add(plugin)
        scripts = {name: h for p in domains for name, h in p.agi_scripts.items()}
        core.agi_server = FastAgiServer(settings.agi, scripts,
                                        on_session=core.confirmations.session)
        web_app = init_web(web_deps(core, self.health),
                           domains=tuple(p.routes for p in domains if p.routes is not None))
        self.web_runner = web.AppRunner(web_app, access_log=None)
        self.domains = domains
        self.plugins = [*core_plugins(core, self.start_web, self.web_runner), *domains]
        self._stopping = asyncio.Event()
        self.systemd = SdNotifier()  # READY and watchdog pings under systemd (Type=notify)

    # What the tests and tools read: the core's parts and the domains' services.
    engine = property(lambda self: self.core.engine)
    hub = property(lambda self: self.core.hub)
    ami = property(lambda self: self.core.ami)
    routing = property(lambda self: self.core.routing())
    incidents = property(lambda self: self.core.services[incidents.INCIDENTS])
    dispatches = property(lambda self: self.core.services[dispatch.DISPATCHES])
    workspace = property(lambda self: self.core.services[workspace.WORKSPACE])
    warnings = property(lambda self: self.core.services[campaigns.WARNINGS])
    wall = property(lambda self: self.core.services[wall.WALL])
    peer = property(lambda self: self.core.services.get(peer.PEER))  # None: one node

    def _dispatch_failed(self, kind: str, data: Mapping[str, Any], user: str | None) -> None:
        """What the dispatcher does when a connect dispatch fails (the browser tests)."""
        self.core.services[dispatch.DISPATCHER].publish(kind, data, user)

    def health(self) -> tuple[bool, dict[str, Any]]:
        return health(self.core, self.domains)

    async def start(self) -> None:
        for plugin in sorted(self.plugins, key=lambda p: p.start_phase):  # stable
            if plugin.start is not None:
                await plugin.start()
        s = self.settings
        log.info("FastAGI on %s:%d, web on http://%s:%d, AMI to %s:%d, settings from %s",
                 s.agi.host, self.core.agi.port, s.web.host, s.web.port, s.ami.host,
                 s.ami.port, s.source)

    async def start_web(self) -> None:
        await self.web_runner.setup()
        site = web.TCPSite(self.web_runner, self.settings.web.host, self.settings.web.port)
        await site.start()

    async def stop(self) -> None:
        for plugin in sorted(self.plugins, key=lambda p: p.stop_phase):  # stable
            if plugin.stop is not None:
                await plugin.stop()

    def request_stop(self) -> None:
        self._stopping.set()

    def reload_routing(self) -> None:
        """SIGHUP: the routing file again (ntpd_ivr/routing/reload.py). A bad file leaves
        the running config; calls in progress keep the config they started with."""
        self.core.routing.reload()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload_routing)
        await self.start()
        write_pid_file(self.settings.service.pid_file)
        self.systemd.ready(f"FastAGI on port {self.core.agi.port}")  # Type=notify: started
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
