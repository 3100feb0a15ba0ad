"""Caller numbers in one canonical form, so that `+6281…`, `6281…` and `081…` are one caller
in the records, the call history, strikes and reports.

Operators deliver the calling number in whatever form their switch uses: national with the
trunk prefix (`0812…`, `0711…`), international with or without `+` (`+62812…`, `62812…`),
`00` + country code, the mobile number without its `0`, with spaces or dashes, or a SIP/tel
URI. The canonical form is E.164 with `+` for every number we can place (`+62812…`,
`+62711…`, `+6591234567`); short codes (`112`, `14045`) and local numbers without an area
code are kept as their digits.

A call without a usable number is still a 112 call (a phone without a SIM, a withheld
number): it is recorded with one of three markers that are not numbers, and that nothing
may treat as one caller (strikes, call-backs): `withheld`, `unknown` (no number at all) and
`invalid` (something that is not a number).

Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

COUNTRY_CODE = "62"  # Indonesia
WITHHELD = "withheld"
UNKNOWN = "unknown"
INVALID = "invalid"
MARKERS = frozenset({WITHHELD, UNKNOWN, INVALID})

# What switches and Asterisk write when the caller asked for privacy (CLIR), and when there
# is no number at all. Asterisk: "anonymous" from `From: <sip:anonymous@anonymous.invalid>`
# (RFC 3323), "<unknown>"/"unknown" in AMI and AGI for an empty number.
_WITHHELD_WORDS = frozenset({"anonymous", "withheld", "restricted", "private", "prohibited",
                             "anonymous.invalid", "clir"})
_MISSING_WORDS = frozenset({"", "unknown", "<unknown>", "unavailable", "none", "null", "-"})
_URI = re.compile(r"^(?:sips?|tel):(?P<user>[^@;>]*)", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s\-.()/\u00a0]")
_NUMBER = re.compile(r"^\+?[0-9]+$")
# National significant number (after +62 or the trunk prefix 0): mobile 8xx + 6-9 digits,
# fixed area code (2-3 digits, 2-9) + 5-8 digits.
_NSN_LENGTHS = range(7, 13)
# `62…` without `+` is only read as +62 when it is longer than any local subscriber number
# (8 digits) can be with a 62 in front.
_BARE_CC_NSN_LENGTHS = range(8, 13)
# E.164: at most 15 digits after `+`; a country code and a subscriber number need 7.
_E164_LENGTHS = range(7, 16)


class CallerKind(StrEnum):
    NUMBER = "number"          # canonical E.164, "+62…" or another country's "+…"
    SHORT_CODE = "short-code"  # 112, 110, 14045, 1500…: kept as dialled
    LOCAL = "local"            # digits we cannot place (no area code): kept as sent
    WITHHELD = "withheld"
    MISSING = "missing"
    INVALID = "invalid"


@dataclass(frozen=True)
class CallerId:
    kind: CallerKind
    value: str   # what records, history and reports store: a number or a marker
    raw: str     # as the operator (or Asterisk) gave it

    @property
    def is_number(self) -> bool:
        """True when `value` identifies one line: strikes and call-backs may use it."""
        return self.kind in (CallerKind.NUMBER, CallerKind.SHORT_CODE, CallerKind.LOCAL)


def _indonesian(nsn: str, lengths: range) -> str | None:
    nsn = nsn[1:] if nsn.startswith("0") else nsn  # "+62 0812…": the 0 is a common slip
    if len(nsn) in lengths and nsn[0] in "23456789":
        return f"+{COUNTRY_CODE}{nsn}"
    return None


def parse_caller(raw: str | None) -> CallerId:
    """The caller's number in canonical form, or a marker saying why there is none."""
    original = raw if raw is not None else ""
    text = original.strip().strip('"').strip().strip("<>").strip()
    if match := _URI.match(text):
        text = match.group("user")
    lowered = text.lower()
    if lowered in _MISSING_WORDS:
        return CallerId(CallerKind.MISSING, UNKNOWN, original)
    if lowered in _WITHHELD_WORDS:
        return CallerId(CallerKind.WITHHELD, WITHHELD, original)
    digits = _SEPARATORS.sub("", text)
    if not _NUMBER.match(digits):
        return CallerId(CallerKind.INVALID, INVALID, original)
    international = digits.startswith("+") or digits.startswith("00")
    if international:
        digits = digits[1:] if digits.startswith("+") else digits[2:]
        if digits.startswith(COUNTRY_CODE):
            number = _indonesian(digits[len(COUNTRY_CODE):], _NSN_LENGTHS)
            if number is not None:
                return CallerId(CallerKind.NUMBER, number, original)
            return CallerId(CallerKind.INVALID, INVALID, original)
        if len(digits) in _E164_LENGTHS and digits[0] != "0":
            return CallerId(CallerKind.NUMBER, f"+{digits}", original)
        return CallerId(CallerKind.INVALID, INVALID, original)
    if digits.startswith("0"):
        number = _indonesian(digits[1:], _NSN_LENGTHS)
        if number is not None:
            return CallerId(CallerKind.NUMBER, number, original)
        return CallerId(CallerKind.INVALID, INVALID, original)
    if digits.startswith(COUNTRY_CODE):
        number = _indonesian(digits[len(COUNTRY_CODE):], _BARE_CC_NSN_LENGTHS)
        if number is not None:
            return CallerId(CallerKind.NUMBER, number, original)
    if digits.startswith("8") and len(digits) in range(9, 13):
        # A mobile number without its trunk prefix, as some switches send it.
        return CallerId(CallerKind.NUMBER, f"+{COUNTRY_CODE}{digits}", original)
    if digits.startswith("1") and len(digits) in range(3, 8):
        return CallerId(CallerKind.SHORT_CODE, digits, original)
    if len(digits) in range(3, 16):
        return CallerId(CallerKind.LOCAL, digits, original)
    return CallerId(CallerKind.INVALID, INVALID, original)


