"""The AMI accounts (ntpd_ivr/ami/accounts.py) and asterisk-conf/manager.conf agree, and no
account holds a class that runs programs, the CLI or rewrites the configuration (but the
reload account's `config`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ntpd_ivr.ami.accounts import (
    CONTROLLER,
    FORBIDDEN,
    PEER,
    RELOAD,
    AmiAccount,
    render_peer_account,
)

MANAGER = Path(__file__).resolve().parents[2] / "asterisk-conf" / "manager.conf"


def sections(text: str) -> dict[str, dict[str, list[str]]]:
    found: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if match := re.match(r"^\[([^\]]+)\](\([^)]*\))?$", line):
            current = found.setdefault(match[1], {})
            if match[2]:
                current.setdefault("(template)", []).append(match[2])
        elif "=" in line:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return found


def classes(value: list[str]) -> set[str]:
    return {c.strip() for c in value[0].split(",") if c.strip()} if value else set()


def test_manager_conf_grants_what_the_table_says() -> None:
    conf = sections(MANAGER.read_text())
    controller, reload = conf["{{ami_user}}"], conf["{{ami_reload_user}}"]
    assert (classes(controller["read"]), classes(controller["write"])) == (
        set(CONTROLLER.read), set(CONTROLLER.write))
    assert (classes(reload["read"]), classes(reload["write"])) == (
        set(RELOAD.read), set(RELOAD.write))
    # Every account: refused from everywhere, then permitted from its addresses only.
    assert conf["ntpd-events"]["deny"] == ["0.0.0.0/0.0.0.0"]
    assert controller["(template)"] == ["(ntpd-events)"]
    assert reload["deny"] == ["0.0.0.0/0.0.0.0"] and reload["permit"] == ["{{ami_permit}}"]
    assert controller["permit"] == ["{{ami_permit}}"]
    assert '#tryinclude "manager-peer.conf"' in MANAGER.read_text()


@pytest.mark.parametrize("account", [CONTROLLER, RELOAD, PEER], ids=lambda a: a.name)
def test_no_account_can_run_programs_or_the_cli(account: AmiAccount) -> None:
    assert not FORBIDDEN & set(account.write)
    if account is not RELOAD:
        assert "config" not in account.write


def test_the_peer_account_is_read_only_but_for_presence() -> None:
    assert set(PEER.write) == {"agent", "reporting"}
    text = render_peer_account("s3cret", ("10.0.0.2", "127.0.0.1"))
    conf = sections(text)["ntpd-ivr-peer"]
    assert conf["(template)"] == ["(ntpd-events)"]
    assert conf["secret"] == ["s3cret"]
    assert conf["permit"] == ["10.0.0.2", "127.0.0.1"]
    assert (classes(conf["read"]), classes(conf["write"])) == (set(PEER.read), set(PEER.write))
    for bad in ("", "a;b", "a\nwrite=system"):
        with pytest.raises(ValueError, match="secret"):
            render_peer_account(bad, ("127.0.0.1",))
