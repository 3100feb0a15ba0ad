"""AmiClient against a small fake AMI server on a free port.

The fake speaks just enough of Asterisk's manager protocol: the banner, Login (closing the
session after a failed login, as Asterisk does), Ping, a CoreShowChannels list, an error
response, an action it never answers, pushed events, muted pings and dropped connections.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ntpd_ivr.ami.client import AmiClient
from ntpd_ivr.ami.events import (
    AgentConnect,
    AmiEvent,
    CoreShowChannel,
    FullyBooted,
    Hangup,
    Newchannel,
    QueueCallerJoin,
)
from ntpd_ivr.errors import AmiError
from ntpd_ivr.settings import AmiSettings
from tests.waiting import eventually

SECRET = "s3cret-do-not-log"
EOL = "\r\n"


def block(*lines: str) -> bytes:
    return (EOL.join(lines) + EOL + EOL).encode()


class FakeAmi:
    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.connections = 0
        self.login_attempts = 0
        self.mute_pings_on: set[int] = set()  # connection numbers that never get a Pong
        self.hold_logins_on: set[int] = set()  # connection numbers whose Login gets no answer
        self.actions: list[dict[str, str]] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(": ", 1) for line in raw.decode().split(EOL) if line)
                self.actions.append(fields)
                if not self._answer(fields, number, writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _answer(self, action: dict[str, str], number: int, writer: asyncio.StreamWriter) -> bool:
        name, action_id = action.get("Action", ""), action.get("ActionID", "")
        aid = f"ActionID: {action_id}"
        if name == "Login":
            self.login_attempts += 1
            if number in self.hold_logins_on:
                return True
            if action.get("Secret") != SECRET:
                writer.write(block("Response: Error", aid, "Message: Authentication failed"))
                return False  # Asterisk ends the session after a failed login
            writer.write(block("Response: Success", aid, "Message: Authentication accepted"))
            writer.write(block("Event: FullyBooted", "Privilege: system,all",
                               "Status: Fully Booted"))
        elif name == "Ping":
            if number not in self.mute_pings_on:
                writer.write(block("Response: Success", aid, "Ping: Pong",
                                   f"Timestamp: {time.time():.6f}"))
        elif name == "CoreShowChannels":
            writer.write(block("Response: Success", aid, "EventList: start",
                               "Message: Channels will follow"))
            for n in (1, 2):
                writer.write(block("Event: CoreShowChannel", aid, f"Channel: PJSIP/op-{n}",
                                   f"Uniqueid: 1.{n}", "Linkedid: 1.1", "CallerIDNum: 0812",
                                   "Context: from-operator", "Exten: 112",
                                   "Application: Queue", "Duration: 00:01:05"))
            writer.write(block("Event: CoreShowChannelsComplete", aid, "EventList: Complete",
                               "ListItems: 2"))
        elif name == "QueueAdd":
            writer.write(block("Response: Success", aid, "Message: Added interface to queue"))
        elif name == "Redirect":
            writer.write(block("Response: Error", aid, "Message: Channel specified does not exist"))
        elif name != "NeverAnswered":
            writer.write(block("Response: Success", aid, "Message: OK"))
        return True

    def push(self, *events: bytes) -> None:
        for writer in self.writers:
            if not writer.is_closing():
                writer.write(b"".join(events))

    def drop(self) -> None:
        for writer in self.writers:
            writer.transport.abort()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        self.drop()
        if self.server is not None:
            await self.server.wait_closed()
        await asyncio.sleep(0)  # let aborted transports finish closing


def settings(port: int, secret: str = SECRET, **overrides: float) -> AmiSettings:
    values = {"action_timeout_seconds": 0.5, "ping_interval_seconds": 0.1,
              "ping_timeout_seconds": 0.2, "reconnect_delay_seconds": 0.05, **overrides}
    return AmiSettings(host="127.0.0.1", port=port, username="ntpd-ivr", secret=secret,
                       **values)


async def past_reconnects(fake: FakeAmi, ami: AmiSettings) -> int:
    """An ordering barrier for "nothing reconnected": asyncio fires timers in deadline
    order, so after this sleep every reconnect timer the client could have armed has run;
    a probe connection then queues behind any connect such a timer started (the listening
    socket accepts in order). Returns the probe's connection number."""
    await asyncio.sleep(6 * ami.reconnect_delay_seconds)
    before = fake.connections
    _reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    try:
        await eventually(lambda: fake.connections > before)
    finally:
        writer.close()
        await writer.wait_closed()
    return fake.connections


