"""The AML SMS and ELS HTTPS parsers (ntpd_ivr/location/aml.py): real-shaped samples
from the ELS and ETSI AML specifications (with Indonesian positions and numbers), every
refusal with its reason, and a fuzz test: whatever arrives, a fix or a refusal, never an
exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpd_ivr.location.aml import (
    FixRefusal,
    LocationFix,
    is_aml,
    parse_aml_sms,
    parse_els_body,
    parse_els_fields,
)

# The ELS SMS specification's "location calculated" example, as sent (ml as published).
ELS_EXAMPLE = ('A"ML=1;lt=+51.53321;lg=-0.12601;rd=14;top=20220131171748;lc=68;pm=W;'
               'si=234159000000000;ei=123456789012345;mcc=234;mnc=15;ml=126')
ELS_NO_LOCATION = ('A"ML=1;lt=+00.00000;lg=+000.00000;rd=N;top=20220131173734;lc=0;pm=N;'
                   'si=234159000000000;ei=123456789012345;mcc=234;mnc=15;ml=127')
# Palembang (Musi river), a Telkomsel SIM (MCC 510, MNC 10), GNSS fix.
PALEMBANG = ('A"ML=1;lt=-2.97610;lg=+104.77540;rd=12;top=20261207091500;lc=68;pm=G;'
             'si=510100000000000;ei=355458061005220;mcc=510;mnc=10;ml=125')


def fix(result: LocationFix | FixRefusal) -> LocationFix:
    assert isinstance(result, LocationFix), result
    return result


def refusal(result: LocationFix | FixRefusal) -> str:
    assert isinstance(result, FixRefusal), result
    return result.reason


def test_the_els_example_reads_with_every_field() -> None:
    got = fix(parse_aml_sms(ELS_EXAMPLE, "+447700900123"))
    assert (got.lat, got.lon, got.radius_m, got.confidence) == (51.53321, -0.12601, 14.0, 68)
    assert got.time == datetime(2022, 1, 31, 17, 17, 48, tzinfo=UTC)
    assert got.method == "wifi" and got.source == "aml-sms"
    assert (got.imsi, got.imei, got.mcc, got.mnc) == ("234159000000000", "123456789012345",
                                                      "234", "15")
    assert got.caller == "+447700900123"


@pytest.mark.parametrize("sender", ["+6281234567890", "6281234567890", "081234567890",
                                    "81234567890"])
def test_an_indonesian_sender_becomes_canonical(sender: str) -> None:
    got = fix(parse_aml_sms(PALEMBANG, sender))
    assert got.caller == "+6281234567890"
    assert (got.lat, got.lon, got.method, got.mcc, got.mnc) == (-2.9761, 104.7754, "gnss",
                                                                 "510", "10")


def test_a_sender_that_is_no_number_keeps_the_fix_without_a_caller() -> None:
    assert fix(parse_aml_sms(PALEMBANG, "112")).caller is None
    assert fix(parse_aml_sms(PALEMBANG, None)).caller is None


def test_accuracy_and_confidence_may_be_absent() -> None:
    got = fix(parse_aml_sms('A"ML=1;lt=-2.9;lg=104.7;rd=N;pm=C;lc=', "081234567890"))
    assert (got.radius_m, got.confidence, got.time, got.imei) == (None, None, None, None)
    assert got.method == "cell"


@pytest.mark.parametrize(("text", "reason"), [
    (ELS_NO_LOCATION, "no location (pm=N)"),
    ('A"ML=2;lt=-2.9;lg=104.7;pm=G', "version '2' is not 1"),
    ('A"ML=1;lg=104.7;pm=G', "no lt"),
    ('A"ML=1;lt=-2.9;lg=104.7', "no pm"),
    ('A"ML=1;lt=-2.9;lg=104.7;pm=X', "unknown positioning method"),
    ('A"ML=1;lt=-92.0;lg=104.7;pm=G', "outside ±90"),
    ('A"ML=1;lt=-2.9;lg=190.5;pm=G', "outside ±180"),
    ('A"ML=1;lt=0;lg=0;pm=G', "(0,0)"),
    ('A"ML=1;lt=-2,9;lg=104.7;pm=G', "lt: not degrees"),
    ('A"ML=1;lt=1e1;lg=104.7;pm=G', "lt: not degrees"),
    ('A"ML=1;lt=NaN;lg=104.7;pm=G', "lt: not degrees"),
    ('A"ML=1;lt=-2.9;lg=104.7;pm=G;rd=-5', "rd: not metres"),
    ('A"ML=1;lt=-2.9;lg=104.7;pm=G;rd=5000000', "vaguer"),
    ('A"ML=1;lt=-2.9;lg=104.7;pm=G;lc=101', "lc: not a percentage"),
    ('A"ML=1;lt=-2.9;lg=104.7;pm=G;top=20261332000000', "top: not a date"),
    ('A"ML=1;lt=-2.9;lg=104.7;pm=G;top=2026', "top: not yyyyMMddHHmmss"),
    ('A"ML=1;lt=-2.9;lg=104.7;pm=G;ei=35545806100522X', "ei: expected"),
    ('A"ML=1;lt=-2.9;lg=104.7;pm=G;mcc=5100', "mcc: expected"),
    ('A"ML=1;lt=-2.9;lt=-3.0;lg=104.7;pm=G', "lt given twice"),
    ('A"ML=1;lt=-2.9;lg;pm=G', "without '='"),
    ('A"ML=1;lt=٣;lg=104.7;pm=G', "lt: not degrees"),      # Arabic-Indic digit
    ('A"ML=1;lt=-2.9\n;lg=104.7;pm=G', None),               # stripped field: fine
    ("Tolong ada kebakaran di Jalan Merdeka", "not an AML message"),
    ('A"ML=1;' + "x=1;" * 300, "longer than"),
])
def test_malformed_aml_is_refused_with_its_reason(text: str, reason: str | None) -> None:
    result = parse_aml_sms(text, "081234567890")
    if reason is None:
        fix(result)
        return
    assert reason in refusal(result)
    assert isinstance(result, FixRefusal) and len(result.raw) <= 512


def test_is_aml_looks_at_the_start_only() -> None:
    assert is_aml(PALEMBANG) and is_aml("  " + PALEMBANG)
    assert not is_aml("halo " + PALEMBANG)


ELS_FORM = (b"v=1&emergency_number=112&source=CALL&time=1765098900000"
            b"&location_latitude=-2.9761045&location_longitude=104.7754123"
            b"&location_time=1765098905123&location_accuracy=8.5&location_source=gps"
            b"&location_confidence=68&device_number=%2B6281234567890"
            b"&device_imei=355458061005220&device_imsi=510100000000000"
            b"&cell_network_mcc=510&cell_network_mnc=10")


def test_an_els_https_form_body_reads_with_every_field() -> None:
    got = fix(parse_els_body(ELS_FORM, "application/x-www-form-urlencoded"))
    assert (got.lat, got.lon, got.radius_m, got.method) == (-2.9761045, 104.7754123, 8.5,
                                                             "gnss")
    assert got.time == datetime.fromtimestamp(1765098905.123, UTC)
    assert (got.caller, got.imei, got.imsi, got.mcc, got.mnc) == (
        "+6281234567890", "355458061005220", "510100000000000", "510", "10")
    assert got.emergency_number == "112" and got.source == "els-https"
    assert got.confidence == 68


def test_an_els_json_body_reads_the_same() -> None:
    body = (b'{"v": 1, "location_latitude": -2.9761045, "location_longitude": 104.7754123,'
            b' "location_accuracy": 8.5, "location_source": "wifi", "time": 1765098900000,'
            b' "device_number": "081234567890", "aei": {"medical": "x"}}')
    got = fix(parse_els_body(body, "application/json; charset=utf-8"))
    assert (got.method, got.caller) == ("wifi", "+6281234567890")
    assert got.time == datetime.fromtimestamp(1765098900, UTC)  # no location_time: call's


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (b"v=1&location_latitude=-2.9", "application/x-www-form-urlencoded", "no location_"),
    (b"location_latitude=a&location_longitude=b", "", "not degrees"),
    (b"location_latitude=1&location_longitude=2&location_source=laser", "", "unknown"),
    (b"location_latitude=1&location_longitude=2&v=9", "", "unknown version"),
    (b"location_latitude=1&location_longitude=2&location_time=-5", "", "not milliseconds"),
    (b"location_latitude=1&location_longitude=2&time=999999999999999", "",
     "not a time we can read"),
    (b"location_latitude=1&location_longitude=2&emergency_number=11a", "", "not digits"),
    (b"\xff\xfe", "", "not UTF-8"),
    (b"[1, 2]", "application/json", "not an object"),
    (b"{", "application/json", "not JSON"),
    (b"[" * 100_000, "application/json", "larger than"),
    (b"&".join([b"a=1"] * 300), "", "too many fields"),
])
def test_malformed_els_bodies_are_refused(body: bytes, content_type: str, reason: str) -> None:
    assert reason in refusal(parse_els_body(body, content_type))


# Fuzz: any text, and AML-shaped texts with any values in the known keys.
AML_KEYS = ["lt", "lg", "rd", "top", "lc", "pm", "si", "ei", "mcc", "mnc", "ml", "zz"]
field_value = st.one_of(st.text(max_size=20), st.from_regex(r"[+-]?[0-9]{1,4}\.[0-9]{0,7}",
                                                             fullmatch=True),
                        st.sampled_from(["N", "G", "W", "C", "", "0", "100"]))


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=20)))
def test_fuzz_any_text_gives_a_fix_or_a_refusal(text: str, sender: str | None) -> None:
    assert isinstance(parse_aml_sms(text, sender), LocationFix | FixRefusal)
    assert isinstance(parse_aml_sms('A"ML=' + text, sender), LocationFix | FixRefusal)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(AML_KEYS), field_value, max_size=12))
def test_fuzz_aml_shaped_texts(fields: dict[str, str]) -> None:
    text = 'A"ML=1;' + ";".join(f"{k}={v}" for k, v in fields.items())
    result = parse_aml_sms(text, "081234567890")
    if isinstance(result, LocationFix):
        assert -90 <= result.lat <= 90 and -180 <= result.lon <= 180
        assert result.radius_m is None or 0 <= result.radius_m <= 1_000_000


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["", "application/json",
                                                  "application/x-www-form-urlencoded"]))
def test_fuzz_els_bodies(body: bytes, content_type: str) -> None:
    assert isinstance(parse_els_body(body, content_type), LocationFix | FixRefusal)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(
    ["v", "location_latitude", "location_longitude", "location_accuracy", "location_time",
     "time", "location_source", "location_confidence", "device_number", "device_imei",
     "device_imsi", "cell_network_mcc", "cell_network_mnc", "emergency_number"]),
    field_value, max_size=14))
def test_fuzz_els_fields(fields: dict[str, str]) -> None:
    assert isinstance(parse_els_fields(fields), LocationFix | FixRefusal)
