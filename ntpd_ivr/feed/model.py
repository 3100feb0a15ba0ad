"""The monitoring feed's model: what a push by hand (POST /api/v1/feed/push) reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PushResult:
    queued: int
    delivered: int
    pending: int
