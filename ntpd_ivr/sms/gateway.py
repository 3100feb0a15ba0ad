"""Kannel's smsbox `sendsms` interface, as an asyncio client: one bounded GET per
message, with a dlr-url that names the message by its own token."""

from __future__ import annotations

import logging
import urllib.parse

import aiohttp

from ntpd_ivr.settings import SmsSettings
from ntpd_ivr.sms.model import DLR_MASK_ALL, SendResult, read_sendsms_reply

log = logging.getLogger(__name__)


def dlr_url(receiver_url: str, secret: str, token: str) -> str:
    """Where Kannel reports this message's delivery: %d is the report type, %A the
    SMSC's reply. The shared secret and the message's token both travel in it."""
    query = urllib.parse.urlencode({"key": secret, "token": token})
    return f"{receiver_url}/sms/dlr?{query}&type=%d&reply=%A"


class KannelGateway:
    """Sends through smsbox. `open()` before use, `close()` at shutdown."""

    def __init__(self, settings: SmsSettings, receiver_url: str) -> None:
        self.settings = settings
        self.receiver_url = receiver_url
        self.url = f"http://127.0.0.1:{settings.sendsms_port}/cgi-bin/sendsms"
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.settings.request_timeout_seconds)
            self._session = aiohttp.ClientSession(timeout=timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, to: str, sender: str, text: str, token: str) -> SendResult:
        """One attempt; never raises for a network fault (the result says it)."""
        await self.open()
        assert self._session is not None
        params = {
            "username": self.settings.sendsms_username,
            "password": self.settings.sendsms_password,
            "from": sender, "to": to, "text": text, "charset": "UTF-8",
            "dlr-mask": str(DLR_MASK_ALL),
            "dlr-url": dlr_url(self.receiver_url, self.settings.shared_secret, token),
        }
        try:
            async with self._session.get(self.url, params=params) as reply:
                body = await reply.text(errors="replace")
                return read_sendsms_reply(reply.status, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return SendResult(False, f"Kannel sendsms unreachable: {exc!r}"[:300])

    async def probe(self) -> tuple[bool, str]:
        """Is Kannel up: bearerbox's status.txt (its admin port) says running, with an
        smsbox and an SMSC online. (up, why not)."""
        await self.open()
        assert self._session is not None
        url = f"http://127.0.0.1:{self.settings.admin_port}/status.txt"
        try:
            async with self._session.get(
                    url, params={"password": self.settings.admin_password}) as reply:
                text = await reply.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return False, f"Kannel unreachable: {exc!r}"[:300]
        return kannel_status(text)


def kannel_status(text: str) -> tuple[bool, str]:
    """What bearerbox's status.txt says of our path to the SMSC."""
    if "Status: running" not in text:
        return False, "bearerbox not running"
    if "smsbox:" not in text:
        return False, "no smsbox connected to bearerbox"
    if "(online" not in text:
        return False, "no SMSC online"
    return True, ""
