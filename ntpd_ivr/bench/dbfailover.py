"""The PostgreSQL pair's faults for `make bench-failover` and the failover test: kill -9
the primary (Patroni and its whole PostgreSQL, as a power cut would), a planned
`patronictl switchover`; and a desk saving incidents in a loop through the screens' API
while it happens, retrying as the screen does (503 and Retry-After, or no answer), so that
what a call-taker saved during a failover can be counted afterwards: lost (a save that was
answered 201 and is not in the database), duplicated (one draft saved twice).

Only to 127.0.0.0/8, bounded in count and time."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from sqlalchemy import func, select

from ntpd_ivr.incidents.tables import Incident
from ntpd_ivr.stack.hastack import HaStack

# The screen's retry (ntpd_ivr/web/static/save-retry.js): every Retry-After seconds (the
# API says 2) or, with no answer at all, every this many seconds.
RETRY_S = 2.0
HTTP_TIMEOUT_S = 10.0
INCIDENT = {"region": "palembang", "category": "disaster", "kecamatan": "Ilir Barat I",
            "severity": "high"}


@dataclass
class Save:
    """One incident the desk typed and saved: its draft's marker, when the save began, and
    when (and as what) it was answered 201; every other answer it got on the way."""

    marker: str
    started_at: float
    saved_at: float | None = None
    incident_id: int | None = None
    answers: list[str] = field(default_factory=list)


class Desk:
    """A logged-in web client of one controller (the supervisor: a supervisor may do what
    a call-taker does), saving incidents as the desk's screen does."""

    def __init__(self, base: str, password: str) -> None:
        self.base, self.password = base, password
        self.http: aiohttp.ClientSession | None = None
        self.csrf = ""

    async def __aenter__(self) -> Desk:
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                          timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        try:
            async with self.http.get(f"{self.base}/api/csrf") as reply:
                token = (await reply.json())["csrf_token"]
            async with self.http.post(f"{self.base}/login", json={
                    "user": "supervisor", "password": self.password},
                    headers={"X-CSRF-Token": token}) as reply:
                if reply.status != 200:
                    raise RuntimeError(f"login as supervisor: {reply.status} "
                                       f"{await reply.text()}")
                self.csrf = (await reply.json())["csrf_token"]
        except BaseException:
            await self.http.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.close()

    async def save_incident(self, marker: str, *, within_s: float = 60.0) -> Save:
        """POST /api/incidents with `marker` as the description until it is answered 201,
        as the screen retries: after Retry-After on a 503, after RETRY_S with no answer.
        Any other answer ends the attempt (it is a refusal, not an outage)."""
        assert self.http is not None
        save = Save(marker, time.time())
        key = uuid.uuid4().hex   # the draft's key, as the screen sends it (one per draft)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            wait = RETRY_S
            try:
                async with self.http.post(f"{self.base}/api/incidents",
                                          json={**INCIDENT, "description": marker,
                                                "save_key": key},
                                          headers={"X-CSRF-Token": self.csrf}) as reply:
                    body: dict[str, Any] = await reply.json()
                    if reply.status == 201:
                        save.saved_at, save.incident_id = time.time(), int(body["id"])
                        return save
                    save.answers.append(f"{reply.status} {body.get('error', '')}")
                    if reply.status != 503:
                        return save
                    wait = float(reply.headers.get("Retry-After", RETRY_S))
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                save.answers.append(f"no answer: {type(exc).__name__}")
            await asyncio.sleep(wait)
        return save


def marker(tag: str) -> str:
    return f"bench-db-failover {tag} {uuid.uuid4().hex[:12]}"


class IncidentLoop:
    """A desk saving one incident after another (each retried until saved, as a screen
    does; a new one `every_s` after the last began) in a thread of its own, until
    stopped."""

    def __init__(self, base: str, password: str, tag: str, every_s: float = 1.0) -> None:
        self.base, self.password, self.tag, self.every_s = base, password, tag, every_s
        self.saves: list[Save] = []
        self.login_failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._error: BaseException | None = None

    def start(self) -> IncidentLoop:
        self._thread.start()
        return self

    async def _run(self) -> None:
        try:
            # A login that meets no answer (the controller down or saturated) is tried
            # again, as a screen's user would; the loop's saves then say what was missed.
            while not self._stop.is_set():
                try:
                    desk = await Desk(self.base, self.password).__aenter__()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.login_failures.append(f"{time.time():.1f} {exc!r}")
                    await asyncio.sleep(RETRY_S)
                    continue
                try:
                    while not self._stop.is_set():
                        began = time.monotonic()
                        self.saves.append(await desk.save_incident(marker(self.tag)))
                        await asyncio.sleep(
                            max(0.0, self.every_s - (time.monotonic() - began)))
                finally:
                    await desk.__aexit__(None, None, None)
        except BaseException as exc:  # reported by stop()
            self._error = exc

    def stop(self, timeout: float = 90.0) -> list[Save]:
        self._stop.set()
        self._thread.join(timeout)
        if self._error is not None:
            raise RuntimeError(f"incident loop: {self._error!r}") from self._error
        return self.saves


async def incidents_by_marker(settings_file: Path, markers: list[str]) -> dict[str, int]:
    """How many incidents each marker (description) has in the database."""
    from ntpd_ivr.db.session import make_engine
    from ntpd_ivr.settings import load_settings

    engine = make_engine(load_settings(settings_file).database)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(
                select(Incident.description, func.count()).where(
                    Incident.description.in_(markers)).group_by(Incident.description))).all()
    finally:
        await engine.dispose()
    found = {str(description): int(count) for description, count in rows}
    return {m: found.get(m, 0) for m in markers}


