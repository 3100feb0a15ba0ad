"""The routing config's kecamatan/desa lists and the wrap-up limit (the call-taker's
screen): the example's real places, and mistakes named by file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntpd_ivr.errors import ConfigError
from ntpd_ivr.routing.config import parse_routing_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
TEXT = EXAMPLE.read_text(encoding="utf-8")


def test_each_region_of_the_example_has_its_kecamatan_and_desa() -> None:
    config = parse_routing_config(TEXT, "routing.toml")
    assert config.wrapup_limit_seconds == 120
    palembang = config.regions["palembang"].places
    assert "Bukit Lama" in palembang["Ilir Barat I"]
    assert len(palembang) >= 16
    assert "Balai Agung" in config.regions["muba"].places["Sekayu"]
    assert config.regions["sumsel"].places
    assert all(desa for places in (r.places for r in config.regions.values())
               for desa in places.values())


def with_places(block: str) -> str:
    return TEXT.replace("[regions.muba.places]\n", "[regions.muba.places]\n" + block, 1)


@pytest.mark.parametrize(("text", "message"), [
    (with_places('"Sekayu " = ["A"]\n'), r"regions\.muba\.places\.Sekayu : a place name"),
    (with_places('"Lalan Baru" = "Bumi Agung"\n'),
     r"regions\.muba\.places\.Lalan Baru: expected list"),
    (with_places('"Lalan Baru" = ["Bumi Agung", "bumi agung"]\n'),
     r"regions\.muba\.places\.Lalan Baru: a desa twice"),
    (with_places('"Lalan Baru" = ["Bumi  Agung"]\n'),
     r"regions\.muba\.places\.Lalan Baru: a place name"),
    (with_places('"SEKAYU" = ["Kayuara"]\n'),
     r"regions\.muba\.places\.(SEKAYU|Sekayu): the same kecamatan as"),
    (TEXT.replace("wrapup_limit_seconds = 120", "wrapup_limit_seconds = 5"),
     r"routing\.toml: workspace\.wrapup_limit_seconds: must be 10-3600"),
    (TEXT.replace("wrapup_limit_seconds = 120", "wrapup_limit = 120"),
     r"routing\.toml: workspace\.wrapup_limit: unknown key"),
])
def test_mistakes_name_the_file_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_routing_config(text, "routing.toml")
