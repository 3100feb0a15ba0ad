"""Warning campaigns, the pure parts: CSV import, numbers, retry schedule, pacing, outcomes,
the report."""

from __future__ import annotations

import pytest

from ntpd_ivr.campaigns import model
from ntpd_ivr.campaigns.model import (
    BUSY,
    CONFIRMED,
    FAILED,
    NO_ANSWER,
    ContactImportError,
    ContactOutcome,
    PacingDecision,
    PacingLimits,
    QueueLoad,
    RetryPolicy,
    next_attempt_at,
    pace,
    parse_contacts_csv,
)

HEADER = "name,number,role,kecamatan,desa,language\n"


def test_good_rows_are_imported_with_numbers_normalised() -> None:
    plan = parse_contacts_csv(
        HEADER
        + "Pak Budi,0812-3456-7890,Kepala-Desa,Sekayu,Balai Agung,id\n"
        + "Bu Sari,+62 711 123456,guru,Sekayu,Kayuara,EN\n"
        + "Posyandu,62 812 1111 2222,,Lais,,\n")
    assert [c.number for c in plan.contacts] == ["+6281234567890", "+62711123456",
                                                 "+6281211112222"]
    first, second, third = plan.contacts
    assert first.role == "kepala-desa" and first.desa == "Balai Agung"
    assert second.language == "en"
    assert third.language == "id" and third.role == ""
    assert (plan.rows, plan.merged) == (3, 0)


def test_duplicate_numbers_are_merged_later_fields_win_empty_ones_keep() -> None:
    plan = parse_contacts_csv(
        HEADER
        + "Pak Budi,081234567890,kepala-desa,Sekayu,Balai Agung,id\n"
        + "Budi Santoso,+6281234567890,,,,en\n")
    assert plan.merged == 1 and plan.rows == 2
    (contact,) = plan.contacts
    assert contact == model.Contact("Budi Santoso", "+6281234567890", "kepala-desa",
                                    "Sekayu", "Balai Agung", "en")


@pytest.mark.parametrize(("text", "line", "words"), [
    (HEADER + "Pak Budi,081234567890,,,,\nBu Sari,12345,,,,\n", 3, "not an Indonesian"),
    (HEADER + "Pak Budi,,,,,\n", 2, "not an Indonesian"),
    (HEADER + ",081234567890,,,,\n", 2, "name is empty"),
    (HEADER + "Pak Budi,081234567890,,,,jv\n", 2, "language"),
    (HEADER + "Pak Budi,081234567890,,,,id,extra\n", 2, "more fields"),
    (HEADER + "Pak Budi,+14155550100,,,,\n", 2, "not an Indonesian"),
    (HEADER + "Pak Budi,112,,,,\n", 2, "not an Indonesian"),
    ("nama,nomor\nBudi,0812\n", 1, "header"),
    ("", 1, "empty file"),
    (HEADER + "Pak\x07Budi,081234567890,,,,\n", 2, "control characters"),
])
def test_a_bad_row_is_refused_with_its_line_number(text: str, line: int, words: str) -> None:
    with pytest.raises(ContactImportError) as caught:
        parse_contacts_csv(text)
    assert caught.value.line == line
    assert words in str(caught.value) and str(caught.value).startswith(f"line {line}:")


def test_blank_lines_and_a_byte_order_mark_are_fine() -> None:
    plan = parse_contacts_csv("\ufeff" + HEADER + "\nPak Budi,081234567890,,,,\n,,,,,\n")
    assert len(plan.contacts) == 1 and plan.rows == 1


def test_only_the_columns_it_needs() -> None:
    plan = parse_contacts_csv("number,name\n0711 123456,Kantor Camat\n")
    assert plan.contacts[0].number == "+62711123456"


@pytest.mark.parametrize(("raw", "canonical"), [
    ("081234567890", "+6281234567890"), ("+6281234567890", "+6281234567890"),
    ("6281234567890", "+6281234567890"), ("0812 3456 7890", "+6281234567890"),
    ("(0711) 123456", "+62711123456"), ("0062 812 3456 7890", "+6281234567890"),
    ("81234567890", "+6281234567890"),
])
def test_numbers_normalise_to_the_canonical_form(raw: str, canonical: str) -> None:
    assert model.normalise_number(raw) == canonical
    assert model.dialled_number(canonical) == "0" + canonical[3:]


