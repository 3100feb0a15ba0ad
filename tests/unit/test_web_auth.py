from pathlib import Path

import pytest

from ntpd_ivr.cli import main
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.web.auth import (
    UserStore,
    hash_password,
    role_allows,
    verify_password,
)


def test_password_hashes_verify_and_differ_per_salt() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("wrong horse", first)
    assert not verify_password("x", "garbage")


@pytest.mark.parametrize(("role", "required", "allowed"), [
    ("calltaker", "calltaker", True), ("calltaker", "supervisor", False),
    ("supervisor", "calltaker", True), ("supervisor", "admin", False),
    ("admin", "supervisor", True),
])
def test_roles_include_the_ones_below(role: str, required: str, allowed: bool) -> None:
    assert role_allows(role, required) is allowed


def test_user_store_round_trip_and_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    UserStore(path).put("budi", "supervisor", "s3cret-pass")
    store = UserStore(path)
    assert store.authenticate("budi", "s3cret-pass") is not None
    assert store.authenticate("budi", "nope") is None
    assert store.authenticate("nobody", "s3cret-pass") is None
    assert "s3cret-pass" not in path.read_text()
    path.write_text('[users.budi]\nrole = "boss"\npassword_hash = "scrypt$1"\n')
    with pytest.raises(ConfigError, match=r"users\.toml: users\.budi\.role must be one of"):
        UserStore(path)
    with pytest.raises(ConfigError, match="role 'boss'"):
        UserStore(tmp_path / "other.toml").put("x", "boss", "pw")


def test_no_users_file_means_nobody_logs_in() -> None:
    store = UserStore(None)
    assert store.users == {} and store.authenticate("anyone", "anything") is None
    with pytest.raises(ConfigError, match="no users file"):
        store.put("budi", "supervisor", "s3cret-pass")


def test_a_user_added_by_the_cli_logs_in_without_a_restart(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "users.toml"
    UserStore(path).put("budi", "supervisor", "s3cret-pass")
    running = UserStore(path)  # what the controller read at its start
    UserStore(path).put("citra", "calltaker", "citra-pass", sip_endpoint="taker-1")  # the CLI
    user = running.authenticate("citra", "citra-pass")
    assert user is not None and user.sip_endpoint == "taker-1"
    assert set(running.users) == {"budi", "citra"}

    # The running service's own change keeps what the CLI added meanwhile.
    UserStore(path).put("dewi", "calltaker", "dewi-pass")
    running.put("eko", "supervisor", "eko-pass")
    assert set(UserStore(path).users) == {"budi", "citra", "dewi", "eko"}

    # A broken file: said once in the log, and the users read before still log in.
    path.write_text('[users.budi]\nrole = "boss"\npassword_hash = "scrypt$1"\n')
    assert running.authenticate("budi", "s3cret-pass") is not None
    assert running.authenticate("citra", "citra-pass") is not None
    errors = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(errors) == 1 and "users.budi.role" in errors[0].getMessage()


def test_the_event_paths_check_of_the_users_file_is_spaced_and_a_web_requests_is_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """refresh(not_within=s) (the workspace's screen pops, at every call-taker event)
    looks at the file at most once in s seconds; refresh() (every web request) always."""
    path = tmp_path / "users.toml"
    UserStore(path).put("budi", "supervisor", "s3cret-pass")
    running = UserStore(path)
    clock = [1000.0]
    monkeypatch.setattr("ntpd_ivr.web.auth.monotonic", lambda: clock[0])
    stats: list[Path] = []
    monkeypatch.setattr(running, "_stamp", lambda p: stats.append(p) or UserStore._stamp(p))

    running.refresh(not_within=1.0)
    UserStore(path).put("citra", "calltaker", "citra-pass", sip_endpoint="taker-1")
    clock[0] += 0.5
    running.refresh(not_within=1.0)  # within the second: not looked at
    assert len(stats) == 1 and "citra" not in running.users
    clock[0] += 0.6
    running.refresh(not_within=1.0)  # a second on: read again
    assert len(stats) == 2 and running.users["citra"].sip_endpoint == "taker-1"

    UserStore(path).remove("citra")  # the CLI
    running.refresh()  # a web request, right after: the removal holds at once
    assert len(stats) == 3 and "citra" not in running.users


def test_user_remove_by_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "users.toml"
    UserStore(path).put("budi", "supervisor", "s3cret-pass")
    UserStore(path).put("citra", "calltaker", "citra-pass")
    assert main(["user", "remove", "budi", "--users-file", str(path)]) == 0
    assert "user budi (supervisor) removed" in capsys.readouterr().out
    assert set(UserStore(path).users) == {"citra"}
    with pytest.raises(ConfigError, match="no user 'budi'"):
        UserStore(path).remove("budi")
