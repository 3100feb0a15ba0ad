"""The agency role: beside the call-taker, under the supervisor, scoped to one agency."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ntpd_ivr.cli import main
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.web.auth import UserStore, role_allows


@pytest.mark.parametrize(("role", "required", "allowed"), [
    ("agency", "agency", True), ("agency", "calltaker", False),
    ("agency", "supervisor", False), ("calltaker", "agency", False),
    ("supervisor", "agency", True), ("admin", "agency", True), ("nobody", "calltaker", False),
])
def test_agency_role_sits_beside_the_calltaker(role: str, required: str,
                                                allowed: bool) -> None:
    assert role_allows(role, required) is allowed


def test_users_file_keeps_the_agency(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    UserStore(path).put("pemadam", "agency", "a-long-password", "palembang-damkar")
    assert 'agency = "palembang-damkar"' in path.read_text()
    user = UserStore(path).authenticate("pemadam", "a-long-password")
    assert user is not None and (user.role, user.agency) == ("agency", "palembang-damkar")
    with pytest.raises(ConfigError, match="needs its agency"):
        UserStore(path).put("x", "agency", "a-long-password")
    with pytest.raises(ConfigError, match="only an agency user"):
        UserStore(path).put("x", "calltaker", "a-long-password", "palembang-damkar")
    path.write_text(path.read_text().replace('agency = "palembang-damkar"\n', ""))
    with pytest.raises(ConfigError, match=r"users\.toml: users\.pemadam\.agency: an agency"):
        UserStore(path)


def test_user_add_checks_the_agency_against_the_routing_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        cli_audit: list[tuple[str, str, str, str, dict[str, str]]]) -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
    settings = tmp_path / "ntpd-ivr.toml"
    settings.write_text(f'[web]\nusers_file = "{tmp_path / "users.toml"}"\n'
                        f'[ami]\nsecret = "x"\n[ivr]\nrouting_config = "{example}"\n'
                        '[database]\nurl = "postgresql+asyncpg://x@127.0.0.1/x"\n')
    for agency, status in (("palembang-pemadam", 2), ("palembang-damkar", 0)):
        monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
        assert main(["user", "add", "damkar", "--role", "agency", "--agency", agency,
                     "--config", str(settings), "--password-stdin"]) == status, agency
    assert "no such agency in" in capsys.readouterr().err
    user = UserStore(tmp_path / "users.toml").users["damkar"]
    assert user.agency == "palembang-damkar"
    assert [(e[1], e[3], e[4]["agency"]) for e in cli_audit] == [
        ("user.added", "damkar", "palembang-damkar")]  # the refused one is not audited