@pytest.mark.parametrize("raw", ["112", "+14155550100", "0812", "abc", "", "withheld"])
def test_what_is_not_an_indonesian_line_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        model.normalise_number(raw)


POLICY = RetryPolicy(max_attempts=3, no_answer_seconds=300, busy_seconds=120,
                     failed_seconds=600)


@pytest.mark.parametrize(("outcome", "attempts", "expected"), [
    (NO_ANSWER, 1, 1000 + 300), (BUSY, 1, 1000 + 120), (FAILED, 2, 1000 + 600),
    (NO_ANSWER, 3, None),  # out of attempts
    (BUSY, 3, None),
    (CONFIRMED, 1, None),  # reached: never again
    (model.ANSWERED, 1, None),
])
def test_retry_schedule(outcome: str, attempts: int, expected: float | None) -> None:
    assert next_attempt_at(POLICY, outcome, attempts, 1000.0) == expected


def test_retry_policy_bounds() -> None:
    RetryPolicy(1, 0, 0, 0).validate()
    for bad in (RetryPolicy(0), RetryPolicy(11), RetryPolicy(3, -1), RetryPolicy(3, 1, 90000)):
        with pytest.raises(ValueError):
            bad.validate()


LIMITS = PacingLimits(max_channels=10, calls_per_second=4, max_queue_wait_seconds=10,
                      min_free_takers=1, ramp_seconds=0)
CALM = QueueLoad("takers-plg", logged_in=4, available=3, longest_wait_seconds=0)


@pytest.mark.parametrize(("queues", "active", "started", "expected"), [
    ([CALM], 0, 0, PacingDecision(4)),                       # the rate bounds it
    ([CALM], 8, 0, PacingDecision(2)),                       # the channels bound it
    ([CALM], 10, 0, PacingDecision(0)),                      # all channels in use
    ([CALM], 0, 4, PacingDecision(0)),                       # this second's calls made
    ([CALM], 0, 3, PacingDecision(1)),
    ([CALM, QueueLoad("takers-muba", 2, 2, 11)], 0, 0, PacingDecision(0, "queue-wait")),
    ([CALM, QueueLoad("takers-muba", 2, 2, 10)], 0, 0, PacingDecision(0, "queue-busy")),
    ([CALM, QueueLoad("takers-muba", 2, 2, 6)], 0, 0, PacingDecision(0, "queue-busy")),
    ([CALM, QueueLoad("takers-muba", 2, 2, 5)], 0, 0, PacingDecision(4)),  # at the hold
    ([QueueLoad("takers-plg", 4, 0, 0)], 0, 0, PacingDecision(0, "free-takers")),
    ([QueueLoad("takers-plg", 0, 0, 0)], 0, 0, PacingDecision(4)),  # nobody logged in there
    # ... but 112 callers wait there with no call-taker phone reachable: they come first
    ([QueueLoad("takers-plg", 0, 0, 1, callers=3)], 0, 0, PacingDecision(0, "free-takers")),
    ([QueueLoad("takers-plg", 4, 1, 1, callers=3)], 0, 0, PacingDecision(4)),  # one is free
    (None, 0, 0, PacingDecision(0, "queue-state-unknown")),
    ([], 0, 0, PacingDecision(4)),                           # no 112 queue to protect
    ([QueueLoad("q", 4, 0, 30)], 0, 0, PacingDecision(0, "queue-wait")),  # wait first
])
def test_pacing_decision(queues: list[QueueLoad] | None, active: int, started: int,
                         expected: PacingDecision) -> None:
    assert pace(LIMITS, queues, active, started) == expected


def test_a_short_wait_holds_a_long_one_pauses_and_zero_turns_the_hold_off() -> None:
    assert pace(LIMITS, [QueueLoad("q", 4, 2, 7)], 0, 0).held
    assert not pace(LIMITS, [QueueLoad("q", 4, 2, 11)], 0, 0).held  # a pause, not a hold
    no_hold = PacingLimits(max_channels=10, calls_per_second=4, max_queue_wait_seconds=10,
                           min_free_takers=1, ramp_seconds=0, hold_queue_wait_seconds=0)
    assert pace(no_hold, [QueueLoad("q", 4, 2, 7)], 0, 0) == PacingDecision(4)


