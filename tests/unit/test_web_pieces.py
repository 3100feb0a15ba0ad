"""The web's shared pieces without a server: message catalogue, CSRF tokens, the login
rate limiter, and the hub's fairness with fake sockets of our own."""

import asyncio
import json
import string
from datetime import datetime

import pytest

from ntpd_ivr.i18n import catalogue as load_catalogue
from ntpd_ivr.web.app import _same_site_path
from ntpd_ivr.web.auth import SecretKeys, Session
from ntpd_ivr.web.csrf import CsrfGuard, CsrfRefused
from ntpd_ivr.web.hub import CommandError, Event, LiveHub, parse_command
from ntpd_ivr.web.i18n import DEFAULT_LANGUAGE, LANGUAGES
from ntpd_ivr.web.ratelimit import LoginLimiter, LoginLimits
from tests.waiting import eventually

MESSAGES = load_catalogue().by_language()
TAKER = Session("ani", "calltaker", 2**40)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_exists_in_every_language_with_the_same_placeholders() -> None:
    assert DEFAULT_LANGUAGE == "id" and set(MESSAGES) == set(LANGUAGES)
    reference = MESSAGES[DEFAULT_LANGUAGE]
    for lang, catalogue in MESSAGES.items():
        assert catalogue.keys() == reference.keys(), lang
        for key, text in catalogue.items():
            assert _fields(text) == _fields(reference[key]), (lang, key)


def test_csrf_tokens_are_bound_to_the_cookie_and_the_key() -> None:
    guard = CsrfGuard(SecretKeys("s1").derive("csrf"))
    token = guard.token_for("cookie-a")
    guard.check("cookie-a", token)
    with pytest.raises(CsrfRefused, match="does not match"):
        guard.check("cookie-b", token)
    with pytest.raises(CsrfRefused, match="does not match"):
        guard.check("cookie-a", CsrfGuard(SecretKeys("s2").derive("csrf"))
                    .token_for("cookie-a"))
    with pytest.raises(CsrfRefused, match="no CSRF token"):
        guard.check("cookie-a", None)
    with pytest.raises(CsrfRefused, match="no CSRF cookie"):
        guard.check("", token)
    assert SecretKeys("s1").derive("csrf") != SecretKeys("s1").derive("other")


@pytest.mark.parametrize(("target", "expected"), [
    ("/login", "/login"), ("/?a=1", "/?a=1"), ("//evil.example", "/"),
    ("https://evil.example/", "/"), ("javascript:alert(1)", "/"), ("", "/"),
])
def test_only_paths_on_this_site_are_followed(target: str, expected: str) -> None:
    assert _same_site_path(target) == expected


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_limiter_counts_per_user_and_address_and_per_address() -> None:
    clock = Clock()
    limiter = LoginLimiter(LoginLimits(per_user_address=3, per_address=5,
                                       window_seconds=60.0), clock=clock)
    for _ in range(3):  # one name from one address
        assert limiter.retry_after("ani", "127.0.0.1") is None
        limiter.failed("ani", "127.0.0.1")
        clock.now += 1
    assert limiter.retry_after("ani", "127.0.0.1") == 57  # the first failure, at 0, leaves at 60
    # Never locked out for everyone: the same name from elsewhere, another name from here.
    assert limiter.retry_after("ani", "127.0.0.9") is None
    assert limiter.retry_after("budi", "127.0.0.1") is None
    for name in ("x", "y"):  # five failures from one address, whatever the names
        limiter.failed(name, "127.0.0.1")
    assert limiter.retry_after("budi", "127.0.0.1") == 57
    clock.now += 61
    assert limiter.retry_after("ani", "127.0.0.1") is None
    assert limiter.retry_after("budi", "127.0.0.1") is None


def test_ipv6_addresses_count_per_64() -> None:
    limiter = LoginLimiter(LoginLimits(per_user_address=2, per_address=9), clock=Clock())
    limiter.failed("ani", "2001:db8::1")
    limiter.failed("ani", "2001:db8::2")
    assert limiter.retry_after("ani", "2001:db8::ffff") is not None
    assert limiter.retry_after("ani", "2001:db8:0:1::1") is None


