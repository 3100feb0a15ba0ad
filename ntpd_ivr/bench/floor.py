"""The bench's floor (path f, issue 26 item 2): the smallest FastAGI server that answers
the same IVR as the controller, so that the docs can say how far the controller is from
the protocol's own cost.

One asyncio server, nothing else: per session it reads Asterisk's headers, sends the
menu (GET DATA: the same prompt, one digit, the same timeout as the controller), then sets
the same variables in one round trip (EXEC MSet) from the bench menu's table, and closes.
No records, no routing config, no AMI, no log line per call, no secret check: every cost
the controller adds on top of that is the controller's. Run by `ntpd-ivr bench` in a
process of its own (`python -m ntpd_ivr.bench.floor PORT`), so that its CPU per call is
measured like the controller's, from /proc.

The dialplan ([ntpd-bench-floor], dialplan/ntpd-bench.conf) passes the prompt, the timeout
and the queue as arguments, as it does for the pyst2 path (c).
"""

from __future__ import annotations

import asyncio
import sys

# The bench menu of dialplan/ntpd-bench.conf ([ntpd-bench-menu]): digit -> category,
# priority, reason; anything else is unclassified.
MENU = {"1": ("ambulance", "10"), "2": ("fire", "10"), "3": ("police", "8"),
        "4": ("disaster", "8")}
READ_TIMEOUT = 30.0  # s: a reply from Asterisk, or the session ends (every read bounded)


def variables(digit: str, queue: str) -> str:
    """The MSet argument: NTPD_QUEUE last, as the controller sets it."""
    if digit in MENU:
        category, priority = MENU[digit]
        reason = "menu"
    else:
        category, priority = "unclassified", "5"
        reason = {"": "no-input", "0": "operator-requested"}.get(digit, "invalid-input")
    return (f"NTPD_DIGIT={digit},NTPD_CATEGORY={category},NTPD_ROUTE_REASON={reason},"
            f"QUEUE_PRIO={priority},NTPD_AGENCY=,NTPD_QUEUE={queue}")


def digit_of(reply: bytes) -> str:
    """'200 result=49 ...' -> '1'; a timeout (result=0) or an error -> ''."""
    try:
        code = int(reply.split(b"result=", 1)[1].split()[0])
    except (IndexError, ValueError):
        return ""
    return chr(code) if 0 < code < 128 else ""


async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        args: list[str] = []
        async with asyncio.timeout(READ_TIMEOUT):
            while (line := await reader.readline()).strip():
                if line.startswith(b"agi_arg_"):
                    args.append(line.split(b":", 1)[1].strip().decode())
        prompt, timeout_ms, queue = [*args, "", "3000", ""][:3]
        writer.write(f"GET DATA {prompt} {timeout_ms} 1\n".encode())
        async with asyncio.timeout(READ_TIMEOUT + int(timeout_ms) / 1000):
            digit = digit_of(await reader.readline())
        writer.write(f'EXEC MSet "{variables(digit, queue)}"\n'.encode())
        async with asyncio.timeout(READ_TIMEOUT):
            await reader.readline()
    except (TimeoutError, OSError):
        pass
    finally:
        writer.close()


async def serve(port: int) -> None:
    server = await asyncio.start_server(session, "127.0.0.1", port)
    async with server:
        print(f"floor FastAGI on 127.0.0.1:{port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
