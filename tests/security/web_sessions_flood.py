"""The login flood of test_web_sessions_flood.py, run as its own process (so that its
clients do not share a CPU-bound event loop with the probe that measures the controller):
`python -m tests.security.web_sessions_flood PORT CLIENTS SECONDS [NET]`. Each client binds
its own loopback address (127.0.NET.N, NET 1 by default), takes a CSRF token, then posts
wrong passwords as fast as the answers come, for supervisor and for names it makes up (so
that limits per user name alone would not stop it). Prints the count of each status as
JSON."""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time

import aiohttp


async def client(port: int, source: str, deadline: float,
                 statuses: collections.Counter[str]) -> None:
    connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
    base = f"http://127.0.0.1:{port}"
    timeout = aiohttp.ClientTimeout(total=30)
    # unsafe=True: keep the CSRF cookie of a server named by its IP address.
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/api/csrf") as reply:
            token = (await reply.json())["csrf_token"]
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            try:
                async with http.post(f"{base}/login", headers={"X-CSRF-Token": token},
                                     json={"user": "supervisor" if attempt % 4 == 1
                                           else f"guess-{source}-{attempt}",
                                           "password": f"wrong-{source}-{attempt}"}) as reply:
                    await reply.read()
                    statuses[str(reply.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                statuses[type(exc).__name__] += 1


async def main(port: int, clients: int, seconds: float, net: int) -> None:
    statuses: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(client(port, f"127.0.{net}.{n + 1}", deadline, statuses)
                           for n in range(clients)))
    print(json.dumps(dict(statuses)))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]),
                     int(sys.argv[4]) if len(sys.argv) > 4 else 1))
