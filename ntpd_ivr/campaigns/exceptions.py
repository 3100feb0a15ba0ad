"""The campaigns domain's errors, each with its HTTP status and error id."""

from __future__ import annotations

from ntpd_ivr.errors import Refusal


class CampaignsError(Refusal):
    pass


class BadInput(CampaignsError):
    pass


class NotFound(CampaignsError):
    status = 404
    error = "not-found"


class Conflict(CampaignsError):
    """The request does not fit the current state: a self-approval, a campaign already
    running or ended, a number another contact has."""
    status = 409
    error = "conflict"
