"""The incidents domain's errors, each with its HTTP status and error id."""

from __future__ import annotations

from ntpd_ivr.errors import Refusal


class IncidentsError(Refusal):
    pass


class NotFound(IncidentsError):
    """No such incident or dispatch, or not one this user may see (never say which)."""
    status = 404
    error = "not-found"


class Conflict(IncidentsError):
    """The request does not fit the current state (a closed incident, a dispatch that is
    already accepted, ...)."""
    status = 409
    error = "conflict"


class NotYourCall(IncidentsError):
    """A call-taker named a call their own phone did not answer (incidents/rights.py)."""
    status = 403
    error = "not-your-call"


class AuditUnavailable(IncidentsError):
    """An act that is audited first, and the audit trail cannot be written now."""
    status = 503
    error = "audit-unavailable"
