"""The routing config: the example loads; every mistake names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntpd_ivr.errors import ConfigError
from ntpd_ivr.routing.config import load_routing_config, parse_routing_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
TEXT = EXAMPLE.read_text()


def test_example_loads() -> None:
    config = load_routing_config(EXAMPLE)
    assert set(config.regions) == {"sumsel", "palembang", "muba"}
    assert config.regions["muba"].overflow_to == "sumsel"
    assert config.menu["1"] == "ambulance"
    assert config.legacy_numbers["118"] == "ambulance"
    damkar = config.agencies["palembang-damkar"]
    assert (damkar.mode, damkar.primary_trunk, damkar.backup_trunk) == (
        "direct", "agency-damkar-plg", "agency-damkar-plg-backup")
    assert config.ivr.max_seconds_in_ivr == 10.0


@pytest.mark.parametrize(("old", "new", "message"), [
    ('overflow_to = "sumsel"        # no call', 'overflow_to = "sumse"  #',
     "regions.palembang.overflow_to: no region 'sumse'"),
    ('queue = "takers-muba"', 'queue = 12', "regions.muba.queue: expected str"),
    ('queue = "takers-muba"', 'queue = "takers muba"', "regions.muba.queue: 'takers muba'"),
    ('queue = "takers-muba"', '', "regions.muba.queue: missing"),
    ('mode = "direct"               #', 'mode = "dierct" #', "agencies.damkar.mode: one of"),
    ('1 = "ambulance"', '1 = "ambulans"', "menu.1: no category 'ambulans'"),
    ('1 = "ambulance"', '9 = "ambulance"', "menu.9: '9' is not a valid menu key"),
    ('110 = "police"', '110 = "polisi"', "legacy_numbers.110: no category 'polisi'"),
    ('priority = 9\n', 'priority = 1\n', "categories.sar.priority: life-threatening sar (1)"),
    ('hours = "07:30-16:00"', 'hours = "7.30-16"', "agencies.bpbd.hours: expected HH:MM-HH:MM"),
    ('max_seconds_in_ivr = 10.0', 'max_seconds_in_ivr = 5.0', "ivr.menu_seconds: the menu"),
    ('timezone = "Asia/Jakarta"', 'timezone = "Asia/Jakrta"', "timezone: unknown time zone"),
    ('default_region = "sumsel"', 'default_region = "jambi"', "default_region: no region"),
    ('caller_prefixes = ["0714"]', 'caller_prefixes = ["0711"]',
     "regions.muba.caller_prefixes: '+62711' is already regions.palembang.caller_prefixes"),
    ('ring_seconds = 10', 'ring_seconds = 10\nringtime = 3', "agencies.bpbd.ringtime: unknown"),
    ('[categories.unclassified]', '[categories.other]', "categories.unclassified: missing"),
    ('primary_trunk = "agency-bpbd-plg"', '', "agencies.bpbd.primary_trunk: a direct"),
    ('live_state_timeout_ms = 300', 'live_state_timeout_ms = 5000',
     "ivr.live_state_timeout_ms: must be 50-2000"),
    ('caller_prefixes = ["0714"]', 'caller_prefixes = ["714"]',
     "regions.muba.caller_prefixes: '714': write it with its trunk prefix 0"),
    # Operator trunks: matches, caller-ID source, codecs, and what regions name
    ('match = ["127.0.0.8"]', 'match = ["127.0.0.0/24"]',
     "operators.operator-b.match: '127.0.0.0/24' overlaps operators.operator-local.match "
     "'127.0.0.2'"),
    ('match = ["127.0.0.8"]', 'match = ["sbc.operator.example"]',
     "operators.operator-b.match: 'sbc.operator.example' is not an IP address"),
    ('match = ["127.0.0.8"]', 'match = ["127.0.0.8:99999"]',
     "operators.operator-b.match: '127.0.0.8:99999': not a port"),
    ('match = ["127.0.0.8"]', 'match = []', "operators.operator-b.match: at least one"),
    ('caller_id = "from"', 'caller_id = "pai"',
     "operators.operator-b.caller_id: one of asserted, from, got 'pai'"),
    ('codecs = ["alaw"]\n', 'codecs = ["alaw", "amr"]\n',
     "operators.operator-b.codecs: unknown codec 'amr'"),
    ('codecs = ["alaw"]\n', 'codecs = ["g722"]\n', "operators.operator-b.codecs: needs alaw"),
    ('codecs = ["alaw"]\n', 'codecs = ["alaw", "alaw"]\n',
     "operators.operator-b.codecs: a codec twice"),
    ('codecs = ["alaw"]\n', 'codecs = ["alaw"]\nmatch_header = "X-Operator"\n',
     "operators.operator-b.match_header: unknown key"),
    ('name = "Second operator stand-in (SIPp)"', 'name = "B; evil"',
     "operators.operator-b.name: one line without ';'"),
    ('[operators.operator-b]', '[operators.Operator_B]',
     "operators.Operator_B: 'Operator_B' is not a valid operator name"),
    ('trunks = ["operator-local", "operator-b"]', 'trunks = ["operator-local", "operator-c"]',
     "regions.sumsel.trunks: no operator 'operator-c'"),
    # How each trunk writes the numbers we dial on it
    ('number_format = "e164"        # its SBC', 'number_format = "+62"  #',
     "operators.operator-local.number_format: one of e164, international, national "
     "(+62812…, 62812…, 0812…), got '+62'"),
    ('number_format = "e164"        # its SBC', 'number_format = 62  #',
     "operators.operator-local.number_format: expected str, got 62"),
    ('ring_seconds = 10\n', 'ring_seconds = 10\nnumber_format = "local"\n',
     "regions.palembang.agencies.bpbd.number_format: one of e164"),
    ('[outbound_trunks.warning-trunk]\nnumber_format = "national"',
     '[outbound_trunks.warning-trunk]\nnumber_format = "nasional"',
     "outbound_trunks.warning-trunk.number_format: one of e164"),
    ('[outbound_trunks.warning-trunk]\nnumber_format = "national"',
     '[outbound_trunks.warning-trunk]\nname = "Warnings"',
     "outbound_trunks.warning-trunk.number_format: missing"),
    ('[outbound_trunks.warning-trunk]', '[outbound_trunks.operator-b]',
     "outbound_trunks.operator-b: already operators.operator-b"),
    ('[outbound_trunks.warning-trunk]', '[outbound_trunks."warning trunk"]',
     "outbound_trunks.warning trunk: 'warning trunk' is not a valid PJSIP endpoint name"),
])
def test_errors_name_the_file_and_key(old: str, new: str, message: str) -> None:
    assert old in TEXT, old
    with pytest.raises(ConfigError) as caught:
        parse_routing_config(TEXT.replace(old, new, 1), "routing.toml")
    assert str(caught.value).startswith("routing.toml: ")
    assert message in str(caught.value)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: routing config not found"):
        load_routing_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[regions\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_routing_config(bad)


def test_each_trunk_says_how_numbers_are_written_on_it() -> None:
    text = TEXT.replace('hours = "07:30-16:00"', 'hours = "07:30-16:00"\nnumber_format = '
                        '"national"', 1)
    config = parse_routing_config(text, "routing.toml")
    assert config.operators["operator-local"].number_format == "e164"
    assert config.operators["operator-b"].number_format == ""  # not said
    assert config.agencies["palembang-bpbd"].number_format == "national"
    assert config.agencies["palembang-damkar"].number_format == ""
    assert config.stated_number_formats() == {
        "agency-bpbd-plg": "national", "agency-bpbd-plg-backup": "national",
        "callback-line": "e164", "operator-local": "e164", "warning-trunk": "national"}
    # An endpoint nobody describes keeps the use's own default.
    assert [config.number_format_of(t, "national") for t in (
        "operator-local", "operator-b", "callback-line", "warning-trunk", "agency-bpbd-plg",
        "agency-damkar-plg", "nowhere")] == [
        "e164", "national", "e164", "national", "national", "national", "national"]
    assert config.number_format_of("nowhere", "e164") == "e164"
