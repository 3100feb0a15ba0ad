"""Public warning campaigns: the values and the pure decisions. No I/O, no clock.

- Contacts come from CSV (`parse_contacts_csv`): numbers normalised (ntpd_ivr/numbers.py),
  duplicates merged, the first bad row refused with its line number.
- A contact's attempts follow `RetryPolicy`: no answer, busy and failed are tried again
  after their spacing until `max_attempts`; confirmed and answered-without-confirming end.
- `pace()` decides how many calls may start now: it holds new calls while a 112 caller
  waits a little (5 s), and pauses while one waits too long (10 s) or free call-takers
  run short: incoming 112 calls come first.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ntpd_ivr import originate
from ntpd_ivr.numbers import COUNTRY_CODE, NATIONAL, CallerKind, parse_caller, trunk_number

CSV_COLUMNS = ("name", "number", "role", "kecamatan", "desa", "language")
REQUIRED_COLUMNS = ("name", "number")
LANGUAGES = ("id", "en")  # a contact's language without a regional one; the prompts'
MAX_CONTACTS = 50_000
MAX_TEXT = 200
EDITABLE = ("name", "number", "role", "kecamatan", "desa", "language")  # a contact's fields
MAX_MESSAGE_CHARS = 1000

# Outcome of one attempt. The first two mean the contact was reached.
CONFIRMED = "confirmed"
ANSWERED = "answered"          # answered, heard the message, did not press 1
NO_ANSWER = "no-answer"
BUSY = "busy"
FAILED = "failed"
OUTCOMES = (CONFIRMED, ANSWERED, NO_ANSWER, BUSY, FAILED)
RETRIED = frozenset({NO_ANSWER, BUSY, FAILED})
REACHED = frozenset({CONFIRMED, ANSWERED})

# Campaign status.
AWAITING_APPROVAL = "awaiting-approval"
RUNNING = "running"
FINISHED = "finished"
CANCELLED = "cancelled"
STATUSES = (AWAITING_APPROVAL, RUNNING, FINISHED, CANCELLED)

_NAME_CHARS = re.compile(r"^[^\x00-\x1f]*$")
_TRUNK = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_CALLER_ID = re.compile(r"^\+?[0-9]{3,15}$")


class ContactImportError(ValueError):
    """A CSV that cannot be imported: names the line and what is wrong with it."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Contact:
    name: str
    number: str          # canonical, +62...
    role: str = ""
    kecamatan: str = ""
    desa: str = ""
    language: str = "id"


def _clean(value: str | None, what: str, line: int) -> str:
    text = (value or "").strip()
    if len(text) > MAX_TEXT or not _NAME_CHARS.match(text):
        raise ContactImportError(line, f"{what} is too long or holds control characters")
    return text


def normalise_number(raw: str) -> str:
    """An Indonesian number (0812..., +62 812..., 62812..., 0711...) as +62...; anything
    else (a short code, a foreign or malformed number) raises ValueError: a warning
    campaign calls Indonesian lines only."""
    caller = parse_caller(raw)
    if caller.kind is not CallerKind.NUMBER or not caller.value.startswith(f"+{COUNTRY_CODE}"):
        raise ValueError(f"{raw!r} is not an Indonesian telephone number")
    return caller.value


def dialled_number(number: str, number_format: str = NATIONAL) -> str:
    """+62812... as the outbound trunk writes it (its routing config number_format: 0812...
    when it says none, +62812... or 62812...). A canonical Indonesian number only, so
    nothing else can ever reach the Originate's channel string."""
    if not re.fullmatch(rf"\+{COUNTRY_CODE}[2-9][0-9]{{6,11}}", number):
        raise ValueError(f"{number!r} is not a canonical Indonesian number")
    return trunk_number(number, number_format)


def contact_languages(regional: str = "") -> tuple[str, ...]:
    """What a contact's language may be: id, en, and the settings' regional language."""
    return (*LANGUAGES, regional) if regional else LANGUAGES


