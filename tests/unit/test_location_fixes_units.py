"""The location model's one rule ("best and newest wins"), the [location] settings, the
ELS receiver's rate limit and Kannel's status as the SMS plugin reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ntpd_ivr.location.model import BEST_WITHIN_SECONDS, DeskFix, best_first
from ntpd_ivr.settings import ConfigError, load_settings
from ntpd_ivr.sms.gateway import kannel_status
from ntpd_ivr.web.ratelimit import RateLimit
from ntpd_ivr.workspace.plugin import POP_FIXES

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def fix(source: str, radius: float | None, seconds: float) -> DeskFix:
    return DeskFix(source, -2.9, 104.7, radius, "gnss",  # type: ignore[arg-type]
                   T0 + timedelta(seconds=seconds))


def test_within_a_minute_of_the_newest_the_most_accurate_wins() -> None:
    network, aml, els = fix("network", 500, 0), fix("aml", 12, 20), fix("els", 30, 50)
    assert best_first([network, aml, els]) == [aml, els, network]


def test_a_much_newer_fix_beats_an_older_more_accurate_one() -> None:
    old = fix("aml", 5, 0)
    new = fix("link", 40, BEST_WITHIN_SECONDS + 1)
    assert best_first([old, new]) == [new, old]


def test_no_radius_is_the_worst_and_equal_radius_goes_to_the_newer() -> None:
    vague, a, b = fix("aml", None, 10), fix("els", 20, 0), fix("link", 20, 5)
    assert best_first([vague, a, b])[0] == b
    assert best_first([]) == []
    timeless = DeskFix("network", 1.0, 2.0, 1.0, "point", None)
    assert best_first([timeless, a])[0] == a  # no time: the oldest


def test_desk_fix_json_round_trips() -> None:
    one = fix("aml", 12, 0)
    assert DeskFix.from_json(one.as_json()) == one
    assert one.as_json() == {"source": "aml", "lat": -2.9, "lon": 104.7, "radius_m": 12,
                             "method": "gnss", "at": "2026-12-07T09:00:00+00:00"}


BASE = {"ami": {"secret": "x"}, "database": {"url": "postgresql+asyncpg://u@h/d"}}


@pytest.mark.parametrize(("location", "message"), [
    ({"match_window_seconds": 0}, "location.match_window_seconds must be positive"),
    ({"els_enabled": True}, "location.els_credentials: at least one operator:secret"),
    ({"els_enabled": True, "els_credentials": "telkomsel:short"},
     "location.els_credentials: telkomsel: an operator name and a secret"),
    ({"els_enabled": True, "els_credentials": "t:0123456789abcdef", "els_host": "localhost"},
     "location.els_host must be an IP address"),
    ({"els_enabled": True, "els_credentials": "t:0123456789abcdef", "els_port": 70000},
     "location.els_port must be 1-65535"),
])
def test_bad_location_settings_are_refused_by_name(location: dict[str, object],
                                                   message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, environ={}, overrides={**BASE, "location": location})


def test_els_credentials_per_operator() -> None:
    settings = load_settings(None, environ={}, overrides={**BASE, "location": {
        "els_enabled": True,
        "els_credentials": "telkomsel:0123456789abcdef, indosat:fedcba9876543210"}})
    assert settings.location.els_enabled and settings.location.els_port == 13090


def test_the_rate_limit_is_a_sliding_minute_per_address() -> None:
    now = [0.0]
    limit = RateLimit(2, clock=lambda: now[0])
    assert [limit.allow("a"), limit.allow("a"), limit.allow("a"), limit.allow("b")] == [
        True, True, False, True]
    now[0] = 60.0
    assert limit.allow("a")


@pytest.mark.parametrize(("text", "up", "why"), [
    ("Kannel bearerbox version `1.4.5'.\nStatus: running, uptime 0d 0h 0m 9s\n"
     "Box connections:\n    smsbox:(none), IP 127.0.0.1 (0 queued)\n"
     "SMSC connections:\n    fake[fake] FAKE:127.0.0.1:13010 (online 8s, rcvd 0)", True, ""),
    ("Status: running\nBox connections:\nSMSC connections:\n", False,
     "no smsbox connected to bearerbox"),
    ("Status: running\n smsbox:(none)\n fake[fake] (re-connecting)", False, "no SMSC online"),
    ("", False, "bearerbox not running"),
])
def test_kannel_status_says_why_the_gateway_is_down(text: str, up: bool, why: str) -> None:
    assert kannel_status(text) == (up, why)


def test_with_sms_els_and_the_link_on_the_plugins_wire_them() -> None:
    from ntpd_ivr.app import Service

    secret = "0123456789abcdef0123"
    settings = load_settings(None, environ={}, overrides={
        **BASE, "sms": {"enabled": True, "admin_password": secret,
                        "sendsms_password": secret, "shared_secret": secret},
        "location": {"els_enabled": True, "els_credentials": f"op:{secret}",
                     "link_enabled": True, "link_base_url": "https://lokasi.112.example"}})
    service = Service(settings)  # nothing started: no connection is made
    by_name = {p.name: p for p in service.domains}
    assert by_name["sms"].start and by_name["sms"].stop and by_name["location"].start
    # In: before the web's stop the location listeners; the SMS before the tasks' cancel.
    stopped = [p.name for p in sorted(service.plugins, key=lambda p: p.stop_phase)
               if p.stop is not None]
    assert stopped.index("location") < stopped.index("sms") < stopped.index("tasks")
    assert service.workspace.location_link()  # the desk offers the link button
    assert service.core.services.get(POP_FIXES) is not None  # and pops carry the fixes
    _, detail = service.health()
    assert detail["sms"]["kannel"] is None and detail["location"]["els"] == {}
