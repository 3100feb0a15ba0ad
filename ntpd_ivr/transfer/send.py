"""Sending a transfer, its first step (issue 23, item 2): our incident's EIDO POSTed to the
neighbour's `eido_url` with its token, and the Call-Info header that names what it answered.

The mirror of receive.py (docs/eido.md, "Sending a transfer"): the neighbour keeps the
document and answers 201 {"reference", "url"}; the transfer's INVITE then carries
`Call-Info: <url>;purpose=EmergencyCallData.eido`. Everything here is bounded, because a
caller waits while it runs:
- the whole exchange (connect, send, answer) within `seconds`;
- the document at most eido.model.MAX_EIDO_BYTES (the receiver's own bound), never sent
  when larger; the answer read to at most MAX_ANSWER_BYTES;
- no redirect followed (it could carry the token elsewhere), no proxy from the environment;
- the answer's url held to eido_url's rule (https://, or http:// to a loopback address),
  one line without the characters that end a SIP header value, its reference ours to read
  back (receive.reference_of), so what goes into the INVITE is only what we checked.
Each failure is an `EidoPostFailed` with a short `reason` (the desk's i18n key part) and a
`detail` for the log and the audit trail.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from ntpd_ivr.eido.model import MAX_EIDO_BYTES, to_json
from ntpd_ivr.transfer.config import Neighbour, url_problem
from ntpd_ivr.transfer.model import EIDO_REASONS, REFERENCE, reference_of

log = logging.getLogger(__name__)

CALL_INFO_PURPOSE = "EmergencyCallData.eido"
CONTENT_TYPE = "application/emergency.eido+json"
TIMEOUT_SECONDS = 5.0        # connect, send and answer, all of it
MAX_ANSWER_BYTES = 4096      # a 201's {"reference", "url"}, or a refusal's reason
MAX_URL_CHARS = 1024         # receive.py reads at most this much inside <...>
MAX_DETAIL_CHARS = 300
# Why a POST failed: the desk shows `desk.transfer.reason.<reason>` (i18n).
REASONS = EIDO_REASONS


class EidoPostFailed(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail[:MAX_DETAIL_CHARS]


@dataclass(frozen=True)
class Posted:
    """What the neighbour kept: its reference and the url for our INVITE's Call-Info."""

    reference: str
    url: str

    @property
    def call_info(self) -> str:
        return call_info(self.url)


def call_info(url: str) -> str:
    """The Call-Info header value naming a transfer's EIDO (RFC 7852 style)."""
    return f"<{url}>;purpose={CALL_INFO_PURPOSE}"


def _status_reason(status: int) -> str:
    if status in (401, 403):
        return "unauthorized"
    if status == 429:
        return "busy"
    if status >= 500:
        return "unavailable"
    if status == 413:
        return "too-large"
    return "refused"


def _their_reason(body: bytes) -> str:
    """The `reason` a refusal carries (receive.py's shape), one clean line, else ''."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    reason = data.get("reason") if isinstance(data, dict) else None
    if not isinstance(reason, str):
        return ""
    return "".join(c if c.isprintable() else " " for c in reason)[:200]


def read_answer(body: bytes) -> Posted:
    """A 201's body: {"reference": 32 hex digits, "url": a URL naming that reference}."""
    try:
        data = json.loads(body)
    except ValueError:
        raise EidoPostFailed("bad-answer", "the 201 is not JSON") from None
    if not isinstance(data, dict):
        raise EidoPostFailed("bad-answer", "the 201 is not a JSON object")
    reference, url = data.get("reference"), data.get("url")
    if not isinstance(reference, str) or not REFERENCE.match(reference):
        raise EidoPostFailed("bad-answer", "no reference of 32 hex digits in the 201")
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL_CHARS \
            or not url.isprintable() or any(c in url for c in ' <>,;"'):
        raise EidoPostFailed("bad-answer", "the 201's url cannot go into a SIP header")
    problem = url_problem(url)
    if problem is not None:
        raise EidoPostFailed("bad-answer", f"the 201's url: {problem}")
    if reference_of(call_info(url)) != reference:
        raise EidoPostFailed("bad-answer", "the 201's url does not end in its reference")
    return Posted(reference, url)


async def post_eido(session: aiohttp.ClientSession, neighbour: Neighbour,
                    document: Mapping[str, Any], *,
                    seconds: float = TIMEOUT_SECONDS) -> Posted:
    """POST `document` to `neighbour` and return what it kept, or raise EidoPostFailed."""
    body = to_json(document).encode("utf-8")
    if len(body) > MAX_EIDO_BYTES:
        raise EidoPostFailed("too-large", f"the EIDO is {len(body)} bytes, over "
                             f"{MAX_EIDO_BYTES}")
    problem = url_problem(neighbour.eido_url)
    if problem is not None:  # config check refuses it; a config edited since, not loaded
        raise EidoPostFailed("refused", f"eido_url: {problem}")
    try:
        token = neighbour.token()
    except OSError as exc:
        raise EidoPostFailed("no-token", f"{neighbour.key}'s token_file: {exc}") from None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": CONTENT_TYPE,
               "Accept": "application/json"}
    try:
        async with asyncio.timeout(seconds):
            async with session.post(neighbour.eido_url, data=body, headers=headers,
                                    allow_redirects=False) as reply:
                answer = await reply.content.read(MAX_ANSWER_BYTES + 1)
                status = reply.status
    except TimeoutError:
        raise EidoPostFailed("timeout", f"{neighbour.eido_url} did not answer within "
                             f"{seconds:g} s") from None
    except aiohttp.ClientError as exc:
        raise EidoPostFailed("unreachable", f"{neighbour.eido_url}: "
                             f"{type(exc).__name__}: {exc}") from None
    if status != 201:
        their = _their_reason(answer[:MAX_ANSWER_BYTES])
        raise EidoPostFailed(_status_reason(status),
                             f"{neighbour.eido_url} answered {status}"
                             + (f": {their}" if their else ""))
    if len(answer) > MAX_ANSWER_BYTES:
        raise EidoPostFailed("bad-answer", f"the 201 is over {MAX_ANSWER_BYTES} bytes")
    posted = read_answer(answer)
    log.info("transfer: EIDO sent to %s, kept as %s", neighbour.key, posted.reference)
    return posted