@dataclass(frozen=True)
class SavesCheck:
    saved: int            # answered 201
    unsaved: int          # never answered 201 within the bound (the screen still retrying)
    lost: int             # answered 201, not in the database
    duplicated: int       # in the database more than once
    refused: list[str]    # answers other than 201, 503 or no answer (should be none)
    # The fault -> the first save that had met the outage (503 or no answer) answered
    # 201: when a retrying screen got through again (no save met it: the first after it).
    back_after_s: float | None


def check_saves(saves: list[Save], found: dict[str, int], struck_at: float) -> SavesCheck:
    saved = [s for s in saves if s.saved_at is not None]
    after = sorted(s.saved_at for s in saved if s.saved_at is not None and s.answers
                   and s.saved_at >= struck_at) or sorted(
        s.saved_at for s in saved if s.saved_at is not None and s.saved_at >= struck_at)
    refused = [a for s in saves for a in s.answers
               if not a.startswith(("503", "no answer"))]
    return SavesCheck(len(saved), len(saves) - len(saved),
                      sum(1 for s in saved if found.get(s.marker, 0) == 0),
                      sum(1 for s in saves if found.get(s.marker, 0) > 1), refused,
                      (after[0] - struck_at) if after else None)


def desk_of(stack: HaStack, index: int = 0) -> tuple[str, str]:
    """A controller's web base URL and the supervisor's password."""
    node = stack.nodes[index]
    return f"http://127.0.0.1:{node.layout.web_port}", node.secrets["web_supervisor_password"]


@dataclass(frozen=True)
class DatabaseFault:
    """A PostgreSQL fault's own figures, beside the run's FailoverResult."""

    name: str
    promoted_s: float | None   # the fault -> the other node answers as primary
    saves: SavesCheck
    load_average: tuple[float, float, float]
    login_failures: int = 0   # the desk's logins that met no answer (controller away)

    def line(self) -> str:
        promoted = f"{self.promoted_s:.2f} s" if self.promoted_s is not None else "-"
        back = (f"{self.saves.back_after_s:.2f} s" if self.saves.back_after_s is not None
                else "never")
        one, five, fifteen = self.load_average
        return (f"{self.name}: promotion {promoted}; the desk's saves work again after "
                f"{back} (goal <= 15 s); incidents saved during the run {self.saves.saved}, "
                f"lost {self.saves.lost}, duplicated {self.saves.duplicated}, never saved "
                f"{self.saves.unsaved}, refused {len(self.saves.refused)} "
                f"{self.saves.refused[:3] if self.saves.refused else ''}; desk logins "
                f"without an answer {self.login_failures}; load average "
                f"{one:.1f} {five:.1f} {fifteen:.1f}")


# A fault as the failover bench takes it: (struck at, detected at, how), epoch seconds.
Struck = tuple[float, float, str]
R = TypeVar("R")


def database_runs(stack: HaStack, run: Callable[[str, Callable[[], Struck],
                                                 Callable[[], None], str], R],
                  *, tag: str, prefixes: tuple[str, str]) -> list[tuple[R, DatabaseFault]]:
    """kill -9 the primary, then a planned switchover, each a `run` of the failover bench
    (bench/failover.py: the same path-a load as the other faults, its records check) with a
    desk saving incidents in a loop throughout."""
    cluster = stack.postgres
    base, password = desk_of(stack, 0)
    outcomes: list[tuple[R, DatabaseFault]] = []
    old: list[int] = []
    struck: list[Struck] = []

    def kill_primary() -> Struck:
        leader = cluster.leader()
        if leader is None:
            raise RuntimeError("kill -9 the primary: no primary")
        old.append(leader)
        killed_at = cluster.kill_node(leader)
        cluster.wait_leader(60, not_index=leader)
        struck.append((killed_at, time.time(), "Patroni: the standby took the expired "
                                                "leader key and promoted itself"))
        return struck[-1]

    def primary_back() -> None:
        cluster.start_node(old[-1])
        cluster.wait_sync_standby(120)   # rewound, streaming, synchronous again

    def switchover() -> Struck:
        asked_at = time.time()
        cluster.switchover()
        struck.append((asked_at, time.time(), "patronictl switchover: the candidate leads"))
        return struck[-1]

    def standby_back() -> None:
        cluster.wait_sync_standby(120)

    for (name, fault, recover), prefix in zip((
            ("kill -9 the PostgreSQL primary", kill_primary, primary_back),
            ("patronictl switchover", switchover, standby_back)), prefixes, strict=True):
        cluster.wait_sync_standby(120)
        desk = IncidentLoop(base, password, f"{tag}-{len(outcomes)}").start()
        try:
            result = run(name, fault, recover, prefix)
        finally:
            saves = desk.stop()
        found = asyncio.run(incidents_by_marker(stack.nodes[0].layout.settings_file,
                                                [s.marker for s in saves]))
        struck_at, detected_at, _ = struck[-1]
        outcome = DatabaseFault(name, detected_at - struck_at,
                                check_saves(saves, found, struck_at), os.getloadavg(),
                                len(desk.login_failures))
        print(f"[bench-failover] {outcome.line()}", flush=True)
        outcomes.append((result, outcome))
    return outcomes
