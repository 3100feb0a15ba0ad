"""The real FastAgiServer on a free port, driven by a fake Asterisk (conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

import pytest

from ntpd_ivr.agi.channel import AgiChannel
from ntpd_ivr.agi.server import FastAgiServer
from ntpd_ivr.errors import AgiHangup, AgiProtocolError, AgiTimeout

from .conftest import SETTINGS, STEP, Dial, serving, until


async def test_commands_and_replies_round_trip(dial: Dial) -> None:
    seen: list[object] = []

    async def ivr(channel: AgiChannel) -> None:
        request = channel.request
        seen.append((request.script, request.args, request.uniqueid, request.caller_number,
                     request.headers["agi_network"]))
        await channel.answer()
        seen.append(await channel.stream_file("/prompts/menu", "123"))
        seen.append(await channel.stream_file("/prompts/intro"))
        seen.append(await channel.get_data("/prompts/menu", 4000, 3))
        seen.append(await channel.get_data("/prompts/menu", 4000, 1))
        seen.append(await channel.get_data("/prompts/menu", 4000, 1))
        await channel.set_variable("NTPD_NOTE", 'say "hi" \\ bye')
        seen.append(await channel.get_variable("NTPD_UNSET"))
        seen.append(await channel.get_variable("CALLERID(name)"))
        await channel.verbose("112 call", 2)
        seen.append(channel.hung_up)

    async with serving({"emergency-ivr": ivr}) as server:
        assert server.serving and server.port > 0
        asterisk = await dial(server.port, args=("id", "x y"))
        for command, reply in [
            ("ANSWER", "200 result=0"),
            ('STREAM FILE "/prompts/menu" "123"', "200 result=50 endpos=1234"),
            ('STREAM FILE "/prompts/intro" ""', "200 result=0 endpos=8000"),
            ('GET DATA "/prompts/menu" 4000 3', "200 result=12 (timeout)"),
            ('GET DATA "/prompts/menu" 4000 1', "200 result=1"),
            ('GET DATA "/prompts/menu" 4000 1', "200 result= (timeout)"),
            ('SET VARIABLE NTPD_NOTE "say \\"hi\\" \\\\ bye"', "200 result=1"),
            ("GET VARIABLE NTPD_UNSET", "200 result=0"),
            ("GET VARIABLE CALLERID(name)", "200 result=1 (Budi (rumah))"),
            ('VERBOSE "112 call" 2', "200 result=1"),
        ]:
            await asterisk.expect(command)
            asterisk.send(reply)
        await asterisk.closed()
        await until(lambda: server.active_sessions == 0)
        assert server.sessions_total == 1
    assert seen == [
        ("emergency-ivr", ("id", "x y"), "1732771200.1", "081234567890", "yes"),
        "2", "", ("12", True), ("1", False), ("", True), None, "Budi (rumah)", False,
    ]


async def test_set_variables_is_one_mset_unless_a_value_cannot_ride_in_it(dial: Dial) -> None:
    async def ivr(channel: AgiChannel) -> None:
        await channel.set_variables({"NTPD_DIGIT": "", "QUEUE_PRIO": "10",
                                     "NTPD_QUEUE": "takers-default"})
        # A comma would split MSet's argument, a quote or a space would be unquoted.
        await channel.set_variables({"NTPD_NOTE": "a,b", "NTPD_QUEUE": "takers-muba"})

    async with serving({"emergency-ivr": ivr}) as server:
        asterisk = await dial(server.port)
        for command, reply in [
            ('EXEC MSet "NTPD_DIGIT=,QUEUE_PRIO=10,NTPD_QUEUE=takers-default"', "200 result=0"),
            ('SET VARIABLE NTPD_NOTE "a,b"', "200 result=1"),
            ('SET VARIABLE NTPD_QUEUE "takers-muba"', "200 result=1"),
        ]:
            await asterisk.expect(command)
            asterisk.send(reply)
        await asterisk.closed()


async def test_hangup_mid_command_does_not_shift_replies(dial: Dial) -> None:
    seen: list[object] = []

    async def ivr(channel: AgiChannel) -> None:
        seen.append((await channel.get_variable("CALLERID(num)"), channel.hung_up))
        await channel.set_variable("NTPD_CATEGORY", "ambulance")
        seen.append(await channel.get_variable("NTPD_CATEGORY"))

    async with serving({"emergency-ivr": ivr}) as server:
        asterisk = await dial(server.port)
        await asterisk.expect("GET VARIABLE CALLERID(num)")
        asterisk.send("HANGUP", "200 result=1 (0812)")
        await asterisk.expect('SET VARIABLE NTPD_CATEGORY "ambulance"')
        asterisk.send("200 result=1")
        await asterisk.expect("GET VARIABLE NTPD_CATEGORY")
        asterisk.send("200 result=1 (ambulance)")
        await asterisk.closed()
    assert seen == [("0812", True), "ambulance"]


async def test_hangup_before_any_command_sets_hung_up(dial: Dial) -> None:
    seen: list[object] = []

    async def ivr(channel: AgiChannel) -> None:
        await asyncio.wait_for(channel.wait_hangup(), STEP)
        seen.append(channel.hung_up)
        seen.append(await channel.get_variable("CDR(duration)"))

    async with serving({"emergency-ivr": ivr}) as server:
        asterisk = await dial(server.port)
        asterisk.send("HANGUP")
        await asterisk.expect("GET VARIABLE CDR(duration)")
        asterisk.send("200 result=1 (7)")
        await asterisk.closed()
    assert seen == [True, "7"]


async def test_511_raises_hangup_and_dead_safe_commands_still_work(dial: Dial) -> None:
    seen: list[object] = []

    async def ivr(channel: AgiChannel) -> None:
        with pytest.raises(AgiHangup, match="511 Command Not Permitted"):
            await channel.stream_file("/prompts/menu", "12")
        seen.append(channel.hung_up)
        await channel.set_variable("NTPD_OUTCOME", "abandoned")
        seen.append("set")

    async with serving({"emergency-ivr": ivr}) as server:
        asterisk = await dial(server.port)
        await asterisk.expect('STREAM FILE "/prompts/menu" "12"')
        asterisk.send("511 Command Not Permitted on a dead channel or intercept routine")
        await asterisk.expect('SET VARIABLE NTPD_OUTCOME "abandoned"')
        asterisk.send("200 result=1")
        await asterisk.closed()
    assert seen == [True, "set"]


async def test_multi_line_520_raises_and_next_reply_is_in_step(dial: Dial) -> None:
    seen: list[object] = []

    async def ivr(channel: AgiChannel) -> None:
        with pytest.raises(AgiProtocolError, match="End of proper usage") as raised:
            await channel.command("GET DATA")
        seen.append("Usage: GET DATA" in str(raised.value))
        with pytest.raises(AgiProtocolError, match="510 Invalid or unknown command"):
            await channel.command("FROB")
        seen.append(await channel.get_variable("NTPD_REGION"))

    async with serving({"emergency-ivr": ivr}) as server:
        asterisk = await dial(server.port)
        await asterisk.expect("GET DATA")
        asterisk.send("520-Invalid command syntax.  Proper usage follows:",
                      " Usage: GET DATA <file> [timeout] [maxdigits]",
                      "",
                      " Stream the given file, and receive DTMF data.",
                      "520 End of proper usage.")
        await asterisk.expect("FROB")
        asterisk.send("510 Invalid or unknown command")
        await asterisk.expect("GET VARIABLE NTPD_REGION")
        asterisk.send("200 result=1 (sumsel)")
        await asterisk.closed()
    assert seen == [True, "sumsel"]


async def test_provisional_100_is_not_the_reply(dial: Dial) -> None:
    seen: list[object] = []

    async def ivr(channel: AgiChannel) -> None:
        seen.append((await channel.command("GOSUB sub-note s 1")).text)
        seen.append(await channel.get_variable("NTPD_NOTE"))

    async with serving({"emergency-ivr": ivr}) as server:
        asterisk = await dial(server.port)
        await asterisk.expect("GOSUB sub-note s 1")
        # res_agi.c announces a Gosub before running it, then sends the real reply.
        asterisk.send("100 result=0 Trying...", "200 result=0 Gosub complete")
        await asterisk.expect("GET VARIABLE NTPD_NOTE")
        asterisk.send("200 result=1 (ok)")
        await asterisk.closed()
    assert seen == ["200 result=0 Gosub complete", "ok"]


async def test_reply_timeout_poisons_the_session(dial: Dial) -> None:
    seen: list[object] = []
    timed_out, late_reply_sent = asyncio.Event(), asyncio.Event()

    async def ivr(channel: AgiChannel) -> None:
        with pytest.raises(AgiTimeout):
            await channel.get_variable("SLOW")
        timed_out.set()
        await late_reply_sent.wait()  # the late reply is in the socket before NEXT
        # A later command must not take the late reply as its own.
        with pytest.raises(AgiTimeout, match="earlier command timed out"):
            await channel.get_variable("NEXT")
        seen.append("done")

    async with serving({"emergency-ivr": ivr}, reply_timeout_seconds=0.2) as server:
        asterisk = await dial(server.port)
        await asterisk.expect("GET VARIABLE SLOW")
        await asyncio.wait_for(timed_out.wait(), STEP)
        asterisk.send("200 result=1 (late)")
        await asterisk.writer.drain()
        late_reply_sent.set()
        await asterisk.closed()
    assert seen == ["done"]


async def test_connection_closed_mid_command_raises_hangup(dial: Dial) -> None:
    seen: list[object] = []
    done = asyncio.Event()

    async def ivr(channel: AgiChannel) -> None:
        try:
            with pytest.raises(AgiHangup):
                await channel.stream_file("/prompts/menu")
            seen.append(channel.hung_up)
        finally:
            done.set()

    async with serving({"emergency-ivr": ivr}) as server:
        asterisk = await dial(server.port)
        await asterisk.expect('STREAM FILE "/prompts/menu" ""')
        await asterisk.close()
        await asyncio.wait_for(done.wait(), STEP)
    assert seen == [True]


async def test_unknown_script_closes_the_socket(
        dial: Dial, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ntpd_ivr")
    called: list[str] = []

    async def ivr(channel: AgiChannel) -> None:
        called.append(channel.request.uniqueid)

    async with serving({"emergency-ivr": ivr}) as server:
        asterisk = await dial(server.port, script="no-such-script", uniqueid="1732771200.9")
        await asterisk.closed()
    assert called == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].call_id == "1732771200.9"  # type: ignore[attr-defined]
    assert "no-such-script" in errors[0].getMessage()


async def test_handler_exception_closes_and_server_keeps_serving(
        dial: Dial, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ntpd_ivr")

    async def ivr(channel: AgiChannel) -> None:
        if channel.request.args == ("boom",):
            raise RuntimeError("bug in a handler")
        await channel.set_variable("NTPD_QUEUE", "takers-default")

    async with serving({"emergency-ivr": ivr}) as server:
        broken = await dial(server.port, uniqueid="1732771200.2", args=("boom",))
        await broken.closed()
        healthy = await dial(server.port, uniqueid="1732771200.3")
        await healthy.expect('SET VARIABLE NTPD_QUEUE "takers-default"')
        healthy.send("200 result=1")
        await healthy.closed()
        assert server.sessions_total == 2
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 1
    assert failures[0].call_id == "1732771200.2"  # type: ignore[attr-defined]
    assert failures[0].exc_info is not None
    assert isinstance(failures[0].exc_info[1], RuntimeError)


async def test_call_budget_expiry_closes_the_socket(
        dial: Dial, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ntpd_ivr")
    seen: list[str] = []

    async def stuck(channel: AgiChannel) -> None:
        try:
            await channel.get_variable("NEVER_ANSWERED")
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    loop = asyncio.get_running_loop()
    async with serving({"emergency-ivr": stuck}, call_budget_seconds=0.4,
                       reply_timeout_seconds=30.0) as server:
        started = loop.time()
        asterisk = await dial(server.port, uniqueid="1732771200.4")
        await asterisk.expect("GET VARIABLE NEVER_ANSWERED")
        # Generous, yet far below the 30 s reply timeout; the log line below says the
        # budget closed it, and timers never fire early.
        await asterisk.closed(within=15)
        elapsed = loop.time() - started
    assert elapsed >= 0.35
    assert seen == ["cancelled"]
    assert any("call budget" in r.getMessage() and r.call_id == "1732771200.4"  # type: ignore[attr-defined]
               for r in caplog.records)


async def test_clients_without_headers_do_not_delay_a_concurrent_call(
        dial: Dial, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ntpd_ivr")

    async def ivr(channel: AgiChannel) -> None:
        await channel.set_variable("NTPD_QUEUE", "takers-default")

    async with serving({"emergency-ivr": ivr}, header_timeout_seconds=120.0) as server:
        quitter = await dial(server.port, headers=False)
        await quitter.close()  # connects and closes before any header (panoramisk froze here)
        half = await dial(server.port, headers=False)
        half.send("agi_network: yes", "agi_network_script: emergency-ivr")
        await half.close()  # closes halfway through the headers
        silent = await dial(server.port, headers=False)  # connects and sends nothing
        await until(lambda: server.sessions_total == 3)  # the silent one is accepted
        call = await dial(server.port)
        await call.expect('SET VARIABLE NTPD_QUEUE "takers-default"')
        call.send("200 result=1")
        await call.closed()
        # The call was served while the silent client still waits out its header
        # timeout (120 s, beyond every wait here): nobody waited for the silent one.
        assert server.active_sessions == 1  # only the silent client is still pending
        await silent.close()
        await until(lambda: server.active_sessions == 0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("closed before sending its headers" in w for w in warnings) == 3


async def test_silent_client_is_closed_after_the_header_timeout(
        dial: Dial, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ntpd_ivr")
    loop = asyncio.get_running_loop()
    async with serving({}, header_timeout_seconds=0.3) as server:
        started = loop.time()
        silent = await dial(server.port, headers=False)
        await silent.closed(within=15)  # generous: the log line below says why it closed
        assert loop.time() - started >= 0.25
    assert any("no complete headers" in r.getMessage() for r in caplog.records)


VALID = b"agi_network: yes\nagi_network_script: emergency-ivr\nagi_uniqueid: 1732771200.5\n"


@pytest.mark.parametrize(
    "junk",
    [
        b"GET / HTTP/1.1\r\nHost: 112\r\n\r\n",
        # Valid headers but for their size: only the caps refuse them.
        VALID + b"".join(b"agi_arg_%d: x\n" % n for n in range(1, 400)) + b"\n",
        VALID + b"agi_callerid: " + b"9" * 70_000 + b"\n\n",
    ],
    ids=["http", "too-many-lines", "oversized-line"],
)
async def test_bad_headers_close_the_socket(dial: Dial, junk: bytes) -> None:
    called: list[str] = []

    async def ivr(channel: AgiChannel) -> None:
        called.append(channel.request.uniqueid)

    async with serving({"emergency-ivr": ivr}) as server:
        client = await dial(server.port, headers=False)
        client.writer.write(junk)
        with contextlib.suppress(ConnectionResetError):
            await client.closed()
    assert called == []


async def test_stop_drains_then_cancels(dial: Dial) -> None:
    seen: list[str] = []

    async def ivr(channel: AgiChannel) -> None:
        try:
            await channel.get_variable(channel.request.args[0])
            seen.append(f"finished {channel.request.args[0]}")
        except asyncio.CancelledError:
            seen.append(f"cancelled {channel.request.args[0]}")
            raise

    loop = asyncio.get_running_loop()
    server = FastAgiServer(dataclasses.replace(SETTINGS, shutdown_grace_seconds=0.5,
                                               reply_timeout_seconds=30.0),
                           {"emergency-ivr": ivr})
    await server.start()
    finishing = await dial(server.port, uniqueid="1.1", args=("FAST",))
    stuck = await dial(server.port, uniqueid="1.2", args=("STUCK",))
    await finishing.expect("GET VARIABLE FAST")
    await stuck.expect("GET VARIABLE STUCK")
    assert server.active_sessions == 2

    started = loop.time()
    stopping = asyncio.create_task(server.stop())
    await until(lambda: not server.serving)
    with pytest.raises(OSError):
        await dial(server.port)  # no longer accepting
    finishing.send("200 result=1 (x)")  # a live call still gets its replies during the drain
    await finishing.closed()
    assert seen == ["finished FAST"]
    await stuck.closed(within=15)  # cancelled at the 0.5 s grace, not at the 30 s timeout
    await stopping
    elapsed = loop.time() - started
    assert elapsed >= 0.45
    assert seen == ["finished FAST", "cancelled STUCK"]
    assert server.active_sessions == 0