def contact_from_row(row: Mapping[str, str | None], line: int,
                     languages: Sequence[str] = LANGUAGES) -> Contact:
    """One CSV row (or an admin's edit) as a contact, or ContactImportError naming `line`."""
    name = _clean(row.get("name"), "name", line)
    if not name:
        raise ContactImportError(line, "name is empty")
    try:
        number = normalise_number(row.get("number") or "")
    except ValueError as exc:
        raise ContactImportError(line, str(exc)) from None
    language = _clean(row.get("language"), "language", line).lower() or "id"
    if language not in languages:
        raise ContactImportError(line, f"language must be one of {', '.join(languages)}, "
                                       f"not {language!r}")
    return Contact(name=name, number=number, role=_clean(row.get("role"), "role", line).lower(),
                   kecamatan=_clean(row.get("kecamatan"), "kecamatan", line),
                   desa=_clean(row.get("desa"), "desa", line), language=language)


def _merge(old: Contact, new: Contact) -> Contact:
    """A number listed twice is one contact: later non-empty fields fill or replace."""
    return Contact(name=new.name or old.name, number=old.number,
                   role=new.role or old.role, kecamatan=new.kecamatan or old.kecamatan,
                   desa=new.desa or old.desa, language=new.language or old.language)


@dataclass(frozen=True)
class ImportPlan:
    contacts: tuple[Contact, ...]
    rows: int          # data rows read
    merged: int        # rows folded into an earlier row with the same number


def parse_contacts_csv(text: str, languages: Sequence[str] = LANGUAGES) -> ImportPlan:
    """Read the whole CSV or refuse it: the first bad row raises ContactImportError with
    its line number (line 1 is the header), so that nothing is half-imported."""
    if text.startswith("\ufeff"):
        text = text[1:]  # a spreadsheet's byte order mark
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    if not header:
        raise ContactImportError(1, "empty file: expected a header line "
                                    f"({','.join(CSV_COLUMNS)})")
    unknown = [name for name in header if name not in CSV_COLUMNS]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if unknown or missing:
        raise ContactImportError(1, f"header must name columns among {','.join(CSV_COLUMNS)}"
                                    f" with name and number; unknown {unknown}, missing "
                                    f"{missing}")
    reader.fieldnames = header
    by_number: dict[str, Contact] = {}
    rows = 0
    for row in reader:
        line = reader.line_num
        rows += 1
        if rows > MAX_CONTACTS:
            raise ContactImportError(line, f"more than {MAX_CONTACTS} contacts in one file")
        if None in row:
            raise ContactImportError(line, f"more fields than the {len(header)} columns")
        if all(not (value or "").strip() for value in row.values()):
            rows -= 1
            continue  # a blank line
        contact = contact_from_row(row, line, languages)
        number = contact.number
        earlier = by_number.get(number)
        by_number[number] = contact if earlier is None else _merge(earlier, contact)
    return ImportPlan(tuple(by_number.values()), rows, rows - len(by_number))


# --- Campaigns ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    no_answer_seconds: float = 300.0
    busy_seconds: float = 120.0
    failed_seconds: float = 300.0

    def validate(self) -> None:
        if not 1 <= self.max_attempts <= 10:
            raise ValueError("max_attempts must be 1-10")
        for name in ("no_answer_seconds", "busy_seconds", "failed_seconds"):
            if not 0 <= getattr(self, name) <= 86_400:
                raise ValueError(f"{name} must be 0-86400")

    def spacing(self, outcome: str) -> float:
        return {NO_ANSWER: self.no_answer_seconds, BUSY: self.busy_seconds,
                FAILED: self.failed_seconds}[outcome]


def next_attempt_at(policy: RetryPolicy, outcome: str, attempts: int,
                    ended_at: float) -> float | None:
    """When to call the contact again after its `attempts`-th attempt ended with
    `outcome` at `ended_at`; None: never (reached, or out of attempts)."""
    if outcome not in RETRIED or attempts >= policy.max_attempts:
        return None
    return ended_at + policy.spacing(outcome)


@dataclass(frozen=True)
class Target:
    """Who a campaign calls: contacts matching every non-empty list (case-insensitive)."""
    kecamatan: tuple[str, ...] = ()
    desa: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    def matches(self, contact: Contact) -> bool:
        def within(value: str, allowed: tuple[str, ...]) -> bool:
            return not allowed or value.casefold() in {a.casefold() for a in allowed}
        return (within(contact.kecamatan, self.kecamatan) and within(contact.desa, self.desa)
                and within(contact.role, self.roles))

    def as_dict(self) -> dict[str, list[str]]:
        return {"kecamatan": list(self.kecamatan), "desa": list(self.desa),
                "roles": list(self.roles)}


