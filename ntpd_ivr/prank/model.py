"""What the prank policy decides for a call, as the 112 IVR reads it (ivr/emergency.py):
the action (prank/policy.py decides it) and the gate's outcome before the menu
(prank/ivr.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

LEVELS = ("none", "struck", "warn", "deprioritise", "block")


@dataclass(frozen=True)
class PolicyAction:
    level: str                # one of LEVELS
    reason: str               # strike-free, strikes, view-unavailable, policy-off, ...
    strikes: int = 0
    escape: bool = False      # block: the escape key reaches a call-taker
    blocked_until: datetime | None = None

    def as_detail(self) -> dict[str, str | int | bool]:
        detail: dict[str, str | int | bool] = {"level": self.level, "reason": self.reason,
                                               "strikes": self.strikes}
        if self.level == "block":
            detail["escape"] = self.escape
        if self.blocked_until is not None:
            detail["blocked_until"] = self.blocked_until.isoformat()
        return detail


STRIKE_FREE = PolicyAction("none", "strike-free")


@dataclass(frozen=True)
class Gate:
    """What the gate decided for the call: its action, and the key the caller pressed to
    escape a block (the IVR then skips the menu, as for a key pressed there)."""

    action: PolicyAction
    blocked: bool = False
    escape_digit: str | None = None
    warn_prompt: str = ""  # played by the dialplan before the queue (NTPD_WARN_PROMPT)
