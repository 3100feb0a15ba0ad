"""The core every domain gets, and the shape of a domain: its plugin (docs/architecture.md).

In the manner of wazo-calld's `plugins/<domain>/plugin.py`: each domain package has a
`plugin.py` with `load(core) -> Plugin`. The core holds what every domain shares (settings,
database, AMI client, record keeper, live hub, the live routing config, audit trail, task
supervisor, bus, web users); a plugin returns what its domain adds (routes, AMI handlers,
start/stop, health, hub topics, AGI scripts). Domains talk through typed events on the bus
(ntpd_ivr/bus.py); a service another domain reads (whose call it is, the wall's takers) is
provided under a typed `Key` in the core's registry.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.agi.server import FastAgiServer
from ntpd_ivr.agi.server import Handler as AgiHandler
from ntpd_ivr.ami.client import AmiClient
from ntpd_ivr.ami.events import AmiEvent
from ntpd_ivr.audit.trail import AuditLog
from ntpd_ivr.background import Background
from ntpd_ivr.bus import Bus
from ntpd_ivr.calls.confirm import CallConfirmations
from ntpd_ivr.calls.keeper import RecordKeeper
from ntpd_ivr.calls.recorder import LOCAL
from ntpd_ivr.calls.repository import CallsRepository
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.looplag import LoopLagMonitor
from ntpd_ivr.routing.config import RoutingConfig, load_routing_config
from ntpd_ivr.routing.live import QueueMonitor
from ntpd_ivr.routing.reload import load_for_reload
from ntpd_ivr.settings import Settings
from ntpd_ivr.web.app import MapTiles, WebDeps
from ntpd_ivr.web.auth import ROLES, PasswordChecker, SecretKeys, UserStore
from ntpd_ivr.web.client import ProxyTrust
from ntpd_ivr.web.hub import DEFAULT_TOPICS, LiveHub
from ntpd_ivr.web.ratelimit import LoginLimiter, LoginLimits
from ntpd_ivr.web.sessions import DbSessionStore, Sessions

log = logging.getLogger(__name__)

T = TypeVar("T")


class Start:
    """When a plugin starts: today's order, kept (records first, so that the first call
    can be recorded; then what takes calls; then the screens). Equal phases start in the
    order of the plugin list (app.py)."""
    RECORDS = 0       # the record keeper: the first call must find it running
    STRIKES = 10      # the prank strike view, which the IVR's gate reads
    RECONCILE = 20    # the CDR reconciler's first pass
    AGI = 30          # FastAGI: calls come in from here on
    CONFIRM = 40      # FastAGI sessions confirmed against AMI (calls/confirm.py)
    AMI = 50
    PEER = 60         # the other node's AMI (two nodes)
    WEB = 70
    SERVICES = 80     # warnings, wall, callbacks, recordings: in the list's order
    LOOP = 90         # the loop-lag probe
    FEED = 100        # the monitoring feed, last


class Stop:
    """When a plugin stops: today's order, kept. Stop taking calls first (live FastAGI
    sessions drain), then the web, then what dials out, then AMI; records last but the
    feed, the database and the loop probe. Equal phases stop in the list's order."""
    AGI = 0
    WEB = 10
    OUTBOUND = 20     # dispatch, then warnings: they dial out through AMI
    SERVICES = 25
    AMI = 30
    PEER = 40
    RECONCILE = 50
    STRIKES = 60
    CONFIRM = 70
    RECORDS = 80      # waits for the spool (10 s at most)
    FEED = 90
    ENGINE = 100
    LOOP = 110


AmiEventHandler = Callable[[AmiEvent], Awaitable[None] | None]
AmiLoginHandler = Callable[[], Awaitable[None] | None]


@dataclass
class Plugin:
    """What a domain adds to the controller. Every field but the name is optional."""
    name: str
    # add_routes(app): its routes and the roles that may use each (web.app.protect);
    # a domain's errors (errors.Refusal) become their {"error", "reason"} reply.
    routes: Callable[[web.Application], None] | None = None
    # AMI events, in the order of the plugin list; a handler never waits unless it must
    # (an awaitable it returns is awaited before the next plugin sees the event).
    on_ami_event: AmiEventHandler | None = None
    # After each AMI (re)login; awaitables returned are awaited after every plugin's
    # handler has been called, so a long resync holds up no screen's.
    on_ami_login: AmiLoginHandler | None = None
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    start_phase: int = Start.SERVICES
    stop_phase: int = Stop.SERVICES
    # Shown in /health under `health_key` (the plugin's name by default).
    health: Callable[[], dict[str, Any]] | None = None
    health_key: str | None = None
    topics: Mapping[str, str] = field(default_factory=dict)  # hub topic -> least role
    agi_scripts: Mapping[str, AgiHandler] = field(default_factory=dict)