def test_success_clears_the_pair_but_not_the_address() -> None:
    limiter = LoginLimiter(LoginLimits(per_user_address=2, per_address=3,
                                       window_seconds=60.0), clock=Clock())
    limiter.failed("ani", "127.0.0.1")
    limiter.succeeded("ani", "127.0.0.1")
    limiter.failed("ani", "127.0.0.1")
    assert limiter.retry_after("ani", "127.0.0.1") is None
    limiter.failed("budi", "127.0.0.1")
    assert limiter.retry_after("ani", "127.0.0.1") is not None  # the address's count


def test_limiter_memory_is_bounded() -> None:
    clock = Clock()
    limiter = LoginLimiter(LoginLimits(window_seconds=60.0, max_keys=10),
                           clock=clock)
    for n in range(100):
        limiter.failed(f"user{n}", f"127.0.{n}.1")
        assert len(limiter._failures) <= 10


@pytest.mark.parametrize(("text", "code"), [
    ("[]", "invalid-format"), ("nope", "invalid-json"), ('{"id": 0}', "invalid-format"),
    ('{"id": true, "type": "subscribe", "topic": "t"}', "invalid-format"),
    ('{"id": 4, "type": "publish", "topic": "t"}', "unknown-command"),
])
def test_commands_are_checked(text: str, code: str) -> None:
    with pytest.raises(CommandError) as refused:
        parse_command(text)
    assert refused.value.code == code


class FakeSocket:
    """A browser: `stalled` ones never finish a send, as one that stopped reading."""

    def __init__(self, stalled: bool = False) -> None:
        self.stalled = stalled
        self.sent: list[str] = []
        self.closed_with: int | None = None
        self.reading = asyncio.Event()  # set: a stalled one reads again

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if self.stalled:
            await self.reading.wait()
        self.sent.append(data)

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        self.closed_with = code
        return True


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_slow_socket_is_dropped_and_the_others_get_everything() -> None:
    hub = LiveHub(queue_size=4, send_timeout_seconds=30.0)
    fast, slow = FakeSocket(), FakeSocket(stalled=True)
    for socket in (fast, slow):
        hub.attach(socket, TAKER).topics.add("notices")
    for n in range(20):
        hub.publish("notices", "notice", {"n": n})
        await settle()
    assert len(fast.sent) == 20 and '"n": 19' in fast.sent[-1]
    assert slow.closed_with == 1008 and len(hub.clients) == 1
    # Counted: the socket, the 4 messages in its queue, the one its queue could not take
    # and the one whose send never ended.
    assert hub.state() == {"sockets": 1, "sockets_dropped": 1, "messages_dropped": 6,
                           "coalesced": 0}
    await hub.close_all()
    assert fast.closed_with == 1001 and not hub.clients
    assert hub.state()["sockets_dropped"] == 1  # a shutdown is no slowness


async def test_a_whole_state_replaces_the_one_still_queued_and_keeps_its_place() -> None:
    hub = LiveHub({"wall": "supervisor", "notices": "calltaker"}, queue_size=4,
                  send_timeout_seconds=30.0)
    wall = FakeSocket(stalled=True)
    client = hub.attach(wall, Session("sari", "supervisor", 2**40))
    client.topics.update({"wall", "notices"})
    hub.publish("wall", "state", {"n": 0}, latest=True)
    await settle()  # its send has begun (and stalls): the socket reads nothing for a while
    hub.publish("wall", "state", {"n": 1}, latest=True)
    hub.publish("notices", "notice", {"text": "between"})
    for n in range(2, 40):  # far more than the queue holds: none of them drops the wall
        hub.publish("wall", "state", {"n": n}, latest=True)
    wall.reading.set()
    await eventually(lambda: len(wall.sent) == 3, "the wall's three frames")
    assert [json.loads(t)["data"] for t in wall.sent] == [{"n": 0}, {"n": 39},
                                                          {"text": "between"}]
    assert client in hub.clients and wall.closed_with is None
    assert hub.state()["coalesced"] == 38 and hub.state()["sockets_dropped"] == 0
    await hub.close_all()