def test_pacing_resumes_when_the_queue_recovers() -> None:
    busy = [QueueLoad("q", 4, 0, 25)]
    calm = [QueueLoad("q", 4, 2, 3)]
    assert [pace(LIMITS, q, 0, 0).start for q in (calm, busy, busy, calm)] == [4, 0, 0, 4]


@pytest.mark.parametrize(("running", "active", "started", "expected"), [
    (0.0, 0, 0, 1),     # just started (or out of a pause): one call
    (0.0, 1, 0, 0),     # ... and one channel
    (15.0, 0, 0, 1),    # a quarter of the way: 2.5 channels, 1 call/s
    (30.0, 0, 0, 2),    # half: 5 channels, 2 calls/s
    (30.0, 4, 0, 1),
    (60.0, 0, 0, 4),    # full speed
    (600.0, 9, 0, 1),
])
def test_pacing_ramps_up_after_a_start_or_a_pause(running: float, active: int, started: int,
                                                  expected: int) -> None:
    ramped = PacingLimits(max_channels=10, calls_per_second=4, min_free_takers=0,
                          ramp_seconds=60)
    assert pace(ramped, [CALM], active, started, running).start == expected


def test_slow_rates_start_one_call_at_a_time() -> None:
    slow = PacingLimits(max_channels=10, calls_per_second=0.5, min_free_takers=0,
                        ramp_seconds=0)
    assert pace(slow, [], 0, 0).start == 1
    assert pace(slow, [], 0, 1).start == 0


@pytest.mark.parametrize(("response", "reason", "cause", "expected"), [
    ("Success", 4, None, None), ("Failure", 3, None, NO_ANSWER),
    ("Failure", 5, None, BUSY), ("Failure", 8, None, FAILED),
    ("Failure", 0, 17, BUSY), ("Failure", 0, 34, FAILED), ("Failure", 0, 19, NO_ANSWER),
    ("Failure", 0, None, FAILED), ("Failure", 1, 16, FAILED),
])
def test_originate_outcome(response: str, reason: int, cause: int | None,
                           expected: str | None) -> None:
    assert model.originate_outcome(response, reason, cause) == expected


def test_reason_zero_waits_for_the_hangup_cause() -> None:
    assert model.needs_cause("Failure", 0)
    assert not model.needs_cause("Failure", 5) and not model.needs_cause("Success", 4)


def test_target_matches_case_insensitively_and_empty_means_all() -> None:
    contact = model.Contact("Budi", "+6281234567890", "kepala-desa", "Sekayu", "Balai Agung")
    assert model.Target().matches(contact)
    assert model.Target(kecamatan=("sekayu",), roles=("kepala-desa",)).matches(contact)
    assert not model.Target(kecamatan=("Lais",)).matches(contact)
    assert not model.Target(desa=("Kayuara",)).matches(contact)


def test_campaign_draft_validation() -> None:
    good = model.CampaignDraft("Banjir", "Peringatan banjir.", model.Target(), "warning-trunk",
                               "+62711112")
    good.validate(["warning-trunk"])
    for bad, trunks in [
        (model.CampaignDraft("Banjir", "x", model.Target(), "other", "+62711112"),
         ["warning-trunk"]),
        (model.CampaignDraft("", "x", model.Target(), "warning-trunk", "+62711112"),
         ["warning-trunk"]),
        (model.CampaignDraft("B", "", model.Target(), "warning-trunk", "+62711112"),
         ["warning-trunk"]),
        (model.CampaignDraft("B", "x", model.Target(), "warning-trunk", "112;evil"),
         ["warning-trunk"]),
        (model.CampaignDraft("B", "x", model.Target(), "warning-trunk", "+62711112",
                             recording="/tmp/a.wav"), ["warning-trunk"]),
    ]:
        with pytest.raises(ValueError):
            bad.validate(trunks)