class Recorder:
    def __init__(self) -> None:
        self.events: list[AmiEvent] = []
        self.logins = 0
        self.running = 0
        self.max_running = 0

    async def on_event(self, event: AmiEvent) -> None:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if isinstance(event, Newchannel):
                await asyncio.sleep(0.05)  # a slow handler must not let later events overtake
            if isinstance(event, Hangup) and event.cause == 99:
                raise RuntimeError("handler bug")
            self.events.append(event)
        finally:
            self.running -= 1

    async def on_login(self) -> None:
        self.logins += 1

    def of(self, kind: type[AmiEvent]) -> list[AmiEvent]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


ClientFactory = Callable[..., Awaitable[AmiClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    clients: list[AmiClient] = []

    async def make(ami: AmiSettings, recorder: Recorder | None = None) -> AmiClient:
        client = AmiClient(ami, on_event=recorder.on_event if recorder else None,
                           on_login=recorder.on_login if recorder else None)
        clients.append(client)
        await client.start()
        return client

    yield make
    for client in clients:
        await client.stop()


async def test_action_round_trip_and_list_action(fake: FakeAmi,
                                                 make_client: ClientFactory) -> None:
    client = await make_client(settings(fake.port))
    assert await client.wait_connected(2.0)

    answer = await client.action({"Action": "Setvar", "Variable": "X", "Value": "1"})
    assert (answer.response.response, answer.response.message) == ("Success", "OK")
    assert answer.events == ()
    sent = fake.actions[-1]
    assert (sent["Action"], sent["Variable"], sent["Value"]) == ("Setvar", "X", "1")

    items = await client.action({"Action": "CoreShowChannels"})
    parsed = items.events
    assert len(parsed) == 2 and all(isinstance(p, CoreShowChannel) for p in parsed)
    assert [p.uniqueid for p in parsed] == ["1.1", "1.2"]  # type: ignore[union-attr]
    assert parsed[0].duration_seconds == 65  # type: ignore[union-attr]

    # panoramisk 1.4 alone would wait forever here ("Added ... to queue" looks like a list).
    added = await client.action({"Action": "QueueAdd", "Queue": "q", "Interface": "PJSIP/t"})
    assert added.response.message == "Added interface to queue"


async def test_error_response_raises_with_asterisks_message(
        fake: FakeAmi, make_client: ClientFactory) -> None:
    client = await make_client(settings(fake.port))
    assert await client.wait_connected(2.0)
    with pytest.raises(AmiError, match="Channel specified does not exist"):
        await client.action({"Action": "Redirect", "Channel": "PJSIP/gone-1"})
    assert client.connected


async def test_action_times_out_when_never_answered(fake: FakeAmi,
                                                    make_client: ClientFactory) -> None:
    client = await make_client(settings(fake.port))
    assert await client.wait_connected(2.0)
    started = time.monotonic()
    # Timers never fire early, so the lower bound holds on any machine; "it ends at all"
    # is the generous asyncio.timeout, and which timeout applied is in the message.
    async with asyncio.timeout(15):
        with pytest.raises(AmiError, match=r"no answer within 0\.2s"):
            await client.action({"Action": "NeverAnswered"}, timeout=0.2)
    assert time.monotonic() - started > 0.15
    started = time.monotonic()
    async with asyncio.timeout(15):
        with pytest.raises(AmiError, match=r"no answer within 0\.5s"):  # the settings' default
            await client.action({"Action": "NeverAnswered"})
    assert time.monotonic() - started > 0.45
    assert client.connected  # a slow action is not a dead link
    assert (await client.action({"Action": "Ping"})).response.response == "Success"


async def test_start_returns_while_asterisk_is_down_and_actions_fail_fast(
        make_client: ClientFactory) -> None:
    probe = FakeAmi()
    await probe.start()
    port = probe.port
    await probe.close()  # nothing listens on `port` now

    # An action timeout far beyond the generous deadlines below: an action (or a start)
    # that waited for Asterisk instead of failing fast would overrun them.
    ami = settings(port, action_timeout_seconds=120.0)
    async with asyncio.timeout(15):  # start() returns though nothing listens
        client = await make_client(ami)
    assert not await client.wait_connected(0.2)
    async with asyncio.timeout(15):
        with pytest.raises(AmiError, match="not connected"):
            await client.action({"Action": "Ping"})
    assert client.state()["connected"] is False
    assert "cannot connect" in client.state()["last_error"]

    # Asterisk comes up later: the client finds it on its own.
    late = FakeAmi()
    await late.start(port)
    try:
        assert await client.wait_connected(3.0)
    finally:
        await client.stop()
        await late.close()


async def test_events_reach_on_event_typed_and_in_order(fake: FakeAmi,
                                                        make_client: ClientFactory) -> None:
    recorder = Recorder()
    client = await make_client(settings(fake.port), recorder)
    assert await client.wait_connected(2.0)
    fake.push(
        block("Event: Newchannel", "Privilege: call,all", "Timestamp: 1718000001.500000",
              "Channel: PJSIP/op-1", "CallerIDNum: 0812", "Context: from-operator",
              "Exten: 112", "Uniqueid: 1.1", "Linkedid: 1.1"),
        block("Event: QueueCallerJoin", "Channel: PJSIP/op-1", "CallerIDNum: 0812",
              "Uniqueid: 1.1", "Linkedid: 1.1", "Queue: q-ambulans", "Position: 1",
              "Count: 1"),
        block("Event: AgentConnect", "Channel: PJSIP/op-1", "Uniqueid: 1.1",
              "DestChannel: PJSIP/t7-1", "DestUniqueid: 1.2", "Queue: q-ambulans",
              "MemberName: Taker 07", "Interface: PJSIP/t7", "RingTime: 2", "HoldTime: 9"),
        block("Event: Hangup", "Channel: PJSIP/op-1", "Uniqueid: 1.1", "Linkedid: 1.1",
              "Cause: 16", "Cause-txt: Normal Clearing"),
    )
    await eventually(lambda: len(recorder.of(Hangup)) == 1)
    calls = [e for e in recorder.events if not isinstance(e, FullyBooted)]
    assert [type(e) for e in calls] == [Newchannel, QueueCallerJoin, AgentConnect, Hangup]
    assert calls[0].timestamp == 1718000001.5
    agent = calls[2]
    assert isinstance(agent, AgentConnect)
    assert (agent.dest_uniqueid, agent.hold_time, agent.ring_time) == ("1.2", 9, 2)
    assert recorder.max_running == 1  # one consumer, never two handlers at once
    assert recorder.of(FullyBooted)  # the login's FullyBooted came through as well
    assert client.state()["events_received"] >= 5


async def test_malformed_event_and_failing_handler_are_survived(
        fake: FakeAmi, make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    client = await make_client(settings(fake.port), recorder)
    assert await client.wait_connected(2.0)
    fake.push(
        block("Event: Hangup", "Channel: PJSIP/a-1", "Uniqueid: 2.1", "Linkedid: 2.1",
              "Cause: sixteen"),
        block("Event: Hangup", "Channel: PJSIP/b-1", "Uniqueid: 3.1", "Linkedid: 3.1",
              "Cause: 99"),  # the handler raises on this one
        block("Event: Hangup", "Channel: PJSIP/c-1", "Uniqueid: 4.1", "Linkedid: 4.1",
              "Cause: 16"),
    )
    await eventually(lambda: len(recorder.of(Hangup)) == 1)
    assert [e.uniqueid for e in recorder.of(Hangup)] == ["4.1"]  # type: ignore[attr-defined]
    assert client.state()["events_malformed"] == 1
    assert "handler failed" in caplog.text and "handler bug" in caplog.text
    assert client.connected
    assert (await client.action({"Action": "Ping"})).response.response == "Success"


async def test_dropped_connection_reconnects_and_runs_on_login_again(
        fake: FakeAmi, make_client: ClientFactory) -> None:
    recorder = Recorder()
    client = await make_client(settings(fake.port), recorder)
    await eventually(lambda: recorder.logins == 1)
    first_login = client.logged_in_at
    assert first_login is not None and client.lost_at is None
    pending = asyncio.create_task(client.action({"Action": "NeverAnswered"}, timeout=60.0))
    await eventually(lambda: any(a.get("Action") == "NeverAnswered" for a in fake.actions))

    fake.drop()
    async with asyncio.timeout(15):
        with pytest.raises(AmiError, match="connection lost"):
            await pending  # fails with the connection, not 60 s later
    await eventually(lambda: recorder.logins == 2)
    assert client.connected
    # When it was lost and logged in again (ntpd_ivr/peer/replay.py reads them).
    assert client.lost_at is not None and client.logged_in_at is not None
    assert first_login <= client.lost_at <= client.logged_in_at
    assert fake.connections == 2
    assert client.state()["logins"] == 2
    assert "connection lost" in client.state()["last_error"]
    assert (await client.action({"Action": "Ping"})).response.response == "Success"
    # panoramisk would replay the unanswered action after FullyBooted: it must not. The
    # Ping answered above and this one are the barrier: the fake records a session's
    # actions in order, so a replay sent after the login would sit before this Pong.
    assert (await client.action({"Action": "Ping"})).response.response == "Success"
    assert sum(a.get("Action") == "NeverAnswered" for a in fake.actions) == 1


async def test_watchdog_aborts_a_silent_connection_and_reconnects(
        fake: FakeAmi, make_client: ClientFactory) -> None:
    fake.mute_pings_on = {1}  # the first session goes quiet; the second one is healthy
    recorder = Recorder()
    # A Pong timeout that a loaded machine's loop lag cannot reach on the healthy session.
    client = await make_client(settings(fake.port, ping_timeout_seconds=1.0), recorder)
    await eventually(lambda: recorder.logins == 2)
    assert fake.connections == 2
    assert "no Pong within 1s" in client.state()["last_error"]
    assert client.connected
    # The healthy session is kept: ten more pings answered (five ping timeouts' worth),
    # and no churn.
    pings = sum(a.get("Action") == "Ping" for a in fake.actions)
    await eventually(lambda: sum(a.get("Action") == "Ping" for a in fake.actions) >= pings + 10)
    assert fake.connections == 2 and client.connected


async def test_unanswered_login_is_not_connected_then_aborted_and_retried(
        fake: FakeAmi, make_client: ClientFactory) -> None:
    fake.hold_logins_on = {1}
    recorder = Recorder()
    client = await make_client(settings(fake.port), recorder)
    await eventually(lambda: fake.login_attempts == 1)
    with pytest.raises(AmiError, match="not connected"):  # TCP is up, but no login yet
        await client.action({"Action": "Ping"})
    # Failed fast: still on the first session, which the login timeout has not aborted.
    assert fake.connections == 1 and "no login answer" not in (client.state()["last_error"] or "")
    assert [a["Action"] for a in fake.actions] == ["Login"]
    await eventually(lambda: recorder.logins == 1)
    assert fake.connections == 2
    assert client.state()["last_error"] == "no login answer within 0.5s"


async def test_wrong_secret_is_not_connected_and_says_why(
        fake: FakeAmi, make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    client = await make_client(settings(fake.port, secret="wrong-" + SECRET))
    await eventually(lambda: fake.login_attempts >= 2)  # it keeps retrying...
    await eventually(lambda: fake.login_attempts >= 10)
    # ...every reconnect delay, not in a loop: ten attempts took nine delays at least (a
    # loaded machine only stretches them).
    assert time.monotonic() - started >= 9 * 0.05
    assert not await client.wait_connected(0.1)
    state = client.state()
    assert state["connected"] is False and state["logins"] == 0
    assert state["last_error"] == "login rejected: Authentication failed"
    with pytest.raises(AmiError, match="login rejected"):
        await client.action({"Action": "Ping"})
    assert SECRET not in caplog.text


async def test_stop_ends_the_session_and_reconnects_no_more(
        fake: FakeAmi, make_client: ClientFactory) -> None:
    client = await make_client(settings(fake.port))
    assert await client.wait_connected(2.0)
    await client.stop()
    assert not client.connected
    assert await past_reconnects(fake, settings(fake.port)) == 2  # the probe: no reconnect
    with pytest.raises(AmiError):
        await client.action({"Action": "Ping"})


async def test_stop_while_connecting_leaves_no_errors_behind(fake: FakeAmi) -> None:
    loop = asyncio.get_running_loop()
    errors: list[str] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context["message"]))
    stopped: list[tuple[AmiClient, int]] = []
    try:
        for pause in (0.0, 0.001, 0.005):  # before, during and after the TCP handshake
            client = AmiClient(settings(fake.port))
            await client.start()
            await asyncio.sleep(pause)
            await client.stop()
            stopped.append((client, client.logins))
        connections = fake.connections
        probe = await past_reconnects(fake, settings(fake.port))
    finally:
        loop.set_exception_handler(None)
    assert errors == []
    assert probe == connections + 1  # nothing reconnected after its stop()
    for client, logins in stopped:  # and no connect in flight at stop() came alive later
        assert (client.connected, client.logins) == (False, logins)


async def test_a_login_answer_that_lands_after_stop_does_not_log_the_client_in(
        fake: FakeAmi) -> None:
    # panoramisk hands the Login answer to a done callback: one already scheduled when
    # stop() runs still arrives. A stopped client must stay stopped (an earlier probe saw
    # one flip back to "connected").
    fake.hold_logins_on.add(1)
    client = AmiClient(settings(fake.port))
    await client.start()
    await eventually(lambda: fake.login_attempts == 1, "the Login")
    await client.stop()
    client._login_result({"Response": "Success", "Message": "Authentication accepted"}, True)
    assert (client.connected, client.logins, client.logged_in_at) == (False, 0, None)
