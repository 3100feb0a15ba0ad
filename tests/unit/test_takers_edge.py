"""The call-takers at the Kamailio edge of the two-node stack (docs/ha.md): the db_text
table of digest hashes (ntpd_ivr/takers/edge.py), the [edge] settings, and `ntpd-ivr taker`
writing both nodes' includes and the edge's table."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from ntpd_ivr.cli import main
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.settings import load_settings
from ntpd_ivr.takers.accounts import AccountStore, TakerAccount, digest_ha1
from ntpd_ivr.takers.edge import TABLE, forget_registration, render_table, write_table
from ntpd_ivr.takers.render import PJSIP_NAME, QUEUES_NAME

REPO = Path(__file__).resolve().parents[2]
ANI = TakerAccount("ani", "palembang", "takers-palembang", digest_ha1("ani", "pw-ani"))
CITRA = TakerAccount("citra", "muba", "takers-muba", digest_ha1("citra", "pw-citra"))
BASE = '[ami]\nsecret = "unused"\n[database]\nurl = "postgresql+asyncpg://unused/x"\n'
EDGE = "127.0.0.1:5160"


def test_the_table_has_db_texts_header_and_one_row_per_call_taker_sorted() -> None:
    assert render_table([CITRA, ANI]).splitlines() == [
        "username(str) ha1(str)", f"ani:{ANI.ha1}", f"citra:{CITRA.ha1}"]
    assert render_table([]) == "username(str) ha1(str)\n"   # nobody: everyone refused


@pytest.mark.parametrize(("account", "message"), [
    (TakerAccount("a:b", "p", "q", ANI.ha1), "call-taker name 'a:b'"),
    (TakerAccount("ani", "p", "q", "not-a-hash"), "ani: ha1 is not a digest hash"),
])
def test_what_db_text_would_misread_is_refused(account: TakerAccount, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        render_table([account])


def test_the_table_is_private_and_each_version_is_stamped_later(tmp_path: Path) -> None:
    folder = tmp_path / "credentials"
    path = write_table([ANI], folder)
    assert path == folder / TABLE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    first = int(path.stat().st_mtime)
    # Rewritten within the same second: db_text (whole seconds, "later than") must still
    # see a new version, or the change would be missed until the next one.
    write_table([ANI, CITRA], folder)
    second = int(path.stat().st_mtime)
    assert second > first and CITRA.ha1 in path.read_text()
    write_table([CITRA], folder)
    assert int(path.stat().st_mtime) > second and ANI.ha1 not in path.read_text()
    assert sorted(p.name for p in folder.iterdir()) == [TABLE]   # no temporary file left
    assert int(path.stat().st_mtime) <= time.time() + 3


@pytest.mark.parametrize(("text", "message"), [
    ('[edge]\naddress = "edge:5160"\n', "edge.address must be ip:port, got 'edge:5160'"),
    ('[edge]\naddress = "127.0.0.1"\n', "edge.address must be ip:port"),
    ('[edge]\naddress = "127.0.0.1:0"\n', "edge.address must be ip:port"),
    ('[edge]\ncredentials_dir = "/x"\n', "edge.address is empty but other edge.* keys"),
])
def test_edge_settings_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ntpd-ivr.toml"
    path.write_text(BASE + text)
    with pytest.raises(ConfigError, match=f"{path}: {message}"):
        load_settings(path, environ={})


def test_one_node_has_no_edge(tmp_path: Path) -> None:
    path = tmp_path / "ntpd-ivr.toml"
    path.write_text(BASE)
    edge = load_settings(path, environ={}).edge
    assert (edge.address, edge.credentials_dir, edge.ctl_socket, edge.peer_settings) == \
        ("", "", "", "")


def _node(tmp_path: Path, name: str, peer: str, accounts: Path) -> Path:
    conf = tmp_path / name / "asterisk"
    conf.mkdir(parents=True)
    (conf / "pjsip.conf").write_text("[taker](!)\n")
    settings = tmp_path / name / "ntpd-ivr.toml"
    settings.write_text(
        BASE + f'[ami_peer]\nhost = "127.0.0.11"\nsecret = "t"\nname = "{peer}"\n'
        f'local_name = "{name}"\n'
        f'[ivr]\nrouting_config = "{REPO / "config" / "routing.example.toml"}"\n'
        f'[takers]\naccounts_file = "{accounts}"\n[asterisk]\nconf_dir = "{conf}"\n'
        f'[edge]\naddress = "{EDGE}"\ncredentials_dir = "{tmp_path / "edge"}"\n'
        f'ctl_socket = "{tmp_path / "edge" / "no-edge-running.sock"}"\n'
        f'peer_settings = "{tmp_path / peer / "ntpd-ivr.toml"}"\n')
    return settings


def test_a_change_goes_to_both_nodes_through_the_edge_and_to_the_edges_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        cli_audit: list[tuple[str, str, str, str, dict[str, str]]]) -> None:
    accounts = tmp_path / "takers.toml"
    node_a = _node(tmp_path, "node-a", "node-b", accounts)
    _node(tmp_path, "node-b", "node-a", accounts)
    assert main(["taker", "add", "ani", "--region", "palembang", "--no-reload",
                 "--config", str(node_a)]) == 0
    out = capsys.readouterr().out
    ha1 = AccountStore(accounts).accounts["ani"].ha1
    for name in ("node-a", "node-b"):
        conf = tmp_path / name / "asterisk"
        # Each node reaches the phone through the edge, where it registers.
        assert f"contact = sip:ani@{EDGE}" in (conf / PJSIP_NAME).read_text()
        assert "member => PJSIP/ani" in (conf / QUEUES_NAME).read_text()
        assert f"{name}: wrote {conf / PJSIP_NAME}" in out
    table = tmp_path / "edge" / TABLE
    assert f"ani:{ha1}" in table.read_text().splitlines()
    assert f"edge: wrote {table}" in out and ha1 not in out   # the hash is never printed

    assert main(["taker", "remove", "ani", "--config", str(node_a), "--no-reload"]) == 0
    assert table.read_text() == "username(str) ha1(str)\n"
    assert "[ani]" not in (tmp_path / "node-b" / "asterisk" / PJSIP_NAME).read_text()
    assert [(e[1], e[3], e[4]["region"]) for e in cli_audit] == [
        ("taker.added", "ani", "palembang"), ("taker.removed", "ani", "palembang")]
    assert all(e[0].startswith("cli:") and ha1 not in str(e) for e in cli_audit)


def test_a_peer_with_other_accounts_is_refused_before_anything_changes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node_a = _node(tmp_path, "node-a", "node-b", tmp_path / "takers.toml")
    _node(tmp_path, "node-b", "node-a", tmp_path / "other.toml")
    assert main(["taker", "add", "ani", "--region", "palembang", "--no-reload",
                 "--config", str(node_a)]) == 2
    err = capsys.readouterr().err
    assert f"{node_a}: edge.peer_settings: " in err and "share one accounts file" in err
    assert not (tmp_path / "takers.toml").exists() and not (tmp_path / "edge").exists()


def test_no_registration_to_drop_at_an_edge_that_is_not_running(tmp_path: Path) -> None:
    assert forget_registration(tmp_path / "kamailio-ctl.sock", "ani") is False


def test_one_node_writes_no_edge_table_and_no_contact(
        tmp_path: Path, cli_audit: list[tuple[str, str, str, str, dict[str, str]]]) -> None:
    conf = tmp_path / "asterisk"
    conf.mkdir()
    settings = tmp_path / "ntpd-ivr.toml"
    settings.write_text(
        BASE + f'[ivr]\nrouting_config = "{REPO / "config" / "routing.example.toml"}"\n'
        f'[takers]\naccounts_file = "{tmp_path / "takers.toml"}"\n'
        f'[asterisk]\nconf_dir = "{conf}"\n')
    assert main(["taker", "add", "ani", "--region", "muba", "--no-reload",
                 "--config", str(settings)]) == 0
    assert "contact =" not in (conf / PJSIP_NAME).read_text()
    assert sorted(os.listdir(tmp_path)) == ["asterisk", "ntpd-ivr.toml", "takers.toml"]
