from pathlib import Path

import pytest

from ntpd_ivr.errors import ConfigError
from ntpd_ivr.settings import load_settings

GOOD = """
[ami]
secret = "s3cret"
port = 15038
[database]
url = "postgresql+asyncpg://ntpd:pw@127.0.0.1:5433/ntpd"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ntpd-ivr.toml"
    path.write_text(text)
    return path


def test_file_then_environment_then_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    settings = load_settings(path, environ={"NTPD_IVR_AMI_PORT": "25038",
                                            "NTPD_IVR_AGI_PORT": "4999"},
                             overrides={"agi": {"port": 5000}})
    assert settings.ami.secret == "s3cret"
    assert settings.ami.port == 25038       # environment beats file
    assert settings.agi.port == 5000        # command line beats environment
    assert settings.agi.host == "127.0.0.1"  # loopback unless configured otherwise
    assert settings.source == str(path)



def test_the_stack_tools_variables_are_not_taken_for_settings(tmp_path: Path) -> None:
    # NTPD_IVR_ASTERISK_ROOT once read as the setting asterisk.root: the controller refused
    # to start in a shell where the stack's variable was set.
    settings = load_settings(write(tmp_path, GOOD), environ={
        "NTPD_IVR_ASTERISK_ROOT": "/opt/asterisk-root", "NTPD_IVR_USE_SYSTEM_ASTERISK": "0",
        "NTPD_IVR_DOCS_SCREENSHOTS": "1"})
    assert settings.asterisk.conf_dir == "/etc/asterisk"

@pytest.mark.parametrize(("text", "environ", "message"), [
    (GOOD + "[ami2]\nx = 1\n", {}, "unknown section [ami2]"),
    (GOOD.replace("port = 15038", "prot = 15038"), {}, "unknown key ami.prot"),
    (GOOD.replace("port = 15038", 'port = "many"'), {}, "ami.port: expected a whole number"),
    (GOOD.replace("port = 15038", "port = 70000"), {}, "ami.port must be 1-65535"),
    (GOOD.replace('secret = "s3cret"', ""), {}, "ami.secret is empty"),
    (GOOD.replace("postgresql+asyncpg", "mysql"), {}, "database.url must start with"),
    (GOOD + "[agi]\nhost = \"my-box\"\n", {}, "agi.host must be an IP address"),
    ("[ami\n", {}, "not valid TOML"),
    (GOOD, {"NTPD_IVR_AMI_PORT": "x"}, "environment NTPD_IVR_AMI_PORT: ami.port"),
    (GOOD, {"NTPD_IVR_NOPE_X": "1"}, "environment NTPD_IVR_NOPE_X: no such setting"),
    (GOOD + '[web]\ntrusted_proxies = "127.0.0.1, proxy"\n', {},
     "web.trusted_proxies: 'proxy' is not an IP address"),
    (GOOD + "[web]\nlogin_hash_threads = 0\n", {}, "web.login_hash_threads must be positive"),
    (GOOD + '[warnings]\nregional_language = "id"\n', {},
     "warnings.regional_language: 'id' is not a regional language code"),
    (GOOD + '[warnings]\nregional_voice = "id; rm"\n', {},
     "warnings.regional_voice: 'id; rm' is not an espeak-ng voice name"),
    (GOOD + "[alerts]\nsurge_sync_seconds = 0\n", {},
     "alerts.surge_sync_seconds must be positive"),
])
def test_errors_name_the_file_and_key(tmp_path: Path, text: str, environ: dict[str, str],
                                      message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ)
    assert message in str(caught.value)
    if not environ:
        assert str(path) in str(caught.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: settings file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_ivr_keys_that_belong_to_the_routing_config_are_refused(tmp_path: Path) -> None:
    # Language and key timeout are set in the routing config; here they would do nothing.
    path = write(tmp_path, GOOD + "[ivr]\ndigit_timeout_ms = 5000\n")
    with pytest.raises(ConfigError, match=r"unknown key ivr\.digit_timeout_ms"):
        load_settings(path, environ={})
