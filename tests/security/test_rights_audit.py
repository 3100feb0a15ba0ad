"""The audit trail (issue 19, item 3), against the live stack:

- the controller's own database role (the settings' `database.url`) can write audit
  entries but cannot change, remove or empty them;
- a recording downloaded with a Range request (not from byte 0) is audited;
- a supervisor's notice, and `ntpd-ivr user add|remove` (a role change too) run while the
  center runs, are audited.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ntpd_ivr.db.session import make_engine
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import DevStack
from ntpd_ivr.web.auth import UserStore
from tests.e2e.conftest import Controller, Takers, caller, dial, record

from .rights_fixtures import audit_since, last_audit_id, new_user, supervisor_desk

pytestmark = pytest.mark.e2e


async def test_the_controllers_database_role_cannot_change_or_remove_audit_entries(
        stack: DevStack, running_controller: Controller) -> None:
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        async with engine.begin() as conn:  # writing is what the controller must do
            probe = (await conn.execute(text(
                "INSERT INTO audit_events (at, actor, action, subject_type, subject_id) "
                "VALUES (:at, 'attacker', 'test.probe', 'test', 'probe') RETURNING id"),
                {"at": datetime.now(UTC)})).scalar_one()
        for attack in ("UPDATE audit_events SET actor = 'nobody' WHERE id = :id",
                       "DELETE FROM audit_events WHERE id = :id",
                       "TRUNCATE audit_events"):
            with pytest.raises(DBAPIError, match=r"permission denied|append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(attack), {"id": probe})
        async with engine.connect() as conn:
            actor = (await conn.execute(text("SELECT actor FROM audit_events WHERE id = :id"),
                                        {"id": probe})).scalar_one()
        assert actor == "attacker"
    finally:
        await engine.dispose()


async def test_a_recording_downloaded_with_a_range_is_audited(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    number = caller()
    await dial(stack, number, "1")
    row, _ = await record(stack, number)
    uniqueid = row["uniqueid"]
    path = Path(load_settings(stack.layout.settings_file).recordings.dir) / f"{uniqueid}.wav"
    deadline = time.monotonic() + 10
    while not (path.exists() and path.stat().st_size > 44):  # MixMonitor closes at hang-up
        assert time.monotonic() < deadline, f"no recording {path}"
        await asyncio.sleep(0.3)
    before = await last_audit_id(stack)
    async with supervisor_desk(stack) as spv:
        # Everything but the WAV header: the whole conversation, never from byte 0.
        async with spv.http.get(f"{spv.base}/recordings/{uniqueid}.wav",
                                headers={"Range": "bytes=44-"}) as reply:
            assert reply.status == 206, await reply.text()
            body = await reply.read()
    assert len(body) == path.stat().st_size - 44
    entries = await audit_since(stack, before, action="recording.played",
                                subject_id=uniqueid)
    assert [(e["actor"], e["detail"]) for e in entries] == [
        ("supervisor", {"range": "bytes=44-"})]


def user_cli(stack: DevStack, *args: str, password: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ntpd_ivr", "user", *args, "--by", "admin-ops",
         "--config", str(stack.layout.settings_file),
         *(["--password-stdin"] if password else [])],
        input=(password + "\n") if password else None, capture_output=True, text=True,
        timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_notices_and_user_changes_made_while_running_are_audited(
        stack: DevStack, running_controller: Controller) -> None:
    before = await last_audit_id(stack)
    async with supervisor_desk(stack) as spv:
        status, body = await spv.post("/api/notices", {"text": "banjir di Kec. Ilir Barat I"})
        assert status == 200, body
    name = new_user(stack, "audited", sip_endpoint="taker-2")  # actor cli:<login>
    await asyncio.to_thread(user_cli, stack, "add", name, "--role", "supervisor",
                            password="another-long-password")
    await asyncio.to_thread(user_cli, stack, "remove", name)
    assert name not in UserStore(Path(load_settings(stack.layout.settings_file)
                                      .web.users_file)).users
    notices = await audit_since(stack, before, action="notice.sent")
    assert [(n["actor"], n["detail"]["text"]) for n in notices] == [
        ("supervisor", "banjir di Kec. Ilir Barat I")]
    changes = await audit_since(stack, before, subject_type="user", subject_id=name)
    assert [(c["action"], c["actor"].startswith("cli:") or c["actor"]) for c in changes] == [
        ("user.added", True), ("user.role-changed", "admin-ops"),
        ("user.removed", "admin-ops")]
    assert changes[0]["detail"]["sip_endpoint"] == "taker-2"
    assert changes[1]["detail"]["before"]["role"] == "calltaker"
    assert changes[1]["detail"]["after"]["role"] == "supervisor"
    assert all("password_hash" not in str(c["detail"]) for c in changes)