class Key(Generic[T]):
    """A typed name of a service in the core's registry (like aiohttp's AppKey)."""

    def __init__(self, name: str, kind: type[T] | None = None) -> None:
        self.name, self.kind = name, kind

    def __repr__(self) -> str:
        return f"<Key {self.name}>"


class Registry:
    """The services one domain provides for others to read (whose call it is, the wall's
    call-takers). Provided at load; read at load by later plugins, or at call time."""

    def __init__(self) -> None:
        self._items: dict[Key[Any], Any] = {}

    def provide(self, key: Key[T], value: T) -> None:
        self._items[key] = value

    def __getitem__(self, key: Key[T]) -> T:
        value: T = self._items[key]
        return value

    def get(self, key: Key[T]) -> T | None:
        return self._items.get(key)


class LiveRouting:
    """The one place that holds the running RoutingConfig. Everyone reads it through the
    getter (`core.routing()`); a SIGHUP reload replaces it here. A call in progress keeps
    the config it started with (ntpd_ivr/ivr/emergency.py)."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.ivr.routing_config
        self.current = (load_routing_config(self.path) if self.path
                        else RoutingConfig.minimal(settings.ivr.default_queue))

    def __call__(self) -> RoutingConfig:
        return self.current

    def reload(self) -> None:
        """The routing file again (ntpd_ivr/routing/reload.py); a bad file leaves the
        running config."""
        if self.path:
            self.current = load_for_reload(self.path, self.current)


@dataclass
class AmiFanOut:
    """AMI events and logins, handed to each plugin's handlers in the plugin list's order."""
    events: list[AmiEventHandler] = field(default_factory=list)
    logins: list[AmiLoginHandler] = field(default_factory=list)

    def on_event(self, event: AmiEvent, start: int = 0) -> Awaitable[None] | None:
        """Every handler from `start` on, in turn. All of them return None (they never
        wait) in the normal case, and so does this: no coroutine per AMI event (the AMI
        consumer awaits only what is returned). A handler that returns an awaitable is
        awaited before the next handler gets the event, as the order promises."""
        for index in range(start, len(self.events)):
            result = self.events[index](event)
            if result is not None:
                return self._then_the_rest(result, index + 1, event)
        return None

    async def _then_the_rest(self, pending: Awaitable[None], start: int,
                             event: AmiEvent) -> None:
        await pending
        rest = self.on_event(event, start)
        if rest is not None:
            await rest

    async def on_login(self) -> None:
        pending = [result for handler in self.logins if (result := handler()) is not None]
        for result in pending:
            await result


@dataclass
class Core:
    """What every plugin gets (`load(core)`)."""
    settings: Settings
    engine: AsyncEngine
    ami: AmiClient
    fanout: AmiFanOut
    records: RecordKeeper
    confirmations: CallConfirmations  # a FastAGI session's call must be one AMI shows
    hub: LiveHub
    routing: LiveRouting  # the getter: core.routing() is the running RoutingConfig
    queue_monitor: QueueMonitor  # live queue state, for the IVR and the warnings' pacing
    audit: AuditLog
    tasks: Background  # the task supervisor: every failed task is logged
    bus: Bus
    users: UserStore
    keys: SecretKeys
    loop_lag: LoopLagMonitor
    services: Registry = field(default_factory=Registry)
    agi_server: FastAgiServer | None = None  # built once the plugins gave their scripts

    @classmethod
    def build(cls, settings: Settings) -> Core:
        engine = make_engine(settings.database)
        records = RecordKeeper(settings.records, engine)
        fanout = AmiFanOut()
        ami = AmiClient(settings.ami, on_event=fanout.on_event, on_login=fanout.on_login)
        confirmations = CallConfirmations(records, settings.agi.confirm_seconds)
        confirmations.watch(LOCAL, ami)
        routing = LiveRouting(settings)
        users = UserStore(Path(settings.web.users_file) if settings.web.users_file else None)
        if not users.users:
            log.warning("no web users: nobody can log in (add one: ntpd-ivr user add)")
        return cls(
            settings=settings, engine=engine, ami=ami, fanout=fanout, records=records,
            confirmations=confirmations, hub=LiveHub(DEFAULT_TOPICS), routing=routing,
            queue_monitor=QueueMonitor(ami, config=routing), audit=AuditLog(engine),
            tasks=Background("controller"), bus=Bus(), users=users,
            keys=SecretKeys(settings.web.session_secret or secrets.token_urlsafe(32)),
            loop_lag=LoopLagMonitor())

    @property
    def agi(self) -> FastAgiServer:
        if self.agi_server is None:
            raise RuntimeError("the FastAGI server is built after the plugins are loaded")
        return self.agi_server

    def add(self, plugin: Plugin) -> None:
        """A loaded plugin's AMI handlers and hub topics."""
        if plugin.on_ami_event is not None:
            self.fanout.events.append(plugin.on_ami_event)
        if plugin.on_ami_login is not None:
            self.fanout.logins.append(plugin.on_ami_login)
        unknown = {role for role in plugin.topics.values() if role not in ROLES}
        if unknown:
            raise ValueError(f"plugin {plugin.name}: topic roles must be among {ROLES}")
        self.hub.topics.update(plugin.topics)


