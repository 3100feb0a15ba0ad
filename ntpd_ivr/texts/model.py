"""Text sessions as values, and the rules that need no I/O: who a session is offered to,
who may act on it, what a reply may hold, the flood limit, the JSON the desk reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from ntpd_ivr.errors import Refusal
from ntpd_ivr.texts.config import TextsConfig

OFFERED, TAKEN, ENDED = "offered", "taken", "ended"
State = Literal["offered", "taken", "ended"]
UNIQUEID_PREFIX = "sms-"
AUTO_AUTHOR = "auto"  # the automatic acknowledgement
ACK_PURPOSE, REPLY_PURPOSE = "text.ack", "text.reply"
FLOOD_WINDOW = timedelta(seconds=60)
# The outbox's states (ntpd_ivr/sms/model.py) as the desk says them.
DELIVERY = {"queued": "queued", "accepted": "sent", "delivered": "delivered",
            "undelivered": "failed", "failed": "failed"}


class TextRefusal(Refusal):
    pages = False  # the desk's JSON API only


class NotFound(TextRefusal):
    status, error = 404, "not-found"


class NotYours(TextRefusal):
    status, error = 403, "not-yours"


class NotOffered(TextRefusal):
    status, error = 403, "not-offered"


class TakenByOther(TextRefusal):
    status, error = 409, "taken"


class Ended(TextRefusal):
    status, error = 409, "ended"


class NotTaken(TextRefusal):
    status, error = 409, "not-taken"


def uniqueid_of(sms_id: int) -> str:
    """A text session's id, named after its first SMS (sms_inbox.id): never an Asterisk
    uniqueid (<epoch>.<n>), so no reconciler or node-failure close takes it for a call."""
    return f"{UNIQUEID_PREFIX}{sms_id}"


def is_text_session(uniqueid: str) -> bool:
    return uniqueid.startswith(UNIQUEID_PREFIX)


def delivery_of(outbox_status: str | None) -> str | None:
    return None if outbox_status is None else DELIVERY.get(outbox_status, "queued")


@dataclass
class Session:
    """One open (or just ended) text session as the controller keeps it in memory."""

    uniqueid: str
    caller_number: str
    region: str
    queue: str
    category: str
    opened_at: datetime
    taken_by: str | None = None
    unanswered: bool = False
    priority: int = 0
    # The number's standing under the prank policy when the session opened (prank/model.py
    # PolicyAction.as_detail: level, strikes, ...); {} when strike-free or unknown.
    standing: dict[str, Any] = field(default_factory=dict)
    ended: bool = False
    # Users it was pushed to as offered (they are told when it is taken).
    offered_to: set[str] = field(default_factory=set)
    recent_in: list[datetime] = field(default_factory=list)  # for the flood limit

    @property
    def state(self) -> State:
        if self.ended:
            return "ended"
        return "taken" if self.taken_by else "offered"

    def to_json(self, messages: Sequence[Mapping[str, Any]] = (),
                history: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        return {"uniqueid": self.uniqueid, "caller_number": self.caller_number,
                "region": self.region, "category": self.category, "state": self.state,
                "opened_at": self.opened_at.isoformat(), "taken_by": self.taken_by,
                "unanswered": self.unanswered, "priority": self.priority,
                "standing": dict(self.standing), "messages": list(messages),
                "history": list(history)}

    def flooded(self, at: datetime, limit: int) -> bool:
        """Count one incoming message at `at`: True when it is over `limit` a minute
        (kept, flagged, not offered or acknowledged again)."""
        self.recent_in = [t for t in self.recent_in if at - t < FLOOD_WINDOW]
        self.recent_in.append(at)
        return len(self.recent_in) > limit

    def check_owner(self, user: str) -> None:
        """Only the call-taker who took it acts on it."""
        if self.ended:
            raise Ended(f"text session {self.uniqueid} has ended")
        if self.taken_by is None:
            raise NotTaken(f"text session {self.uniqueid} is not taken: take it first")
        if self.taken_by != user:
            raise NotYours(f"text session {self.uniqueid} was taken by another call-taker; "
                           "only they can act on it")

    def check_take(self, user: str, eligible: bool) -> bool:
        """May `user` take it? True: it is theirs already (taking again changes nothing)."""
        if self.ended:
            raise Ended(f"text session {self.uniqueid} has ended")
        if self.taken_by == user:
            return True
        if self.taken_by is not None:
            raise TakenByOther(f"text session {self.uniqueid} was taken by {self.taken_by}")
        if not eligible:
            raise NotOffered(f"text session {self.uniqueid} is not offered to you: log in to "
                             f"queue {self.queue} and let your desk accept text")
        return False


def message_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A text_messages row (joined with its outbox status as `outbox_status`)."""
    at = row["at"]
    return {"id": int(row["id"]), "direction": row["direction"], "body": row["body"],
            "author": row["author"], "at": at.isoformat() if isinstance(at, datetime) else at,
            "delivery": delivery_of(row.get("outbox_status")) if row["direction"] == "out"
            else None, "flagged": bool(row.get("flagged"))}


def reply_body(body: Mapping[str, Any], config: TextsConfig, language: str) -> str:
    """What a call-taker sends: {"body": text} or {"quick": id}; TextRefusal (400) else."""
    if "quick" in body:
        if "body" in body:
            raise TextRefusal("send a body or a quick reply, not both")
        quick = body["quick"]
        found = config.quick(quick) if isinstance(quick, str) else None
        if found is None:
            raise TextRefusal(f"quick: no quick reply {quick!r} (known: "
                              f"{', '.join(q.id for q in config.quick_replies)})")
        return found.text(language)
    text = body.get("body")
    if not isinstance(text, str):
        raise TextRefusal("body must be a string (or send {\"quick\": id})")
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise TextRefusal("body is empty")
    if len(text) > config.max_body_chars:
        raise TextRefusal(f"body is {len(text)} characters; at most {config.max_body_chars}",
                          status=413, error="too-long")
    if not text.replace("\n", " ").isprintable():
        raise TextRefusal("body holds control characters")
    return text


def accepts_value(body: Mapping[str, Any]) -> bool:
    value = body.get("accepts")
    if not isinstance(value, bool):
        raise TextRefusal("accepts must be true or false")
    return value


def eligible_users(users: Iterable[tuple[str, str | None]], queue: str,
                   queues_of: Mapping[str, Iterable[str]], accepts: Mapping[str, bool]
                   ) -> list[str]:
    """The users a session in `queue` is offered to: (user, endpoint) pairs whose endpoint
    is logged in to `queue` (`queues_of`: endpoint -> its queues, Asterisk's presence) and
    whose desk accepts text."""
    return sorted(user for user, endpoint in users
                  if endpoint and accepts.get(user, False)
                  and queue in set(queues_of.get(endpoint, ())))
