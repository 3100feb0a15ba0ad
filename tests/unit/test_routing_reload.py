"""Routing reloaded live: what `config reload` writes for Asterisk, and what the controller
does with a good or a bad file."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from ntpd_ivr.errors import ConfigError
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.routing.reload import load_for_reload, render_into
from ntpd_ivr.routing.render import GENERATED_NAME, OPERATOR_HEADER, OPERATORS_NAME
from ntpd_ivr.transfer.config import NEIGHBOURS_NAME

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "routing.example.toml"


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    """An Asterisk folder as the stack renders it: asterisk-conf/ and dialplan/ in one."""
    target = tmp_path / "etc"
    target.mkdir()
    for source in (REPO / "asterisk-conf", REPO / "dialplan"):
        for conf in source.glob("*.conf"):
            shutil.copyfile(conf, target / conf.name)
    return target


def test_a_new_operator_is_rendered_into_asterisks_folder(conf_dir: Path, tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "[operators.operator-b]", '[operators.telkomsel]\nmatch = ["203.0.113.10"]\n\n'
        "[operators.operator-b]").replace('trunks = ["operator-local", "operator-b"]',
                                          'trunks = ["operator-local", "operator-b", "telkomsel"]')
    routing = tmp_path / "routing.toml"
    routing.write_text(text)
    written = render_into(load_routing_config(routing), conf_dir)
    assert sorted(p.name for p in written) == [GENERATED_NAME, NEIGHBOURS_NAME, OPERATORS_NAME]
    assert "[telkomsel]\ntype = identify\nendpoint = telkomsel\nmatch = 203.0.113.10" in \
        (conf_dir / OPERATORS_NAME).read_text()


def test_behind_the_edge_a_reload_keeps_operators_named_by_the_edges_header(
        conf_dir: Path) -> None:
    """A node of `make run-ha` sees every INVITE from the edge's address: a reload that
    rendered its operators by source address would refuse every operator call."""
    render_into(load_routing_config(EXAMPLE), conf_dir, edge_ip="127.0.0.1")
    operators = (conf_dir / OPERATORS_NAME).read_text()
    assert "identify_by = header" in operators and "permit = 127.0.0.1/255.255.255.255" in operators
    assert f"match_header = {OPERATOR_HEADER}: operator-local" in operators
    assert "match = 127.0.0.2" not in operators
    render_into(load_routing_config(EXAMPLE), conf_dir)
    assert "match = 127.0.0.2" in (conf_dir / OPERATORS_NAME).read_text()


def test_a_config_asterisk_cannot_serve_is_refused_and_nothing_written(
        conf_dir: Path, tmp_path: Path) -> None:
    routing = tmp_path / "routing.toml"
    routing.write_text(EXAMPLE.read_text().replace('queue = "takers-muba"',
                                                   'queue = "takers-sekayu"'))
    before = (conf_dir / OPERATORS_NAME).read_text()
    (conf_dir / OPERATORS_NAME).write_text("; the running one\n" + before)
    with pytest.raises(ConfigError, match=rf"{routing}: regions.muba.queue: no queue "
                                          rf"'takers-sekayu' in {conf_dir}/queues.conf"):
        render_into(load_routing_config(routing), conf_dir)
    assert (conf_dir / OPERATORS_NAME).read_text() == "; the running one\n" + before


def test_the_controller_keeps_its_running_config_when_the_file_is_bad(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    running = load_routing_config(EXAMPLE)
    routing = tmp_path / "routing.toml"
    routing.write_text(EXAMPLE.read_text().replace('1 = "ambulance"', '1 = "ambulans"'))
    with caplog.at_level(logging.ERROR):
        assert load_for_reload(str(routing), running) is running
    assert f"the running one stays: {routing}: menu.1: no category 'ambulans'" in caplog.text
    routing.write_text(EXAMPLE.read_text().replace('1 = "ambulance"', '1 = "fire"'))
    reloaded = load_for_reload(str(routing), running)
    assert reloaded is not running and reloaded.menu["1"] == "fire"
