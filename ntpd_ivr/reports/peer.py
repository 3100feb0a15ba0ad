"""The calls another center took for one of our regions while we were dark (docs/ha.md,
"A second site"): read from that center's API, `GET /api/v1/calls?overflow_region=`, with a
token it gave us, and made into the same figures as our own report (`ntpd-ivr report
--from-peer URL --token-file F --region R`).

Read only: nothing is copied into our database (the second site's records stay its own).
The API lists at most 500 calls a request, newest first, so a longer period is read in
pages, each ending at the oldest arrival the last page had; the calls arriving at that very
instant are read on their own (a call listed twice is counted once, by its uniqueid)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ntpd_ivr.period import parse_time
from ntpd_ivr.reports.model import CallRow

PAGE = 500               # the API's largest limit (docs/api.md)
MAX_PAGES = 200          # 100,000 calls: past it the peer's answer is not believed
TIMEOUT_SECONDS = 15.0   # each request, whole


class PeerError(Exception):
    """The peer could not be read; the message says what to fix."""


def peer_base(url: str) -> str:
    """The peer's base URL (https://host:port, or http:// on loopback only for tests)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise PeerError(f"--from-peer {url!r}: not an http(s) URL")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise PeerError(f"--from-peer {url!r}: plain http only to loopback; use https")
    return url.rstrip("/")


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PeerError(f"--token-file {path}: {exc.strerror}") from None
    if not token:
        raise PeerError(f"--token-file {path}: empty")
    return token


def row_of(call: dict[str, Any], region: str) -> CallRow:
    """A listed call as a report row; its region is the one it was for (ours), not the
    peer's region that answered it."""
    def at(key: str) -> datetime | None:
        value = call.get(key)
        return parse_time(value) if value else None

    arrived = at("arrived_at")
    if arrived is None:
        raise PeerError(f"peer call {call.get('uniqueid')!r}: no arrived_at")
    return CallRow(arrived, at("answered_at"), call.get("disposition"), at("ended_at"),
                   call.get("category"), region)


async def overflow_rows(url: str, token: str, region: str, start: datetime,
                        end: datetime) -> list[CallRow]:
    """The voice calls the peer took for `region` that arrived in [start, end)."""
    base = peer_base(url)
    rows: dict[str, CallRow] = {}
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:

        async def page(since: datetime, until: datetime) -> list[dict[str, Any]]:
            calls = await _page(session, base, region, since, until)
            for call in calls:
                if call.get("medium", "voice") == "voice":
                    rows[str(call["uniqueid"])] = row_of(call, region)
            return calls

        upper = end
        for _ in range(MAX_PAGES):
            calls = await page(start, upper)
            if len(calls) < PAGE:
                return list(rows.values())
            # A full page: the next one ends at its oldest arrival, and the calls arriving
            # at that very instant (some may not have fitted) are read on their own.
            upper = min(parse_time(c["arrived_at"]) for c in calls)
            if len(await page(upper, upper + timedelta(microseconds=1))) >= PAGE:
                raise PeerError(f"{base}: {PAGE} calls or more arrived at {upper}")
    raise PeerError(f"{base}: more than {MAX_PAGES * PAGE} calls")


async def _page(session: aiohttp.ClientSession, base: str, region: str, since: datetime,
                until: datetime) -> list[dict[str, Any]]:
    """One request: the calls for `region` that arrived in [since, until), newest first."""
    query = {"overflow_region": region, "from": since.isoformat(), "to": until.isoformat(),
             "limit": str(PAGE)}
    try:
        async with session.get(f"{base}/api/v1/calls", params=query) as reply:
            status, text = reply.status, await reply.text()
    except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError) as exc:
        raise PeerError(f"{base}: {type(exc).__name__}: {exc}") from None
    body = _json(text)
    if status != 200:  # its error and reason (docs/api.md), else the start of the text
        detail = (f"{body.get('error')}: {body.get('reason')}"
                  if isinstance(body, dict) else text[:200])
        raise PeerError(f"{base}: HTTP {status}: {detail}")
    calls = body.get("calls") if isinstance(body, dict) else None
    if not isinstance(calls, list):
        raise PeerError(f"{base}: the reply has no calls list")
    return calls


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