async def test_a_wall_that_holds_the_last_state_gets_the_changes_and_a_new_one_the_whole(
        ) -> None:
    hub = LiveHub({"wall": "supervisor"}, queue_size=8, send_timeout_seconds=30.0)
    old, slow = FakeSocket(), FakeSocket(stalled=True)
    for socket in (old, slow):
        hub.attach(socket, Session("sari", "supervisor", 2**40)).topics.add("wall")
    hub.publish_changes("wall", 1, {"n": 1}, {"d": 1})
    await settle()  # old has state 1; slow's send of it has begun, and stalls
    hub.publish_changes("wall", 2, {"n": 2}, {"d": 2})
    hub.publish_changes("wall", 3, {"n": 3}, {"d": 3})
    new = FakeSocket()
    newcomer = hub.attach(new, Session("budi", "supervisor", 2**40))
    newcomer.topics.add("wall")
    hub.publish_changes("wall", 4, {"n": 4}, {"d": 4})
    await eventually(lambda: len(old.sent) == 4 and len(new.sent) == 1, "the frames")
    frames = {name: [(json.loads(t)["kind"], json.loads(t)["data"]) for t in socket.sent]
              for name, socket in (("old", old), ("new", new))}
    assert frames == {
        "old": [("state", {"n": 1, "seq": 1}), ("changes", {"d": 2, "seq": 2}),
                ("changes", {"d": 3, "seq": 3}), ("changes", {"d": 4, "seq": 4})],
        "new": [("state", {"n": 4, "seq": 4})],  # it never had a state to change
    }
    slow.reading.set()  # slow held state 1 and was queued changes 2-4, in order
    await eventually(lambda: len(slow.sent) == 4, "the slow wall's four frames")
    assert [json.loads(t)["data"]["seq"] for t in slow.sent] == [1, 2, 3, 4]
    assert hub.state()["sockets_dropped"] == 0
    await hub.close_all()


async def test_a_whole_state_still_queued_is_replaced_by_the_next_whole_not_followed_by_changes(
        ) -> None:
    hub = LiveHub({"wall": "supervisor", "notices": "calltaker"}, queue_size=8,
                  send_timeout_seconds=30.0)
    busy = FakeSocket(stalled=True)
    client = hub.attach(busy, Session("sari", "supervisor", 2**40))
    client.topics.update({"notices", "wall"})
    hub.publish("notices", "notice", {"text": "first"})
    await settle()  # that send stalls: the wall's first state waits in the queue
    for seq in range(1, 6):
        hub.publish_changes("wall", seq, {"n": seq}, {"d": seq})
    busy.reading.set()
    await eventually(lambda: len(busy.sent) == 2, "the notice and one whole state")
    assert json.loads(busy.sent[1]) == {"type": "event", "topic": "wall", "kind": "state",
                                        "data": {"n": 5, "seq": 5}}
    hub.publish_changes("wall", 6, {"n": 6}, {"d": 6})  # now it holds 5: changes
    await eventually(lambda: len(busy.sent) == 3, "the changes after it")
    assert json.loads(busy.sent[2])["kind"] == "changes"
    # Subscribing again starts from a whole state.
    client.topics.discard("wall")
    hub.handle(client, json.dumps({"id": 1, "type": "subscribe", "topic": "wall"}))
    hub.publish_changes("wall", 7, {"n": 7}, {"d": 7})
    await eventually(lambda: len(busy.sent) == 5, "the result and a whole state")
    assert json.loads(busy.sent[4])["kind"] == "state"
    await hub.close_all()


