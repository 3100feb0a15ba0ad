"""The [wall], [callbacks] and [recordings] settings: defaults, and errors that name the
file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntpd_ivr.errors import ConfigError
from ntpd_ivr.settings import load_settings

BASE = '[ami]\nsecret = "s"\n[database]\nurl = "postgresql+asyncpg://u:p@127.0.0.1/d"\n'


def test_defaults_follow_the_issue() -> None:
    settings = load_settings(None, environ={"NTPD_IVR_AMI_SECRET": "s",
                                            "NTPD_IVR_DATABASE_URL":
                                            "postgresql+asyncpg://u:p@127.0.0.1/d"})
    assert settings.callbacks.dedupe_minutes == 10 and settings.callbacks.max_attempts == 3
    assert settings.callbacks.priority_header is True and settings.callbacks.trunk == ""
    assert settings.recordings.dir == "" and settings.recordings.retention_days == 90
    assert settings.wall.member_refresh_seconds == 5


@pytest.mark.parametrize(("extra", "message"), [
    ("[callbacks]\nmax_attempts = 0\n", "callbacks.max_attempts must be positive"),
    ("[callbacks]\ntrunk = \"a b\"\n", "callbacks.trunk must be a PJSIP endpoint name"),
    ("[recordings]\nretention_days = -1\n", "recordings.retention_days must be positive"),
    ("[wall]\nwrapup_seconds = -5\n", "wall.wrapup_seconds must be 0 or positive"),
    ("[wall]\nstale_after = 3\n", "unknown key wall.stale_after"),
    ("[callbacks]\ncaller_id = \"112,x\"\n", "callbacks.caller_id must be a number"),
])
def test_bad_values_name_file_and_key(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "ntpd-ivr.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert message in str(caught.value) and str(path) in str(caught.value)
