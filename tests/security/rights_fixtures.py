"""Helpers of the rights and audit attack tests: web users made with the real
`ntpd-ivr user add` while the controller runs, a logged-in desk (cookie and CSRF token),
and the stack's rows read back from PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import func, select

from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.stack.devstack import DevStack
from tests.e2e.test_prank import db_rows as rows  # read with the controller's settings
from tests.stack_fixtures import add_web_user

PASSWORD = "rights-test-password"


def new_user(stack: DevStack, prefix: str, *, role: str = "calltaker",
             sip_endpoint: str | None = None) -> str:
    """A web user of its own for this test (unique name), added while the controller
    runs, as an operator would: `ntpd-ivr user add ... --config`."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    add_web_user(stack, name, PASSWORD, role=role, sip_endpoint=sip_endpoint)
    return name


@dataclass
class Desk:
    http: aiohttp.ClientSession
    base: str
    csrf: str
    user: str

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.base}{path}", json=body,
                                  headers={"X-CSRF-Token": self.csrf}) as reply:
            assert reply.content_type == "application/json", await reply.text()
            return reply.status, await reply.json()


@contextlib.asynccontextmanager
async def desk(stack: DevStack, user: str, password: str = PASSWORD) -> AsyncIterator[Desk]:
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.get(f"{base}/api/csrf") as reply:
            token = (await reply.json())["csrf_token"]
        async with http.post(f"{base}/login", json={"user": user, "password": password},
                             headers={"X-CSRF-Token": token}) as reply:
            assert reply.status == 200, await reply.text()
            token = (await reply.json())["csrf_token"]
        yield Desk(http, base, token, user)


@contextlib.asynccontextmanager
async def supervisor_desk(stack: DevStack) -> AsyncIterator[Desk]:
    password = json.loads((stack.layout.run_dir / "secrets.json").read_text())[
        "web_supervisor_password"]
    async with desk(stack, "supervisor", password) as found:
        yield found


async def last_audit_id(stack: DevStack) -> int:
    (found,) = await rows(stack, select(func.coalesce(func.max(AuditEvent.id), 0)
                                        .label("id")))
    return int(found["id"])


async def audit_since(stack: DevStack, after: int, **where: str) -> list[dict[str, Any]]:
    """Audit entries written after entry `after`, oldest first, matching `where`
    (column = value)."""
    query = select(AuditEvent.__table__).where(AuditEvent.id > after)
    for column, value in where.items():
        query = query.where(AuditEvent.__table__.c[column] == value)
    return await rows(stack, query.order_by(AuditEvent.id))
