"""Whose call is it: a call-taker acts only on the calls their own phone answered.

A call's disposition (which adds or clears a caller's strikes and ends a wrap-up), an
incident written from a call (which marks it genuine) and a `connect` dispatch (which
dials an agency into a live call) name a call by its Asterisk uniqueid. A call-taker may
name only a call that the SIP endpoint tied to them in the users file
(`sip_endpoint`) answered: the controller knows it from AMI AgentConnect (the workspace
service, ntpd_ivr/workspace/service.py) or, for an older call, from the calls row's
`answered_by`. A supervisor (or admin) may act on any call; when it is not their own, an
audit entry `call.override` names the supervisor, the action and whose call it was, and
is written before the action runs (no entry, no action).

The user's endpoint and role are read from the users file as it is now, not from the
session: an endpoint moved to another user, or a role taken away, counts at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ntpd_ivr.audit.trail import AuditWriter
from ntpd_ivr.incidents.exceptions import AuditUnavailable, NotYourCall
from ntpd_ivr.web.auth import Session, UserStore, role_allows

# The endpoint that answered the call (AgentConnect), or None if nobody did (yet).
AnsweredBy = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class CallAccess:
    call: str
    user: str
    answered_by: str | None
    override: bool  # a supervisor acting on a call their own phone did not answer


class CallRights:
    def __init__(self, answered_by: AnsweredBy, audit: AuditWriter) -> None:
        self.answered_by = answered_by
        self.audit = audit

    async def check(self, users: UserStore, session: Session, call: str,
                    action: str) -> CallAccess:
        """Allowed, or NotYourCall (403). `action`: what is done, for the audit trail."""
        users.refresh()
        user = users.users.get(session.user)
        if user is None:
            raise NotYourCall(f"user {session.user} is no longer in the users file")
        owner = await self.answered_by(call)
        if owner is not None and user.sip_endpoint == owner:
            return CallAccess(call, user.name, owner, override=False)
        if not role_allows(user.role, "supervisor"):
            whose = ("no call-taker answered it" if owner is None
                     else "another call-taker's phone answered it")
            mine = (f"your phone ({user.sip_endpoint})" if user.sip_endpoint
                    else "you have no sip_endpoint")
            raise NotYourCall(f"{action} of call {call} refused: {whose}; {mine}. "
                              "A call-taker acts only on the calls their own phone "
                              "answered; a supervisor may act on any call")
        takers = sorted(u.name for u in users.users.values()
                        if owner is not None and u.sip_endpoint == owner)
        try:
            await self.audit.write(user.name, "call.override", "call", call,
                                   {"action": action, "answered_by": owner,
                                    "answered_by_users": takers, "role": user.role})
        except Exception as exc:
            raise AuditUnavailable(f"{action} of another's call is audited, and the audit "
                                   f"trail cannot be written now: {type(exc).__name__}"
                                   ) from None
        return CallAccess(call, user.name, owner, override=True)
