"""Caller-number normalisation: every form an operator may send, one canonical value."""

from __future__ import annotations

import pytest

from ntpd_ivr.numbers import CallerKind, canonical_caller, canonical_prefix, parse_caller

K = CallerKind

CASES = [
    # Indonesian mobile: national, international with and without +, 00, no trunk prefix
    ("081234567890", K.NUMBER, "+6281234567890"),
    ("+6281234567890", K.NUMBER, "+6281234567890"),
    ("6281234567890", K.NUMBER, "+6281234567890"),
    ("006281234567890", K.NUMBER, "+6281234567890"),
    ("81234567890", K.NUMBER, "+6281234567890"),
    ("+62081234567890", K.NUMBER, "+6281234567890"),   # the 0 kept after +62 by mistake
    ("0812-3456-7890", K.NUMBER, "+6281234567890"),
    ("+62 812 3456 7890", K.NUMBER, "+6281234567890"),
    ("(0812) 3456.7890", K.NUMBER, "+6281234567890"),
    ("0811711234", K.NUMBER, "+62811711234"),          # 10-digit mobile
    # Indonesian fixed lines: Palembang 0711, Jakarta 021, Sekayu 0714
    ("0711354321", K.NUMBER, "+62711354321"),
    ("+62711354321", K.NUMBER, "+62711354321"),
    ("62711354321", K.NUMBER, "+62711354321"),
    ("02129876543", K.NUMBER, "+622129876543"),
    ("0714 321 456", K.NUMBER, "+62714321456"),
    # URIs as some switches put them in the user part
    ("sip:+6281234567890@operator.example", K.NUMBER, "+6281234567890"),
    ("tel:+62-812-3456-7890", K.NUMBER, "+6281234567890"),
    ("<sip:081234567890@10.0.0.1;user=phone>", K.NUMBER, "+6281234567890"),
    # Foreign numbers (roaming visitors) stay E.164
    ("+6591234567", K.NUMBER, "+6591234567"),
    ("00441632960961", K.NUMBER, "+441632960961"),
    # Short codes and numbers without an area code are kept as they came
    ("112", K.SHORT_CODE, "112"),
    ("110", K.SHORT_CODE, "110"),
    ("14045", K.SHORT_CODE, "14045"),
    ("354321", K.LOCAL, "354321"),
    # Withheld and missing: accepted, recorded as such, never one caller
    ("anonymous", K.WITHHELD, "withheld"),
    ("Anonymous", K.WITHHELD, "withheld"),
    ("sip:anonymous@anonymous.invalid", K.WITHHELD, "withheld"),
    ("Restricted", K.WITHHELD, "withheld"),
    ("", K.MISSING, "unknown"),
    (None, K.MISSING, "unknown"),
    ("   ", K.MISSING, "unknown"),
    ("<unknown>", K.MISSING, "unknown"),
    ("unknown", K.MISSING, "unknown"),
    # Garbage
    ("abc", K.INVALID, "invalid"),
    ("0812abc567", K.INVALID, "invalid"),
    ("+62", K.INVALID, "invalid"),
    ("0", K.INVALID, "invalid"),
    ("08", K.INVALID, "invalid"),
    ("+620", K.INVALID, "invalid"),
    ("+6212", K.INVALID, "invalid"),                    # too short for +62
    ("081234567890123", K.INVALID, "invalid"),          # too long for +62
    ("+1234567890123456", K.INVALID, "invalid"),        # longer than E.164 allows
    ("12", K.INVALID, "invalid"),
    ("0812\x00345", K.INVALID, "invalid"),
    ("'; DROP TABLE calls; --", K.INVALID, "invalid"),
]


@pytest.mark.parametrize(("raw", "kind", "value"), CASES)
def test_caller_number_is_normalised(raw: str | None, kind: CallerKind, value: str) -> None:
    caller = parse_caller(raw)
    assert (caller.kind, caller.value) == (kind, value)
    assert caller.raw == (raw or "")
    assert canonical_caller(raw) == value
    assert caller.is_number == (kind in (K.NUMBER, K.SHORT_CODE, K.LOCAL))


def test_the_three_forms_of_one_line_are_one_caller() -> None:
    forms = {"081234567890", "+6281234567890", "6281234567890", "0812 3456 7890"}
    assert {canonical_caller(f) for f in forms} == {"+6281234567890"}


def test_canonical_is_a_fixed_point() -> None:
    for raw, _, value in CASES:
        assert canonical_caller(value) == value, raw


@pytest.mark.parametrize(("prefix", "canonical"), [
    ("0711", "+62711"), ("+62711", "+62711"), ("0062711", "+62711"), ("0714", "+62714"),
    ("0812", "+62812"), ("+65", "+65")])
def test_routing_prefixes_take_the_canonical_form(prefix: str, canonical: str) -> None:
    assert canonical_prefix(prefix) == canonical
    assert canonical_caller(prefix + "354321").startswith(canonical)


@pytest.mark.parametrize("prefix", ["711", "abc", "", "+", "+0711", "62711"])
def test_ambiguous_or_broken_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match=r"prefix|country code"):
        canonical_prefix(prefix)
