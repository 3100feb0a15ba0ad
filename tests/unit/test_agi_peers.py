"""Who may open a FastAGI session (ntpd_ivr/agi/peers.py): the allow-list as written in
the settings, the addresses it lets in, the secret's comparison."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from ntpd_ivr.agi.peers import PeerPolicy, parse_allow_list
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.settings import AgiSettings, load_settings


def test_addresses_and_networks_of_both_families() -> None:
    assert parse_allow_list(" 127.0.0.1, 10.1.2.0/24 ; ::1,", "agi.allow") == (
        ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.1.2.0/24"),
        ipaddress.ip_network("::1/128"))
    # A network written with host bits is the network it lies in, as ACLs read it.
    assert parse_allow_list("10.1.2.7/24", "agi.allow") == (
        ipaddress.ip_network("10.1.2.0/24"),)


@pytest.mark.parametrize("text", ["", " , ", "localhost", "127.0.0.300", "10.0.0.0/33",
                                  "127.0.0.1 127.0.0.2"])
def test_anything_else_is_refused_naming_the_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^ntpd.toml: agi.allow: "):
        parse_allow_list(text, "ntpd.toml: agi.allow")


def test_the_default_is_this_machine_only() -> None:
    policy = PeerPolicy.from_settings(AgiSettings().allow, "")
    assert policy.allows(("127.0.0.1", 40000))
    assert policy.allows(("::1", 40000, 0, 0))
    assert policy.allows(("::ffff:127.0.0.1", 40000, 0, 0))  # a dual-stack socket
    for peer in (("127.0.0.66", 40000), ("10.0.0.5", 40000), ("::2", 1, 0, 0), None,
                 "127.0.0.1", ("not an address", 1), ()):
        assert not policy.allows(peer), peer


def test_a_network_lets_in_its_addresses_only() -> None:
    policy = PeerPolicy(parse_allow_list("10.20.0.0/30, 127.0.0.10", "x"))
    assert [policy.allows((f"10.20.0.{n}", 1)) for n in range(5)] == [True] * 4 + [False]
    assert policy.allows(("127.0.0.10", 1)) and not policy.allows(("127.0.0.11", 1))


def test_the_secret_must_match_when_one_is_set() -> None:
    assert PeerPolicy((), "").secret_ok(None)  # none set: the address decides alone
    policy = PeerPolicy((), "s3cret")
    assert policy.secret_ok("s3cret")
    for offered in (None, "", "s3cre", "s3cret ", "S3CRET", "s3cret\x00"):
        assert not policy.secret_ok(offered), offered


def test_settings_check_the_allow_list_and_name_the_file(tmp_path: Path) -> None:
    base = ('[ami]\nsecret = "x"\n[database]\n'
            'url = "postgresql+asyncpg://u:p@127.0.0.1/db"\n')
    good = tmp_path / "good.toml"
    secret = "Zm9vYmFyYmF6cXV4cXV1eA+/="
    good.write_text(base + f'[agi]\nallow = "127.0.0.10, 127.0.0.11"\nsecret = "{secret}"\n')
    settings = load_settings(good, environ={})
    assert (settings.agi.allow, settings.agi.secret) == ("127.0.0.10, 127.0.0.11", secret)
    for bad_secret in ("short", "sixteen chars ok", "a" * 15 + ";", "x" * 257):
        with pytest.raises(ConfigError, match=rf"^{good}: agi\.secret: 16-256 characters"):
            load_settings(good, environ={}, overrides={"agi": {"secret": bad_secret}})
    bad = tmp_path / "bad.toml"
    bad.write_text(base + '[agi]\nallow = "127.0.0.1, asterisk-a"\n')
    with pytest.raises(ConfigError, match=rf"^{bad}: agi.allow: 'asterisk-a' is not"):
        load_settings(bad, environ={})
    with pytest.raises(ConfigError, match=r"agi\.confirm_seconds must be positive"):
        load_settings(good, environ={}, overrides={"agi": {"confirm_seconds": 0}})
    env = load_settings(good, environ={"NTPD_IVR_AGI_ALLOW": "192.0.2.0/24"})
    assert env.agi.allow == "192.0.2.0/24"