def core_plugins(core: Core, start_web: Callable[[], Awaitable[None]],
                 web_runner: web.AppRunner) -> list[Plugin]:
    """The core's own parts, started and stopped in their phases among the domains'."""
    async def start_confirmations() -> None:
        core.confirmations.start()

    async def start_loop_lag() -> None:
        core.loop_lag.start()

    async def stop_records() -> None:
        await core.records.stop(timeout=10.0)

    return [
        Plugin("records", start=core.records.start, start_phase=Start.RECORDS,
               stop=stop_records, stop_phase=Stop.RECORDS),
        Plugin("fastagi", start=core.agi.start, start_phase=Start.AGI,
               stop=core.agi.stop, stop_phase=Stop.AGI),
        Plugin("confirmations", start=start_confirmations, start_phase=Start.CONFIRM,
               stop=core.confirmations.stop, stop_phase=Stop.CONFIRM),
        # Tasks plugins spawned on the core's supervisor: cancelled once the web is down.
        Plugin("tasks", stop=core.tasks.stop, stop_phase=Stop.SERVICES),
        Plugin("ami", start=core.ami.start, start_phase=Start.AMI,
               stop=core.ami.stop, stop_phase=Stop.AMI),
        Plugin("web", start=start_web, start_phase=Start.WEB,
               stop=web_runner.cleanup, stop_phase=Stop.WEB),
        Plugin("database", stop=core.engine.dispose, stop_phase=Stop.ENGINE),
        Plugin("loop", start=start_loop_lag, start_phase=Start.LOOP,
               stop=core.loop_lag.stop, stop_phase=Stop.LOOP),
    ]


def health(core: Core, plugins: list[Plugin]) -> tuple[bool, dict[str, Any]]:
    """/healthz: 200 while calls can be taken (FastAGI serving); the core's parts, then
    each plugin's under its name."""
    agi = core.agi
    detail: dict[str, Any] = {
        "fastagi": {"serving": agi.serving, "host": core.settings.agi.host,
                    "port": agi.port, "active_sessions": agi.active_sessions},
        "ami": core.ami.state(),
        "records": core.records.state(),
        "loop": core.loop_lag.state(),
        "live": core.hub.state(),  # the screens' sockets, and those dropped for slowness
    }
    for plugin in plugins:
        if plugin.health is not None:
            detail[plugin.health_key or plugin.name] = plugin.health()
    healthy = agi.serving
    detail["status"] = "ok" if healthy and core.ami.connected else (
        "degraded" if healthy else "down")
    return healthy, detail


def web_deps(core: Core, health: Callable[[], tuple[bool, dict[str, Any]]]) -> WebDeps:
    """The web app's own parts: sessions in PostgreSQL, login limits, password checks off
    the loop (issue 19)."""
    settings = core.settings.web
    sessions = Sessions(DbSessionStore(core.engine), core.users, hours=settings.session_hours)
    core.hub.prefetch = sessions.prefetch  # the live sockets' rechecks: one query for all
    return WebDeps(
        health=health, users=core.users, keys=core.keys, sessions=sessions,
        recent_calls=CallsRepository(core.engine).recent, hub=core.hub,
        login_limiter=LoginLimiter(LoginLimits(
            per_user_address=settings.login_failures_per_user_address,
            per_address=settings.login_failures_per_address,
            window_seconds=settings.login_window_seconds,
            refusal_delay_seconds=settings.login_refusal_delay_seconds)),
        passwords=PasswordChecker(settings.login_hash_threads, settings.login_hash_queue),
        proxies=ProxyTrust.from_setting(settings.trusted_proxies), audit=core.audit,
        zone=lambda: core.routing().zone,  # times shown in the center's zone
        map_tiles=MapTiles(settings.map_tile_url, settings.map_tile_attribution))
