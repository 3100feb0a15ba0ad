"""Overflow from another center's edge, the pure part (docs/ha.md, "A second site").

When every node of a center is dead, its Kamailio edge sends new calls to a second site (the
province's center, or a neighbour) with the original caller ID and the region the call was
for in `X-NTPD-Overflow-Region`. The second site knows the sender by its trunk (the
neighbour trunk of the transfer work: source address or credentials, pjsip-neighbours.conf),
never by the header: the header is read only on a neighbour's trunk, and a header on any
other trunk is ignored (an operator's caller cannot make their call overflow).

An overflow call goes through this center's IVR (menu, prank gate) like its own callers:
nobody has triaged it yet, and a dark center's calls arrive all at once, so they take the
category's priority among our callers, not the front of the queue a transfer gets. It is
queued in the region that lists the neighbour (its call-takers answer for the dark center)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.routing.engine import Decision, LiveState, choose_agency, choose_queue
from ntpd_ivr.transfer.config import Neighbour
from ntpd_ivr.transfer.model import neighbour_of

HEADER = "X-NTPD-Overflow-Region"
# A region's key in the sending center's routing config (ntpd_ivr/routing/config.py).
REGION = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
REGION_MATCH = "overflow"
MALFORMED = "malformed"


@dataclass(frozen=True)
class Overflow:
    """A call a neighbour's edge overflowed here."""

    region: str            # where it is answered here: the region that lists the neighbour
    neighbour: Neighbour
    trunk: str
    overflow_region: str   # the region it was for, as the neighbour named it; "" if malformed
    header: str            # "ok" or MALFORMED

    def detail(self) -> dict[str, str]:
        return {"neighbour": self.neighbour.key, "trunk": self.trunk,
                "overflow_region": self.overflow_region, "header": self.header,
                "region": self.region}


def overflow_of(routing: RoutingConfig, trunk: str, header: str) -> Overflow | None:
    """The overflow this call is, when it came on a neighbour's trunk with the header; None
    otherwise (no header: a transfer or nothing special; not a neighbour: ignored)."""
    header = header.strip()
    if not header:
        return None
    found = neighbour_of(routing, trunk)
    if found is None:
        return None
    region, neighbour = found
    if REGION.match(header):
        return Overflow(region, neighbour, trunk, header, "ok")
    return Overflow(region, neighbour, trunk, "", MALFORMED)


def overflow_decision(decision: Decision, overflow: Overflow, routing: RoutingConfig,
                      live: LiveState, at: datetime) -> Decision:
    """The IVR's decision (category and priority from the menu), queued in the region that
    lists the neighbour instead of the region the caller's number or the DID would name."""
    region = routing.regions[overflow.region]
    queue, queue_reason = choose_queue(region, routing, live)
    agency, agency_reason = choose_agency(region, decision.category, routing, at)
    return replace(decision, region=region.key, region_match=REGION_MATCH, queue=queue,
                   queue_reason=queue_reason, agency=agency, agency_reason=agency_reason)