@dataclass(frozen=True)
class CampaignDraft:
    title: str
    message_text: str        # rendered with the prompts' TTS; "" with a recording
    target: Target
    trunk: str
    caller_id: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    recording: str = ""      # an uploaded recording (host path) instead of the text
    # The message in the settings' regional language too (warnings.regional_language):
    # contacts of that language hear it; the others the Bahasa Indonesia one. "": none.
    message_text_regional: str = ""

    def validate(self, trunks: Iterable[str], regional_language: str = "") -> None:
        if not self.title.strip() or len(self.title) > MAX_TEXT:
            raise ValueError("title must be 1-200 characters")
        if bool(self.message_text.strip()) == bool(self.recording):
            raise ValueError("give either a message text or a recording, not both or none")
        for text in (self.message_text, self.message_text_regional):
            if len(text) > MAX_MESSAGE_CHARS:
                raise ValueError(f"message text must be at most {MAX_MESSAGE_CHARS} "
                                 "characters")
        if self.message_text_regional.strip() and not regional_language:
            raise ValueError("message_text_regional: no regional language is set "
                             "(settings warnings.regional_language)")
        allowed = tuple(trunks)
        if not _TRUNK.match(self.trunk) or self.trunk not in allowed:
            raise ValueError(f"trunk must be one of the outbound trunks {list(allowed)}")
        if not _CALLER_ID.match(self.caller_id):
            raise ValueError("caller_id must be the center's number: digits, + in front "
                             "allowed")
        self.retry.validate()


def message_for(contact_language: str, *, message_file: str, regional_language: str,
                regional_file: str) -> tuple[str, str]:
    """(the message file, the language of the prompts around it) for a contact: the
    regional message to a contact of the campaign's regional language when it has one,
    else the Bahasa Indonesia message; the confirm and thanks prompts exist in id and en
    only (prompts/), so a regional contact hears them in Bahasa Indonesia."""
    regional = bool(regional_language) and contact_language == regional_language
    prompts = contact_language if contact_language in LANGUAGES else "id"
    return (regional_file if regional and regional_file else message_file), prompts


# --- Outcomes from AMI -------------------------------------------------------------------

def originate_outcome(response: str, reason: int, cause: int | None = None) -> str | None:
    """An attempt's outcome from its OriginateResponse (`reason`) and, when known, the
    outgoing channel's hangup cause, read as every Originate is (ntpd_ivr/originate.py);
    None when it was answered (what the contact did next comes from the dialplan)."""
    return _OUTCOMES[originate.outcome(response, reason, cause)]


_OUTCOMES: Mapping[originate.Outcome, str | None] = {
    "answered": None, "busy": BUSY, "no-answer": NO_ANSWER, "unavailable": FAILED,
    "failed": FAILED}


def needs_cause(response: str, reason: int) -> bool:
    """Reasons 0 and 1 say only "not answered": wait for the channel's hangup cause."""
    return originate.needs_cause(response, reason)


# --- Pacing: incoming 112 first ----------------------------------------------------------

@dataclass(frozen=True)
class PacingLimits:
    max_channels: int = 10            # outbound warning calls at once, per trunk
    calls_per_second: float = 2.0     # new outbound calls per second, per trunk
    max_queue_wait_seconds: float = 10.0  # pause while a 112 caller waits longer
    min_free_takers: int = 1          # pause while a 112 queue has fewer free call-takers
    # After a start or a pause the limits grow from 1 to the full ones over this long, so
    # the 112 queues show any strain before the campaign is at full speed. 0: no ramp.
    ramp_seconds: float = 60.0
    # The early signal: while a 112 caller has waited longer than this, no new call starts
    # but the ramp keeps its place (a hold, not a pause). 0: no hold.
    hold_queue_wait_seconds: float = 5.0


@dataclass(frozen=True)
class QueueLoad:
    """One 112 queue as QueueSummary tells it."""
    queue: str
    logged_in: int
    available: int
    longest_wait_seconds: float
    callers: int = 0          # 112 callers waiting in it now


