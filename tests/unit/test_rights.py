"""Call-takers' rights over calls (ntpd_ivr/incidents/rights.py), the workspace's record
of who answered, its endpoint -> users map following the users file, and the runtime
database role's grants. Fakes we own; the attacks on the live stack are in
tests/security/test_rights_*.py."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from ntpd_ivr.ami.events import AgentConnect
from ntpd_ivr.cli import main
from ntpd_ivr.db.migrate import runtime_grants
from ntpd_ivr.incidents.exceptions import AuditUnavailable, NotYourCall
from ntpd_ivr.incidents.rights import CallRights
from ntpd_ivr.web.auth import Session, UserStore
from ntpd_ivr.web.hub import LiveHub
from ntpd_ivr.workspace.model import TOPICS
from ntpd_ivr.workspace.service import USERS_CHECK_SECONDS, WorkspaceService
from tests.waiting import eventually
from tests.workspace_fakes import FakeQueues, FakeStore

from .test_workspace import called, watch


class Audit:
    def __init__(self, *, down: bool = False) -> None:
        self.entries: list[tuple[str, str, str, str, dict[str, Any]]] = []
        self.down = down

    async def write(self, actor: str, action: str, subject_type: str, subject_id: str,
                    detail: Mapping[str, Any]) -> None:
        if self.down:
            raise ConnectionRefusedError("database unreachable")
        self.entries.append((actor, action, subject_type, subject_id, dict(detail)))


def users_file(tmp_path: Path) -> UserStore:
    users = UserStore(tmp_path / "users.toml")
    users.put("ani", "calltaker", "ani-password", sip_endpoint="taker-1")
    users.put("ctone", "calltaker", "ctone-password", sip_endpoint="taker-2")
    users.put("nophone", "calltaker", "nophone-password")
    users.put("budi", "supervisor", "budi-password")
    return users


def session(user: str, role: str = "calltaker") -> Session:
    return Session(user, role, 2**40)


ANSWERED = {"1.1": "taker-1", "2.2": "taker-2"}


async def answered_by(uniqueid: str) -> str | None:
    return ANSWERED.get(uniqueid)


async def test_a_call_taker_acts_only_on_the_calls_their_phone_answered(
        tmp_path: Path) -> None:
    users, audit = users_file(tmp_path), Audit()
    rights = CallRights(answered_by, audit)
    access = await rights.check(users, session("ani"), "1.1", "disposition")
    assert (access.answered_by, access.override) == ("taker-1", False)
    with pytest.raises(NotYourCall, match="another call-taker's phone answered it"):
        await rights.check(users, session("ctone"), "1.1", "disposition")
    with pytest.raises(NotYourCall, match="no call-taker answered it"):
        await rights.check(users, session("ani"), "9.9", "connect-dispatch")
    with pytest.raises(NotYourCall, match="you have no sip_endpoint"):
        await rights.check(users, session("nophone"), "1.1", "incident")
    assert audit.entries == []  # own calls and refusals: no override to audit


async def test_a_supervisor_acts_on_anyones_call_and_it_is_audited(tmp_path: Path) -> None:
    users, audit = users_file(tmp_path), Audit()
    rights = CallRights(answered_by, audit)
    access = await rights.check(users, session("budi", "supervisor"), "1.1", "disposition")
    assert access.override and access.answered_by == "taker-1"
    assert audit.entries == [("budi", "call.override", "call", "1.1", {
        "action": "disposition", "answered_by": "taker-1", "answered_by_users": ["ani"],
        "role": "supervisor"})]
    with pytest.raises(AuditUnavailable):  # no entry, no action
        await CallRights(answered_by, Audit(down=True)).check(
            users, session("budi", "supervisor"), "1.1", "disposition")


async def test_rights_follow_the_users_file_not_the_session(tmp_path: Path) -> None:
    users, audit = users_file(tmp_path), Audit()
    rights = CallRights(answered_by, audit)
    # The session still says supervisor; the file says calltaker now (another process).
    UserStore(users.path).put("budi", "calltaker", "budi-password", sip_endpoint="taker-2")
    os.utime(users.path, ns=(1, 1))  # a stamp of its own, whatever the clock's resolution
    with pytest.raises(NotYourCall):
        await rights.check(users, session("budi", "supervisor"), "1.1", "disposition")
    assert (await rights.check(users, session("budi", "supervisor"), "2.2", "x")).override \
        is False  # taker-2 is budi's phone now
    UserStore(users.path).remove("ctone")
    os.utime(users.path, ns=(2, 2))
    with pytest.raises(NotYourCall, match="no longer in the users file"):
        await rights.check(users, session("ctone"), "2.2", "disposition")


@pytest.fixture
async def hub() -> AsyncIterator[LiveHub]:
    live = LiveHub(TOPICS)
    yield live
    await live.close_all()


async def test_the_workspace_knows_who_answered_from_ami_then_from_the_calls_row(
        tmp_path: Path, hub: LiveHub) -> None:
    store = FakeStore(rows={"3.3": {"uniqueid": "3.3", "answered_by": "taker-2"}})
    service = WorkspaceService(FakeQueues(), store, users_file(tmp_path), hub, lambda: ())
    # Nobody watches taker-9's screen: who answered is kept all the same.
    service.on_event(AgentConnect(name="AgentConnect", received_at=0.0, uniqueid="1.1",
                                  queue="q", interface="PJSIP/taker-9", member_name="taker-9",
                                  hold_time=1, ring_time=1, dest_uniqueid="1.2"))
    assert await service.answered_by("1.1") == "taker-9"
    assert await service.answered_by("3.3") == "taker-2"  # before a restart: the row
    assert await service.answered_by("4.4") is None
    # Ringing on one phone only (AgentCalled, its pop): that phone's call-taker may act.
    service.pops["taker-3"] = {"uniqueid": "5.5", "state": "ringing"}
    assert await service.answered_by("5.5") == "taker-3"
    service.pops["taker-4"] = {"uniqueid": "5.5", "state": "ringing"}
    assert await service.answered_by("5.5") is None  # offered to two: nobody's yet


async def test_a_user_added_while_running_gets_the_pops_from_a_second_later(
        tmp_path: Path, hub: LiveHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The users file is looked at from call-taker events at most once a second
    (USERS_CHECK_SECONDS), not at every event: a user added gets the pops after that."""
    clock = [500.0]
    monkeypatch.setattr("ntpd_ivr.web.auth.monotonic", lambda: clock[0])
    users = users_file(tmp_path)
    service = WorkspaceService(FakeQueues(), FakeStore(), users, hub, lambda: (),
                               lookup_seconds=0.1)
    service.users_of("taker-1")  # an event a moment before: the file was just looked at
    cttwo = watch(hub, "cttwo")
    # `ntpd-ivr user add cttwo --sip-endpoint taker-1`, another process, while it runs.
    UserStore(users.path).put("cttwo", "calltaker", "cttwo-password", sip_endpoint="taker-1")
    os.utime(users.path, ns=(3, 3))
    assert service.users_of("taker-1") == ("ani",), "looked at again within the second"
    clock[0] += USERS_CHECK_SECONDS
    service.on_event(called())
    await eventually(lambda: cttwo.sent, "the pop on cttwo's screen")
    assert [m["kind"] for m in cttwo.sent] == ["call.ringing"]
    assert service.users_of("taker-1") == ("ani", "cttwo")


