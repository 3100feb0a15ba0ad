"""[regions.<r>.neighbours.<n>]: the 112 centers a region may transfer a caller to. Parsed
with the shared reader; every error names the file and the key; the token and SIP password
live in owner-only files next to the config, never in it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ntpd_ivr.errors import ConfigError
from ntpd_ivr.routing.config import parse_routing_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
TOKEN = "tK3n-Ex4mple-0f-32-characters-long-xyz"
NEIGHBOURS = """
[regions.muba.neighbours.banyuasin]
name = "Banyuasin Siaga 112"
level = "kabupaten"
trunk = "center-banyuasin"
match = ["127.0.0.40"]
eido_url = "https://112.banyuasinkab.example/eido"
token_file = "secrets/banyuasin.token"

[regions.muba.neighbours.musi-rawas]
name = "Musi Rawas Siaga 112"
trunk = "center-musi-rawas"
identify_by = "credentials"
username = "muba-musirawas"
password_file = "secrets/musirawas.sip"
eido_url = "http://127.0.0.41:8080/eido"
token_file = "secrets/musirawas.token"
"""


def _secret(path: Path, text: str = TOKEN, mode: int = 0o600) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    os.chmod(path, mode)


def _config(tmp_path: Path, extra: str = NEIGHBOURS) -> str:
    origin = tmp_path / "routing.toml"
    text = EXAMPLE.read_text(encoding="utf-8") + extra
    origin.write_text(text, encoding="utf-8")
    return str(origin)


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    for name in ("banyuasin.token", "musirawas.token", "musirawas.sip"):
        _secret(tmp_path / "secrets" / name)
    return tmp_path


def _parse(tmp_path: Path, extra: str = NEIGHBOURS):  # type: ignore[no-untyped-def]
    origin = _config(tmp_path, extra)
    return parse_routing_config(Path(origin).read_text(encoding="utf-8"), origin)


def test_the_example_has_no_neighbours_until_its_secrets_exist() -> None:
    config = parse_routing_config(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
    assert config.neighbours == {}


def test_neighbours_by_address_and_by_credentials(secrets_dir: Path) -> None:
    config = _parse(secrets_dir)
    banyuasin, musi_rawas = config.neighbours["muba"].values()
    assert (banyuasin.name, banyuasin.level, banyuasin.trunk, banyuasin.identify_by,
            banyuasin.match) == ("Banyuasin Siaga 112", "kabupaten", "center-banyuasin",
                                 "address", ("127.0.0.40",))
    assert banyuasin.token() == TOKEN
    assert (musi_rawas.identify_by, musi_rawas.username, musi_rawas.match) == (
        "credentials", "muba-musirawas", ())
    assert Path(musi_rawas.password_file).read_text().strip() == TOKEN
    assert musi_rawas.eido_url == "http://127.0.0.41:8080/eido"  # loopback: tests' stacks
    assert "palembang" not in config.neighbours


@pytest.mark.parametrize(("old", "new", "key", "reason"), [
    ('eido_url = "https://112.banyuasinkab.example/eido"',
     'eido_url = "http://112.banyuasinkab.example/eido"', "banyuasin.eido_url",
     "must be https://"),
    ('eido_url = "https://112.banyuasinkab.example/eido"',
     'eido_url = "https://user:pw@112.banyuasinkab.example/eido"', "banyuasin.eido_url",
     "no user"),
    ('match = ["127.0.0.40"]', 'match = ["somewhere"]', "banyuasin.match",
     "not an IP address"),
    ('match = ["127.0.0.40"]', 'match = []', "banyuasin.match", "at least one"),
    ('match = ["127.0.0.40"]', 'match = ["127.0.0.2"]', "banyuasin.match",
     "overlaps operators.operator-local.match"),
    ('match = ["127.0.0.40"]', 'match = ["127.0.0.40"]\nusername = "x"',
     "banyuasin.username", "only with identify_by"),
    ('identify_by = "credentials"', 'identify_by = "magic"', "musi-rawas.identify_by",
     "one of address, credentials"),
    ('username = "muba-musirawas"', 'username = "a b"', "musi-rawas.username",
     "a SIP user name"),
    ('trunk = "center-banyuasin"', 'trunk = "operator-local"', "banyuasin.trunk",
     "an operator's trunk"),
    ('trunk = "center-musi-rawas"', 'trunk = "center-banyuasin"', "musi-rawas.trunk",
     "one trunk is one center"),
    ('level = "kabupaten"', 'level = "desa"', "banyuasin.level", "province, kabupaten or kota"),
    ('token_file = "secrets/banyuasin.token"', 'token_file = "secrets/none.token"',
     "banyuasin.token_file", "does not exist"),
    ('name = "Banyuasin Siaga 112"', 'name = "Banyuasin"\ncolour = "red"',
     "banyuasin.colour", "unknown key"),
    ('trunk = "center-banyuasin"\n', '', "banyuasin.trunk", "missing"),
])
def test_a_bad_neighbour_names_the_file_and_key(secrets_dir: Path, old: str, new: str,
                                               key: str, reason: str) -> None:
    assert old in NEIGHBOURS
    with pytest.raises(ConfigError) as error:
        _parse(secrets_dir, NEIGHBOURS.replace(old, new, 1))
    assert f"routing.toml: regions.muba.neighbours.{key}: " in str(error.value)
    assert reason in str(error.value)


def test_a_secret_readable_by_others_is_refused(secrets_dir: Path) -> None:
    os.chmod(secrets_dir / "secrets" / "banyuasin.token", 0o644)
    with pytest.raises(ConfigError, match=r"neighbours\.banyuasin\.token_file: .* is readable "
                                          r"by others \(mode 644\): chmod 600"):
        _parse(secrets_dir)


@pytest.mark.parametrize("secret", ["short", "with spaces in the middle of it all here",
                                    "x" * 600])
def test_a_weak_or_odd_secret_is_refused(secrets_dir: Path, secret: str) -> None:
    _secret(secrets_dir / "secrets" / "musirawas.sip", secret)
    with pytest.raises(ConfigError, match=r"neighbours\.musi-rawas\.password_file: .*one "
                                          r"secret of 24-512 printable characters"):
        _parse(secrets_dir)