@dataclass(frozen=True)
class PacingDecision:
    start: int                 # calls that may start now
    # why none may: queue-wait, free-takers, queue-state-unknown (a pause: the ramp starts
    # again after it), or queue-busy (a hold: the ramp carries on from where it stood)
    paused: str = ""

    @property
    def held(self) -> bool:
        return self.paused == HELD


HELD = "queue-busy"


def _ramped(limit: float, limits: PacingLimits, running_seconds: float) -> float:
    if limits.ramp_seconds <= 0:
        return limit
    return max(1.0, limit * min(1.0, max(0.0, running_seconds) / limits.ramp_seconds))


def pace(limits: PacingLimits, queues: Sequence[QueueLoad] | None, active_channels: int,
         started_last_second: int, running_seconds: float = float("inf")) -> PacingDecision:
    """How many outbound calls may start now on one trunk. `queues` None: the 112 queue
    state is unknown (AMI down or slow): pause rather than risk the 112 callers.
    `running_seconds`: since the trunk started or last came out of a pause (the ramp)."""
    if queues is None:
        return PacingDecision(0, "queue-state-unknown")
    for load in queues:
        if load.longest_wait_seconds > limits.max_queue_wait_seconds:
            return PacingDecision(0, "queue-wait")
    for load in queues:
        # A queue nobody is logged in to and nobody waits in does not stop a campaign (a
        # region with no call-taker on shift), but 112 callers waiting where no call-taker
        # phone is reachable at all are the worst case of "too few free": pause.
        staffed_or_waited_in = load.logged_in > 0 or load.callers > 0
        if staffed_or_waited_in and load.available < limits.min_free_takers:
            return PacingDecision(0, "free-takers")
    if limits.hold_queue_wait_seconds > 0 and any(
            load.longest_wait_seconds > limits.hold_queue_wait_seconds for load in queues):
        return PacingDecision(0, HELD)
    by_channels = int(_ramped(limits.max_channels, limits, running_seconds)) - active_channels
    by_rate = int(_ramped(limits.calls_per_second, limits, running_seconds)) - started_last_second
    if limits.calls_per_second < 1 and started_last_second == 0:
        by_rate = 1  # a rate below 1/s: the caller spaces starts by 1/rate seconds
    return PacingDecision(max(0, min(by_channels, by_rate)))


# --- Report --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ContactOutcome:
    """One contact of a campaign, as its attempts left it."""
    contact_id: int
    name: str
    number: str
    outcome: str              # the last attempt's; "" while none has ended
    attempts: int
    confirmed_at: float | None


@dataclass(frozen=True)
class Report:
    contacts: int
    reached: int
    confirmed: int
    by_outcome: Mapping[str, int]
    attempts: int
    first_confirmed_seconds: float | None
    ninety_percent_confirmed_seconds: float | None  # 90 % of the campaign's contacts

    def as_dict(self) -> dict[str, object]:
        return {"contacts": self.contacts, "reached": self.reached,
                "confirmed": self.confirmed, "by_outcome": dict(self.by_outcome),
                "attempts": self.attempts,
                "first_confirmed_seconds": self.first_confirmed_seconds,
                "ninety_percent_confirmed_seconds": self.ninety_percent_confirmed_seconds}


def report(outcomes: Sequence[ContactOutcome], started_at: float | None) -> Report:
    """Reached = answered (confirmed or not); time to first and to 90 % confirmed count
    from the approval (the start); 90 % of all the campaign's contacts, None until then."""
    by_outcome = {name: 0 for name in (*OUTCOMES, "pending")}
    for item in outcomes:
        by_outcome[item.outcome or "pending"] += 1
    times = sorted(o.confirmed_at for o in outcomes if o.confirmed_at is not None)
    first = ninety = None
    if times and started_at is not None:
        first = max(0.0, times[0] - started_at)
        needed = -(-len(outcomes) * 9 // 10)  # ceil(0.9 n)
        if len(times) >= needed:
            ninety = max(0.0, times[needed - 1] - started_at)
    return Report(contacts=len(outcomes),
                  reached=sum(1 for o in outcomes if o.outcome in REACHED),
                  confirmed=by_outcome[CONFIRMED], by_outcome=by_outcome,
                  attempts=sum(o.attempts for o in outcomes),
                  first_confirmed_seconds=first, ninety_percent_confirmed_seconds=ninety)