async def test_a_wall_falling_behind_gets_one_whole_state_after_its_changes_not_dropped(
        ) -> None:
    hub = LiveHub({"wall": "supervisor"}, queue_size=8, send_timeout_seconds=30.0)
    wall = FakeSocket(stalled=True)
    client = hub.attach(wall, Session("sari", "supervisor", 2**40))
    client.topics.add("wall")
    hub.publish_changes("wall", 1, {"n": 1}, {"d": 1})
    await settle()  # its send stalls: the socket reads nothing for a while
    for seq in range(2, 40):  # far more than its queue holds
        hub.publish_changes("wall", seq, {"n": seq}, {"d": seq})
    wall.reading.set()
    await eventually(lambda: len(wall.sent) == 6, "the wall's frames")
    assert [(json.loads(t)["kind"], json.loads(t)["data"]["seq"]) for t in wall.sent] == [
        ("state", 1), ("changes", 2), ("changes", 3), ("changes", 4), ("changes", 5),
        ("state", 39)]  # changes until its queue was half full, then the newest whole
    assert client in hub.clients and hub.state()["sockets_dropped"] == 0
    await hub.close_all()


async def test_a_send_that_stalls_past_the_timeout_drops_the_socket() -> None:
    hub = LiveHub(queue_size=64, send_timeout_seconds=0.05)
    slow = FakeSocket(stalled=True)
    hub.attach(slow, TAKER).topics.add("notices")
    hub.publish("notices", "notice", {"n": 1})
    await eventually(lambda: slow.closed_with is not None, "the stalled socket dropped")
    assert slow.closed_with == 1008 and not hub.clients


def test_publishing_to_an_unknown_topic_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown topic"):
        LiveHub().publish("callz", "x", {})
    with pytest.raises(ValueError, match="topic roles"):
        LiveHub({"wall": "boss"})


def test_events_are_typed_json() -> None:
    text = Event("notices", "notice", {"text": "banjir", "at": datetime(2026, 1, 2)}).encode()
    assert json.loads(text) == {"type": "event", "topic": "notices", "kind": "notice",
                                "data": {"text": "banjir", "at": "2026-01-02 00:00:00"}}


async def test_a_real_client_that_reads_nothing_is_dropped_soon_and_the_other_gets_all() -> None:
    """Over real loopback TCP: the kernel would buffer megabytes for a client that reads
    nothing; the hub bounds its send buffer, so the stalled send drops it within seconds
    while a reading client on the same hub gets every frame."""
    import socket as sockets

    from aiohttp import ClientSession, web

    from ntpd_ivr.bench.screens import _frame

    hub = LiveHub(queue_size=64, send_timeout_seconds=0.5)
    app = web.Application()

    async def ws(request: web.Request) -> web.StreamResponse:
        return await hub.serve(request, TAKER)

    app.router.add_get("/ws", ws)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    silent = sockets.socket()
    silent.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)
    silent.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(silent, ("127.0.0.1", port))
        await loop.sock_sendall(silent, (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        assert b" 101 " in await loop.sock_recv(silent, 1024)  # then it reads nothing more
        await loop.sock_sendall(silent, _frame(json.dumps(
            {"id": 1, "type": "subscribe", "topic": "notices"})))
        async with ClientSession() as http, http.ws_connect(f"http://127.0.0.1:{port}/ws") as fast:
            await fast.send_str(json.dumps({"id": 1, "type": "subscribe", "topic": "notices"}))
            await fast.receive_str(timeout=5)
            await eventually(lambda: len(hub.clients) == 2 and all(
                "notices" in c.topics for c in hub.clients), "both subscribed")
            text = "x" * 8000
            got = 0
            for n in range(300):  # 2.4 MB: well under the 4 MB the kernel would take
                hub.publish("notices", "notice", {"n": n, "text": text})
                got += 1 if json.loads(await fast.receive_str(timeout=5))["data"]["n"] == n else 0
                await asyncio.sleep(0.005)
            assert got == 300  # the reading client missed nothing and waited for nothing
            await eventually(lambda: hub.sockets_dropped == 1, "the silent client dropped")
            assert len(hub.clients) == 1 and hub.messages_dropped >= 1
    finally:
        silent.close()
        await hub.close_all()
        await runner.cleanup()