def canonical_caller(raw: str | None) -> str:
    """What to store for this caller: a canonical number or a marker (see module doc)."""
    return parse_caller(raw).value


def canonical_prefix(prefix: str) -> str:
    """An area or number prefix from the routing config ("0711", "+62711") in the form
    canonical numbers start with ("+62711"). Raises ValueError for anything else."""
    text = _SEPARATORS.sub("", prefix)
    if not _NUMBER.match(text) or len(text) < 2:
        raise ValueError(f"{prefix!r} is not a number prefix")
    if text.startswith("+"):
        if text[1] == "0":
            raise ValueError(f"{prefix!r}: no country code starts with 0")
        return text
    if text.startswith("00"):
        return "+" + text[2:]
    if text.startswith("0"):
        return f"+{COUNTRY_CODE}{text[1:]}"
    raise ValueError(f"{prefix!r}: write it with its trunk prefix 0 (\"0711\") or as "
                     f"+{COUNTRY_CODE}… (\"+62711\")")


# How a trunk writes the numbers we dial on it (routing config `number_format`):
#   e164           +62812…   (E.164 with "+", the canonical form; what SIP trunks of most
#                             operators and Asterisk's own examples use)
#   international  62812…    (the same digits without "+", for switches that refuse "+" in
#                             the Request-URI's user part)
#   national       0812…     (the trunk prefix 0 instead of the country code, as dialled on
#                             a phone in Indonesia)
E164 = "e164"
INTERNATIONAL = "international"
NATIONAL = "national"
NUMBER_FORMATS = (E164, INTERNATIONAL, NATIONAL)


def trunk_number(number: str, number_format: str) -> str:
    """A stored number (a canonical value of `parse_caller`) as `number_format` writes it on
    a trunk: "+62812…" is "+62812…", "62812…" or "0812…". Short codes (112, 14045) and
    local numbers without an area code are the same digits on every trunk. Raises
    ValueError for a marker (withheld, unknown, invalid: never dialled), anything else that
    is not a stored number, and a foreign number on a national trunk (its international
    prefix is the trunk's own business: write that trunk as e164 or international)."""
    if number_format not in NUMBER_FORMATS:
        raise ValueError(f"number format {number_format!r} is not one of "
                         f"{', '.join(NUMBER_FORMATS)}")
    if number in MARKERS:
        raise ValueError(f"{number!r} is a marker, not a number: it is never dialled")
    parsed = parse_caller(number)
    if not parsed.is_number or parsed.value != number:
        raise ValueError(f"{number!r} is not a stored (canonical) number")
    if parsed.kind is not CallerKind.NUMBER or number_format == E164:
        return number  # a short code or a local number: as dialled, on every trunk
    if number_format == INTERNATIONAL:
        return number[1:]
    if not number.startswith(f"+{COUNTRY_CODE}"):
        raise ValueError(f"{number!r} is not an Indonesian number: it has no national form")
    return "0" + number[len(COUNTRY_CODE) + 1:]
