"""The SMS domain's pure parts: the [sms] settings (layered, errors naming file and key),
kannel.conf as rendered (loopback, our passwords, fake or SMPP SMSC), sendsms replies and
delivery-report types."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntpd_ivr.errors import ConfigError, StackError
from ntpd_ivr.settings import SmsSettings, load_settings
from ntpd_ivr.sms import model
from ntpd_ivr.sms.gateway import dlr_url
from ntpd_ivr.stack.kannel import KannelConfig, get_url, render
from tests.unit.test_settings import write

BASE = """
[ami]
secret = "s3cret"
[database]
url = "postgresql+asyncpg://ntpd:pw@127.0.0.1:5433/ntpd"
"""
SMS_ON = """
[sms]
enabled = true
admin_password = "admin-password-0123456789"
sendsms_password = "sendsms-password-0123456789"
shared_secret = "shared-secret-0123456789"
"""


def test_sms_settings_layer_like_the_others(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + SMS_ON + 'smsc_port = 12000\n')
    settings = load_settings(path, environ={"NTPD_IVR_SMS_SENDSMS_PORT": "14013"})
    assert settings.sms.enabled and settings.sms.smsc == "fake"
    assert (settings.sms.smsc_port, settings.sms.sendsms_port) == (12000, 14013)
    assert not load_settings(write(tmp_path, BASE)).sms.enabled  # off by default


def test_a_short_generated_password_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + SMS_ON.replace("admin-password-0123456789", "short"))
    with pytest.raises(ConfigError, match=r"sms\.admin_password must be at least 16"):
        load_settings(path, environ={})


@pytest.mark.parametrize(("extra", "message"), [
    ('sendsms_port = "many"\n', "ntpd-ivr.toml: sms.sendsms_port: expected a whole number"),
    ("sendsms_port = 70000\n", "sms.sendsms_port must be 1-65535"),
    ('smsc = "http"\n', "sms.smsc must be one of fake, smpp"),
    ('smsc = "smpp"\n', "sms.smpp_system_id and sms.smpp_password must be set"),
    ('receiver_host = "localhost.example"\n', "sms.receiver_host must be an IP address"),
    ('sender = "NTPD"\n', "sms.sender must be a number"),
    ("retry_seconds = 0\n", "sms.retry_seconds must be positive"),
    ("colour = 1\n", "unknown key sms.colour"),
])
def test_sms_setting_errors_name_the_file_and_key(tmp_path: Path, extra: str,
                                                  message: str) -> None:
    path = write(tmp_path, BASE + SMS_ON + extra)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def sms(**values: object) -> SmsSettings:
    base: dict[str, object] = {"enabled": True, "admin_password": "A" * 20,
                               "sendsms_password": "S" * 20, "shared_secret": "K" * 20}
    return SmsSettings(**{**base, **values})  # type: ignore[arg-type]


def test_kannel_conf_for_the_fake_smsc_is_loopback_only(tmp_path: Path) -> None:
    text = render(KannelConfig(tmp_path, sms(smsc_port=12000), "http://127.0.0.1:9000"))
    assert "smsc = fake\n" in text and "port = 12000\n" in text
    assert 'admin-password = "' + "A" * 20 + '"' in text
    assert 'password = "' + "S" * 20 + '"' in text
    for line in ("admin-interface = 127.0.0.1", "sendsms-interface = 127.0.0.1",
                 "box-allow-ip = 127.0.0.1", "connect-allow-ip = 127.0.0.1",
                 "max-messages = 0"):
        assert line in text
    assert "bar" not in text.lower()  # Kannel's sample passwords ("bar") never
    assert get_url("http://127.0.0.1:9000", "K" * 20) in text


def test_kannel_conf_for_an_operator_smsc_is_smpp(tmp_path: Path) -> None:
    text = render(KannelConfig(tmp_path, sms(smsc="smpp", smsc_host="127.0.0.9",
                                             smsc_port=2775, smpp_system_id="ntpd112",
                                             smpp_password="opPass"), "http://127.0.0.1:1"))
    for line in ("smsc = smpp", 'host = "127.0.0.9"', "port = 2775",
                 'system-id = "ntpd112"', 'smsc-password = "opPass"'):
        assert line in text
    assert "smsc = fake" not in text


@pytest.mark.parametrize("values", [{"admin_password": ""}, {"shared_secret": ""},
                                    {"smsc": "smpp", "smpp_system_id": 'x"\nsmsc = fake',
                                     "smpp_password": "p"}])
def test_kannel_conf_refuses_missing_passwords_and_quote_breaking_values(
        tmp_path: Path, values: dict[str, object]) -> None:
    with pytest.raises(StackError):
        render(KannelConfig(tmp_path, sms(**values), "http://127.0.0.1:1"))


def test_the_dlr_url_carries_secret_token_and_kannel_placeholders() -> None:
    url = dlr_url("http://127.0.0.1:9000", "k&y", "tok")
    assert url == "http://127.0.0.1:9000/sms/dlr?key=k%26y&token=tok&type=%d&reply=%A"


@pytest.mark.parametrize(("status", "body", "accepted", "retry"), [
    (202, "0: Accepted for delivery", True, True),
    (202, "3: Queued for later delivery", True, True),
    (403, "Authorization failed for sendsms", False, False),
    (400, "Missing receiver number", False, False),
    (503, "Sending failed.", False, True),
    (202, "", False, True),
])
def test_sendsms_replies(status: int, body: str, accepted: bool, retry: bool) -> None:
    result = model.read_sendsms_reply(status, body)
    assert (result.accepted, result.retry) == (accepted, retry)


@pytest.mark.parametrize(("dlr_type", "status"), [
    (1, model.DELIVERED), (2, model.UNDELIVERED), (16, model.UNDELIVERED),
    (4, None), (8, None)])
def test_delivery_report_types(dlr_type: int, status: str | None) -> None:
    assert model.status_after_report(dlr_type) == status
