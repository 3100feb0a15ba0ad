"""The [feed] settings: checked at start-up, errors naming the file and key; and the
feed's periods, aligned on the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ntpd_ivr.errors import ConfigError
from ntpd_ivr.feed.service import period_start
from ntpd_ivr.settings import load_settings

BASE = ('[ami]\nsecret = "s"\n[database]\n'
        'url = "postgresql+asyncpg://ntpd:pw@127.0.0.1:5433/ntpd"\n[feed]\n')


@pytest.mark.parametrize(("feed", "message"), [
    ('url = "http://monitoring.example/push"\n', "feed.url must be an https:// URL"),
    ('url = "https://m.example/push"\ninterval_seconds = 0\n',
     "feed.interval_seconds must be positive"),
    ('url = "https://m.example/push"\nca_file = "/nonexistent/ca.pem"\n',
     "feed.ca_file: /nonexistent/ca.pem is not a file"),
    ('url = "https://m.example/push"\nbearer_token_file = "/nonexistent/t"\n',
     "feed.bearer_token_file"),
    ('url = "https://m.example/push"\ninterval = 60\n', "unknown key feed.interval"),
])
def test_bad_feed_settings_name_file_and_key(tmp_path: Path, feed: str, message: str) -> None:
    path = tmp_path / "ntpd-ivr.toml"
    path.write_text(BASE + feed)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_no_url_no_feed_and_a_good_one(tmp_path: Path) -> None:
    path = tmp_path / "ntpd-ivr.toml"
    path.write_text(BASE)
    assert load_settings(path, environ={}).feed.url == ""
    token = tmp_path / "token"
    token.write_text("x")
    path.write_text(BASE + f'url = "https://m.example/push"\nbearer_token_file = "{token}"\n')
    assert load_settings(path, environ={}).feed.interval_seconds == 300.0


def test_periods_are_aligned_on_the_clock() -> None:
    five = timedelta(minutes=5)
    at = datetime(2026, 11, 29, 3, 7, 41, tzinfo=UTC)
    assert period_start(at, five) == datetime(2026, 11, 29, 3, 5, tzinfo=UTC)
    assert period_start(datetime(2026, 11, 29, 3, 5, tzinfo=UTC), five) == datetime(
        2026, 11, 29, 3, 5, tzinfo=UTC)
