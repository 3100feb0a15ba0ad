"""The real web app on a free loopback port, with a real users file, for protocol tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ntpd_ivr.web.app import WebDeps, init
from ntpd_ivr.web.auth import SecretKeys, UserStore
from ntpd_ivr.web.hub import LiveHub
from ntpd_ivr.web.ratelimit import LoginLimiter, LoginLimits
from ntpd_ivr.web.sessions import MemorySessionStore, Sessions

CALL = {"uniqueid": "1795849770.0", "caller_number": "0811", "category": "ambulance"}
PASSWORDS = {"ani": "ani-password", "budi": "budi-password", "damkar": "damkar-password",
             "dinkes": "dinkes-password"}
# Agency users (role agency), each scoped to one agency of config/routing.example.toml.
AGENCY_USERS = {"damkar": "palembang-damkar", "dinkes": "palembang-dinkes"}
Client = TestClient[web.Request, web.Application]
Domains = tuple[Callable[[web.Application], None], ...]


class MemoryAudit:
    """The audit trail of a web app without a database: entries kept in a list."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str, str, dict[str, Any]]] = []

    async def write(self, actor: str, action: str, subject_type: str, subject_id: str,
                    detail: Mapping[str, Any]) -> None:
        self.entries.append((actor, action, subject_type, subject_id, dict(detail)))


async def recent_calls(limit: int) -> list[dict[str, Any]]:
    return [CALL] * min(limit, 3)


@contextlib.asynccontextmanager
async def serving_web(tmp_path: Path, *, hub: LiveHub | None = None,
                      limiter: LoginLimiter | None = None,
                      extend: Callable[[web.Application], None] | None = None,
                      domains: Callable[[UserStore, LiveHub], Domains] | None = None,
                      store: MemorySessionStore | None = None,
                      ) -> AsyncIterator[Client]:
    """`extend`: what the composition root adds to the app (a domain's add_routes); with
    it come the agency users. `domains`: the domains' add_routes, made from the users and
    the hub."""
    users = UserStore(tmp_path / "users.toml")
    users.put("ani", "calltaker", PASSWORDS["ani"], sip_endpoint="taker-1")
    users.put("budi", "supervisor", PASSWORDS["budi"])
    for name, agency in AGENCY_USERS.items() if extend is not None else ():
        users.put(name, "agency", PASSWORDS[name], agency)
    deps = WebDeps(health=lambda: (True, {"status": "ok"}), users=users,
                   keys=SecretKeys("test-secret"),
                   sessions=Sessions(store or MemorySessionStore(), users),
                   recent_calls=recent_calls,
                   hub=hub or LiveHub(),
                   login_limiter=limiter or LoginLimiter(LoginLimits(refusal_delay_seconds=0)),
                   audit=MemoryAudit())
    deps.hub.prefetch = deps.sessions.prefetch  # as the composition root (core.web_deps)
    app = init(deps, domains(users, deps.hub) if domains is not None else ())
    if extend is not None:
        extend(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def csrf_headers(client: Client) -> dict[str, str]:
    """What a page's script does: read the token for this browser's CSRF cookie."""
    reply = await client.get("/api/csrf")
    assert reply.status == 200
    return {"X-CSRF-Token": (await reply.json())["csrf_token"]}


async def log_in(client: Client, user: str) -> dict[str, str]:
    """Log in as `user` with JSON; returns the headers (new CSRF token) for later posts."""
    reply = await client.post("/login", json={"user": user, "password": PASSWORDS[user]},
                              headers=await csrf_headers(client))
    assert reply.status == 200, await reply.text()
    return {"X-CSRF-Token": (await reply.json())["csrf_token"]}