def test_the_runtime_role_may_not_change_or_remove_audit_entries() -> None:
    grants = runtime_grants("ntpd_app")
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ntpd_app" \
        in grants
    revoke = next(g for g in grants if g.endswith("ON audit_events FROM ntpd_app"))
    assert grants.index(revoke) > 1 and "UPDATE, DELETE, TRUNCATE" in revoke
    with pytest.raises(ValueError):
        runtime_grants("x; DROP TABLE calls")


def test_user_commands_are_audited_without_a_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        cli_audit: list[tuple[str, str, str, str, dict[str, Any]]]) -> None:
    settings = tmp_path / "ntpd-ivr.toml"
    settings.write_text(f'[web]\nusers_file = "{tmp_path / "users.toml"}"\n'
                        '[ami]\nsecret = "x"\n'
                        '[database]\nurl = "postgresql+asyncpg://x@127.0.0.1/x"\n')
    config = ["--config", str(settings)]
    for role in ("calltaker", "supervisor"):
        monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
        assert main(["user", "add", "eko", "--role", role, "--sip-endpoint", "taker-1",
                     "--password-stdin", "--by", "ops", *config]) == 0
    assert main(["user", "remove", "eko", *config]) == 0
    assert main(["user", "remove", "eko", *config]) == 2  # no such user: nothing audited
    assert [(e[0].startswith("cli:") or e[0], e[1], e[3]) for e in cli_audit] == [
        ("ops", "user.added", "eko"), ("ops", "user.role-changed", "eko"),
        (True, "user.removed", "eko")]
    assert cli_audit[1][4]["before"]["role"] == "calltaker"
    assert cli_audit[1][4]["after"] == {"role": "supervisor", "agency": None,
                                        "sip_endpoint": "taker-1"}
    assert "scrypt" not in str(cli_audit) and "a-long-password" not in str(cli_audit)