def outcome(n: int, result: str, confirmed_at: float | None = None,
            attempts: int = 1) -> ContactOutcome:
    return ContactOutcome(n, f"c{n}", f"+62812000000{n:02d}", result, attempts, confirmed_at)


def test_report_reached_confirmed_and_times() -> None:
    outcomes = [outcome(i, CONFIRMED, 100.0 + 10 * i) for i in range(9)]
    outcomes += [outcome(9, model.ANSWERED), outcome(10, BUSY, attempts=3), outcome(11, "")]
    figures = model.report(outcomes, started_at=100.0)
    assert (figures.contacts, figures.reached, figures.confirmed) == (12, 10, 9)
    assert figures.by_outcome["pending"] == 1 and figures.by_outcome[BUSY] == 1
    assert figures.attempts == 14
    assert figures.first_confirmed_seconds == 0.0
    assert figures.ninety_percent_confirmed_seconds is None  # 9 of 12 < 90 %


def test_report_ninety_percent() -> None:
    outcomes = [outcome(i, CONFIRMED, 10.0 * (i + 1)) for i in range(9)]
    outcomes.append(outcome(9, NO_ANSWER, attempts=3))
    figures = model.report(outcomes, started_at=0.0)
    assert figures.first_confirmed_seconds == 10.0
    assert figures.ninety_percent_confirmed_seconds == 90.0  # the 9th of 10
    assert model.report([], None).first_confirmed_seconds is None


def test_warning_settings_are_validated_with_the_key_named() -> None:
    from ntpd_ivr.errors import ConfigError
    from ntpd_ivr.settings import load_settings

    base = {"NTPD_IVR_AMI_SECRET": "s", "NTPD_IVR_DATABASE_URL": "postgresql+asyncpg://x/y"}
    settings = load_settings(environ={**base, "NTPD_IVR_WARNINGS_MAX_CHANNELS": "4",
                                      "NTPD_IVR_WARNINGS_TRUNKS": "a,b"})
    assert settings.warnings.max_channels == 4 and settings.warnings.trunks == "a,b"
    for key, value in (("MAX_CHANNELS", "0"), ("CALLS_PER_SECOND", "0"),
                       ("RAMP_SECONDS", "-1"), ("MAX_PLAYS", "x")):
        with pytest.raises(ConfigError, match=f"warnings.{key.lower()}"):
            load_settings(environ={**base, f"NTPD_IVR_WARNINGS_{key}": value})


def test_a_regional_language_in_the_settings_is_a_contact_language() -> None:
    csv_text = HEADER + "Kades,081200000001,,,,jv\n"
    with pytest.raises(ContactImportError, match="one of id, en, not 'jv'"):
        parse_contacts_csv(csv_text)
    plan = parse_contacts_csv(csv_text, model.contact_languages("jv"))
    assert plan.contacts[0].language == "jv"
    assert model.contact_languages("") == ("id", "en")


def test_each_contact_hears_the_message_of_their_language() -> None:
    files = {"message_file": "/m/id", "regional_language": "jv", "regional_file": "/m/jv"}
    assert model.message_for("jv", **files) == ("/m/jv", "id")  # prompts: id and en only
    assert model.message_for("id", **files) == ("/m/id", "id")
    assert model.message_for("en", **files) == ("/m/id", "en")
    # A campaign without a regional message: everyone hears the Bahasa Indonesia one.
    assert model.message_for("jv", message_file="/m/id", regional_language="",
                             regional_file="") == ("/m/id", "id")


def test_a_regional_message_needs_the_settings_regional_language() -> None:
    draft = model.CampaignDraft(title="Banjir", message_text="Peringatan banjir.",
                                target=model.Target(), trunk="warning-trunk",
                                caller_id="112", message_text_regional="Pènget banjir.")
    with pytest.raises(ValueError, match="no regional language is set"):
        draft.validate(["warning-trunk"])
    draft.validate(["warning-trunk"], "jv")
    too_long = model.CampaignDraft(title="Banjir", message_text="x", target=model.Target(),
                                   trunk="warning-trunk", caller_id="112",
                                   message_text_regional="x" * 1001)
    with pytest.raises(ValueError, match="at most 1000"):
        too_long.validate(["warning-trunk"], "jv")
