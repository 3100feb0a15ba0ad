"""Receiving a transfer, the pure part: which neighbour a trunk is, the reference a call's
Call-Info names, and where the call goes (docs/eido.md, "Receiving a transfer").

A neighbour's call is known by its trunk only: the PJSIP endpoint Asterisk matched by the
source address of the INVITE or by the credentials it proved (pjsip-neighbours.conf),
never by anything the call says about itself."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.transfer.config import Neighbour

# Above any category's (0-100, routing config): a transferred caller has waited once
# already, at the other center; they go to the front of the queue.
TRANSFER_PRIORITY = 101
ROUTE_REASON = "transfer"
PURPOSE = "emergencycalldata.eido"     # RFC 7852 style purpose, compared case-insensitively
REFERENCE = re.compile(r"^[0-9a-f]{32}$")  # ours (uuid4 hex), handed to the sender
MAX_CALL_INFO_CHARS = 2048
# Why a transfer did not happen, as the desk says it (desk.transfer.reason.<reason>): the
# EIDO step's (send.py) and the call's (outbound.py); and the call's states (outbound.py).
EIDO_REASONS = ("too-large", "timeout", "unreachable", "unauthorized", "refused", "busy",
                "unavailable", "bad-answer", "no-token")
CALL_REASONS = ("no-contact", "not-connected", "no-answer", "busy", "unreachable",
                "refused", "no-input", "timeout", "hung-up", "caller-gone", "error")
STATES = ("ringing", "answered", "accepted", "completed", "failed")
_ENTRY = re.compile(r"<([^<>]{1,1024})>\s*((?:;[^,<]*)?)")


def neighbour_of(routing: RoutingConfig, trunk: str) -> tuple[str, Neighbour] | None:
    """(region, neighbour) whose trunk this is, the first region listing it; None when the
    trunk is no neighbour's (an operator's, or empty)."""
    if not trunk:
        return None
    for region, neighbours in routing.neighbours.items():
        for neighbour in neighbours.values():
            if neighbour.trunk == trunk:
                return region, neighbour
    return None


def reference_of(call_info: str) -> str | None:
    """The transfer reference in a Call-Info header (`<url>;purpose=EmergencyCallData.eido`):
    the last path segment of the first such URL, when it has the shape of ours."""
    if not call_info or len(call_info) > MAX_CALL_INFO_CHARS:
        return None
    for match in _ENTRY.finditer(call_info):
        params = [p.strip() for p in match.group(2).split(";") if p.strip()]
        purposes = [p.partition("=")[2].strip().strip('"').lower() for p in params
                    if p.partition("=")[0].strip().lower() == "purpose"]
        if PURPOSE not in purposes:
            continue
        try:
            path = urlsplit(match.group(1).strip()).path
        except ValueError:
            return None
        last = path.rstrip("/").rsplit("/", 1)[-1]
        return last if REFERENCE.match(last) else None
    return None
