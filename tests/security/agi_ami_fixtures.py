"""Helpers of the FastAGI and AMI attack tests: a forged FastAGI client (what any local
process, or any host that reaches the port, can send), the calls' rows by uniqueid, and
an AMI session with a given account."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ntpd_ivr.ami.client import AmiClient
from ntpd_ivr.calls.tables import Call
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.settings import AmiSettings, load_settings
from ntpd_ivr.stack.devstack import DevStack

Row = dict[str, Any]
SESSION_SECONDS = 20.0  # a forged session that outlasts this is a hang


@dataclass
class ForgedSession:
    """What the forged client saw: the commands the server sent, and whether the server
    closed the connection before asking anything."""

    commands: list[str] = field(default_factory=list)
    refused_at_once: bool = False


def forged_uniqueid() -> str:
    """A uniqueid no Asterisk made (Asterisk's are `<epoch>.<n>`)."""
    return f"{int(time.time())}.{random.randint(900_000, 999_999)}"


def _reply(command: str, secret: str | None) -> bytes:
    if command.startswith("GET VARIABLE NTPD_AGI_SECRET"):
        return (f"200 result=1 ({secret})\n" if secret is not None
                else "200 result=0\n").encode()
    if command.startswith("GET DATA"):
        return b"200 result=1\n"  # the caller "pressed" 1
    return b"200 result=0\n"


async def forge_session(stack: DevStack, *, uniqueid: str, caller: str,
                        source_ip: str = "127.0.0.1", secret: str | None = None,
                        trunk: str = "operator-b") -> ForgedSession:
    """Play Asterisk to the controller's FastAGI server: headers naming `uniqueid` and
    `caller`, then "200 result=..." to every command, until the server closes."""
    port = stack.layout.agi_port
    reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                   local_addr=(source_ip, 0))
    seen = ForgedSession()
    headers = {"agi_network": "yes", "agi_network_script": "emergency-ivr",
               "agi_request": f"agi://127.0.0.1:{port}/emergency-ivr",
               "agi_channel": f"PJSIP/{trunk}-0000ffff", "agi_language": "id",
               "agi_type": "PJSIP", "agi_uniqueid": uniqueid, "agi_callerid": caller,
               "agi_calleridname": "forged", "agi_context": "ntpd-emergency",
               "agi_extension": "s", "agi_priority": "14", "agi_arg_1": "112",
               "agi_arg_2": trunk, "agi_arg_3": "", "agi_arg_4": ""}
    try:
        writer.write("".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n")
        async with asyncio.timeout(SESSION_SECONDS):
            while True:
                try:
                    line = await reader.readline()
                except ConnectionError:
                    line = b""
                if not line:
                    seen.refused_at_once = not seen.commands
                    return seen
                command = line.decode().strip()
                seen.commands.append(command)
                writer.write(_reply(command, secret))
                await writer.drain()
    except ConnectionError:
        seen.refused_at_once = not seen.commands
        return seen
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def rows_by_uniqueid(stack: DevStack, uniqueids: Sequence[str]) -> list[Row]:
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Call.__table__).where(
                Call.uniqueid.in_(list(uniqueids))))).mappings().all()
        return [dict(row) for row in rows]
    finally:
        await engine.dispose()


def metric(stack: DevStack, name: str, labels: str = "") -> float:
    """One sample of the controller's /metrics (served to loopback without a token)."""
    url = f"http://127.0.0.1:{stack.layout.web_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


@contextlib.asynccontextmanager
async def ami_session(stack: DevStack, username: str, secret: str) -> AsyncIterator[AmiClient]:
    """An AMI session to the stack's Asterisk as `username`, logged in."""
    settings = load_settings(stack.layout.settings_file)
    client = AmiClient(AmiSettings(host=settings.ami.host, port=settings.ami.port,
                                   username=username, secret=secret))
    await client.start()
    try:
        assert await client.wait_connected(timeout=10), (
            f"AMI login as {username} failed: {client.last_error}")
        yield client
    finally:
        await client.stop()
