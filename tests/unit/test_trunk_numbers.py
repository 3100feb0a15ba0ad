"""A stored number in the form a trunk writes it (routing config `number_format`)."""

from __future__ import annotations

import pytest

from ntpd_ivr.numbers import (
    INVALID,
    NUMBER_FORMATS,
    UNKNOWN,
    WITHHELD,
    canonical_caller,
    trunk_number,
)

FORMS = [
    # canonical, e164, international, national
    ("+6281234567890", "+6281234567890", "6281234567890", "081234567890"),  # mobile
    ("+62811711234", "+62811711234", "62811711234", "0811711234"),
    ("+62711354321", "+62711354321", "62711354321", "0711354321"),          # Palembang
    ("+622129876543", "+622129876543", "622129876543", "02129876543"),       # Jakarta
    # short codes and local numbers: the same digits on every trunk
    ("112", "112", "112", "112"),
    ("14045", "14045", "14045", "14045"),
    ("354321", "354321", "354321", "354321"),
]


@pytest.mark.parametrize(("canonical", "e164", "international", "national"), FORMS)
def test_each_format_writes_the_number_its_way(canonical: str, e164: str, international: str,
                                               national: str) -> None:
    assert [trunk_number(canonical, f) for f in NUMBER_FORMATS] == [e164, international,
                                                                     national]


@pytest.mark.parametrize("raw", ["081234567890", "+62 812 3456 7890", "0711354321", "112"])
@pytest.mark.parametrize("number_format", NUMBER_FORMATS)
def test_the_written_form_reads_back_as_the_same_caller(raw: str, number_format: str) -> None:
    canonical = canonical_caller(raw)
    assert canonical_caller(trunk_number(canonical, number_format)) == canonical


@pytest.mark.parametrize("marker", [WITHHELD, UNKNOWN, INVALID])
@pytest.mark.parametrize("number_format", NUMBER_FORMATS)
def test_a_marker_is_never_dialled(marker: str, number_format: str) -> None:
    with pytest.raises(ValueError, match="never dialled"):
        trunk_number(marker, number_format)


@pytest.mark.parametrize("not_stored", ["", "0812345678", "62812345678", "+62 812", "+6208123",
                                        "sip:+6281234567890@x", "112;x", "+62812a4567",
                                        "1,2", "+0123456789"])
def test_anything_not_stored_canonical_is_refused(not_stored: str) -> None:
    for number_format in NUMBER_FORMATS:
        with pytest.raises(ValueError):
            trunk_number(not_stored, number_format)


def test_a_foreign_number_has_no_national_form() -> None:
    assert trunk_number("+6591234567", "e164") == "+6591234567"
    assert trunk_number("+6591234567", "international") == "6591234567"
    with pytest.raises(ValueError, match="not an Indonesian number"):
        trunk_number("+6591234567", "national")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="number format 'local'"):
        trunk_number("+6281234567890", "local")


def test_a_direct_agency_gets_the_caller_in_its_trunks_form_or_as_delivered() -> None:
    import dataclasses
    from pathlib import Path

    from ntpd_ivr.ivr.emergency import agency_caller
    from ntpd_ivr.routing.config import load_routing_config

    config = load_routing_config(Path(__file__).resolve().parents[2] / "config"
                                 / "routing.example.toml")
    assert agency_caller(config, "palembang-damkar", "+62711354321") == ""  # says no form
    damkar = dataclasses.replace(config.agencies["palembang-damkar"], number_format="national")
    config = dataclasses.replace(config, agencies={**config.agencies,
                                                   "palembang-damkar": damkar})
    assert agency_caller(config, "palembang-damkar", "+62711354321") == "0711354321"
    assert agency_caller(config, "palembang-damkar", WITHHELD) == ""  # never a marker
    assert agency_caller(config, "palembang-damkar", "+6591234567") == ""  # no national form
    assert agency_caller(config, "", "+62711354321") == ""  # no agency: the queue
