"""Server-side sessions, the client's address behind a proxy, and the bounded password
checks, with the in-memory store of our own."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from ntpd_ivr.web import auth
from ntpd_ivr.web.auth import HashingBusy, PasswordChecker, UserStore, hash_password
from ntpd_ivr.web.client import ProxyTrust
from ntpd_ivr.web.sessions import MemorySessionStore, Sessions
from tests.waiting import eventually


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def users(tmp_path: Path) -> UserStore:
    store = UserStore(tmp_path / "users.toml")
    store.put("ani", "supervisor", "ani-password")
    return store


async def test_a_session_lives_until_logout_and_stores_only_a_hash(users: UserStore) -> None:
    store = MemorySessionStore()
    sessions = Sessions(store, users)
    token = await sessions.open(users.users["ani"], "127.0.0.1")
    assert token not in store.rows and len(next(iter(store.rows))) == 64
    session = await sessions.resolve(token)
    assert session is not None and (session.user, session.role) == ("ani", "supervisor")
    assert await sessions.close(token, "127.0.0.1") == "ani"
    assert await sessions.resolve(token) is None  # at once, though it was cached
    assert [e.action for e in store.entries] == ["web.login", "web.logout"]


async def test_the_users_file_decides_at_each_request(users: UserStore, tmp_path: Path) -> None:
    sessions = Sessions(MemorySessionStore(), users, cache_seconds=60)
    token = await sessions.open(users.users["ani"], "127.0.0.1")
    other = UserStore(tmp_path / "users.toml")  # the CLI, in another process
    other.users["ani"] = dataclasses.replace(other.users["ani"], role="calltaker")
    other._save()
    session = await sessions.resolve(token)
    assert session is not None and session.role == "calltaker"
    other.put("ani", "calltaker", "a-new-password")  # a new password ends the session
    assert await sessions.resolve(token) is None
    token = await sessions.open(users.users["ani"], "127.0.0.1")
    assert await sessions.resolve(token) is not None
    other.remove("ani")
    assert await sessions.resolve(token) is None


async def test_sessions_expire(users: UserStore) -> None:
    clock = Clock()
    sessions = Sessions(MemorySessionStore(), users, hours=1, clock=clock)
    token = await sessions.open(users.users["ani"], "127.0.0.1")
    clock.now += 3599
    assert await sessions.resolve(token) is not None
    clock.now += 2
    assert await sessions.resolve(token) is None
    assert await sessions.resolve("never-issued") is None


async def test_a_failed_login_is_audited_with_what_was_typed_made_printable(
        users: UserStore) -> None:
    store = MemorySessionStore()
    await Sessions(store, users).login_failed("a\x00b" + "x" * 100, "127.0.0.9", "bad")
    (entry,) = store.entries
    assert entry.action == "web.login-failed" and entry.actor == "a?b" + "x" * 61
    assert entry.detail["address"] == "127.0.0.9"


def request(remote: str, headers: dict[str, str]) -> object:
    return make_mocked_request("GET", "/", headers=headers,
                               transport=_Transport(remote))


class _Transport:
    def __init__(self, remote: str) -> None:
        self.remote = remote

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": (self.remote, 40000)}.get(name, default)


@pytest.mark.parametrize(("remote", "headers", "address", "secure"), [
    ("127.0.0.9", {"X-Forwarded-For": "198.51.100.1"}, "127.0.0.9", False),  # untrusted
    ("127.0.0.9", {"X-Forwarded-Proto": "https"}, "127.0.0.9", False),
    ("127.0.0.2", {"X-Forwarded-For": "198.51.100.1"}, "198.51.100.1", False),
    # What the client wrote itself (left) is not believed; the proxy appended the right one.
    ("127.0.0.2", {"X-Forwarded-For": "6.6.6.6, 198.51.100.1"}, "198.51.100.1", False),
    ("127.0.0.2", {"X-Forwarded-For": "198.51.100.1, 127.0.0.3"}, "198.51.100.1", False),
    ("127.0.0.2", {"Forwarded": 'for="[2001:db8::1]:4711";proto=https'}, "2001:db8::1", True),
    ("127.0.0.2", {"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https"},
     "198.51.100.1", True),
    ("127.0.0.2", {}, "127.0.0.2", False),
    ("127.0.0.2", {"X-Forwarded-For": "garbage"}, "127.0.0.2", False),
])
def test_the_client_address_is_the_proxys_word_only_from_a_trusted_proxy(
        remote: str, headers: dict[str, str], address: str, secure: bool) -> None:
    trust = ProxyTrust.from_setting("127.0.0.2, 127.0.0.3")
    client = trust.client(request(remote, headers))  # type: ignore[arg-type]
    assert (client.address, client.secure) == (address, secure)


async def test_password_checks_run_off_the_loop_and_refuse_when_full(
        monkeypatch: pytest.MonkeyPatch) -> None:
    checker = PasswordChecker(threads=1, queue=1)
    stored = hash_password("right-password")
    release = threading.Event()
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def slow(password: str, hashed: str) -> bool:
        seen.append(threading.get_ident())
        release.wait(5)
        return password == "right-password"

    monkeypatch.setattr(auth, "verify_password", slow)
    try:
        running = asyncio.ensure_future(checker.verify("right-password", stored))
        queued = asyncio.ensure_future(checker.verify("wrong", stored))
        await eventually(lambda: seen, "the first check hashing")  # the second is queued
        with pytest.raises(HashingBusy):
            await checker.verify("third", stored)  # refused at once, nothing hashed
        release.set()
        assert await running is True and await queued is False
        assert await checker.verify("right-password", None) is False  # no such user
    finally:
        checker.close()
    assert seen and loop_thread not in seen


async def test_password_checks_run_at_a_lower_priority_than_the_loop() -> None:
    checker = PasswordChecker(threads=1, queue=0)
    niceness: list[int] = []

    def nice_of_this_thread() -> None:
        niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    try:
        await asyncio.get_running_loop().run_in_executor(checker._pool, nice_of_this_thread)
    finally:
        checker.close()
    assert niceness == [min(19, os.getpriority(os.PRIO_PROCESS, 0) + auth.HASH_THREAD_NICENESS)]
