"""`ntpd-ivr token create|list|revoke` as an operator runs them, against a real
PostgreSQL: the secret is printed once and works, the list never shows it, a revoked
token stops working, bad input is refused with a clear message."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.api.tokens import TokenStore


async def ntpd_ivr(settings: Path, *args: str) -> tuple[int, str, str]:
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ntpd_ivr", "token", *args, "--config", str(settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(done.communicate(), 60)
    assert done.returncode is not None
    return done.returncode, out.decode(), err.decode()


async def test_create_list_revoke(db_engine: AsyncEngine, tmp_path: Path) -> None:
    async with db_engine.begin() as conn:
        await conn.execute(text("TRUNCATE api_tokens, audit_events RESTART IDENTITY"))
    settings = tmp_path / "ntpd-ivr.toml"
    url = db_engine.url.render_as_string(hide_password=False)
    settings.write_text(f'[database]\nurl = "{url}"\n[ami]\nsecret = "x"\n', encoding="utf-8")

    code, out, _ = await ntpd_ivr(settings, "create", "--role", "agency", "--agency",
                                  "palembang-damkar", "damkar-cad")
    assert code == 0
    secret = out.strip().splitlines()[-1]
    store = TokenStore(db_engine)
    principal = await store.authenticate(secret)
    assert principal is not None
    assert (principal.name, principal.role, principal.agency) == (
        "damkar-cad", "agency", "palembang-damkar")

    code, out, _ = await ntpd_ivr(settings, "list")
    assert code == 0 and "damkar-cad" in out and "active" in out and secret not in out

    code, _, err = await ntpd_ivr(settings, "create", "--role", "agency", "no-agency")
    assert code == 2 and "an agency user needs its agency" in err
    code, _, err = await ntpd_ivr(settings, "create", "--role", "supervisor", "Bad Name!")
    assert code == 2 and "use 1-64 of a-z 0-9" in err

    code, out, _ = await ntpd_ivr(settings, "revoke", "damkar-cad")
    assert code == 0 and "revoked token(s) 1" in out
    assert await store.authenticate(secret) is None
    code, out, _ = await ntpd_ivr(settings, "revoke", "damkar-cad")
    assert code == 1 and "no active token" in out
    code, out, _ = await ntpd_ivr(settings, "list")
    assert "revoked" in out
