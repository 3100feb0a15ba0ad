"""`ntpd-ivr config check` shows how each trunk writes the numbers dialled on it, and
refuses a bad `number_format` naming the file and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "routing.example.toml"


def check(routing: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ntpd_ivr", "config", "check", "--routing",
                           str(routing)], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_config_check_shows_each_trunks_number_format(tmp_path: Path) -> None:
    done = check(EXAMPLE)
    assert done.returncode == 0, done.stderr
    assert ("numbers dialled out (number_format): callback-line +62812345678 (e164), "
            "operator-local +62812345678 (e164), warning-trunk 0812345678 (national); "
            "any other trunk: ") in done.stdout


def test_config_check_names_the_file_and_key_of_a_bad_number_format(tmp_path: Path) -> None:
    routing = tmp_path / "routing.toml"
    routing.write_text(EXAMPLE.read_text().replace(
        'ring_seconds = 15\n', 'ring_seconds = 15\nnumber_format = "0812"\n', 1))
    done = check(routing)
    assert done.returncode != 0
    assert (f"{routing}: regions.palembang.agencies.damkar.number_format: one of e164, "
            "international, national") in done.stderr
