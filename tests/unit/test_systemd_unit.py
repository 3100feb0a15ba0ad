"""deploy/systemd/ntpd-ivr.service: what the controller promises systemd (notify, watchdog,
restart) is set, its command exists in our CLI, and systemd itself accepts the unit."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ntpd_ivr.cli import build_parser

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "ntpd-ivr.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def test_notify_watchdog_restart_and_a_real_command() -> None:
    service = unit()["Service"]
    assert (service["Type"], service["Restart"], service["NotifyAccess"]) == (
        "notify", "always", "main")
    assert service["WatchdogSec"].endswith("s")
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/ntpd-ivr")
    args = build_parser().parse_args(argv[1:])  # the subcommand and options exist
    assert args.func.__name__ == "cmd_serve"


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze (package systemd) is needed to check the unit"
    # The same unit with the command pointed at this checkout's entry point.
    text = UNIT.read_text().replace("/opt/ntpd-ivr/.venv/bin/ntpd-ivr",
                                    str(Path(sys.executable).parent / "ntpd-ivr"))
    copy = tmp_path / "ntpd-ivr.service"
    copy.write_text(text)
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0 and "ntpd-ivr.service" not in done.stderr, done.stderr
