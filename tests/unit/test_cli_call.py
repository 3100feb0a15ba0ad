"""`make call` as the README gives it: the Makefile recipe, run through make and its shell,
must hand `ntpd-ivr call` a --digit the CLI parser accepts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ntpd_ivr.cli import build_parser

REPO = Path(__file__).resolve().parents[2]


def make_call_argv(tmp_path: Path, *make_args: str) -> list[str]:
    """The arguments `make call ...` gives the Python it runs, captured by a stand-in."""
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed").touch()  # newer than pyproject.toml: `make venv` has nothing to do
    python = venv / "python"
    python.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    python.chmod(0o755)
    # Not the outer make's flags or a DIGIT of the caller's environment.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "DIGIT")}
    proc = subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", str(REPO), "call", f"VENV={venv}",
         f"PY={python}", f"RUN_DIR={tmp_path / 'run'}", *make_args],
        capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    argv: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert argv[:3] == ["-m", "ntpd_ivr", "call"]
    return argv[2:]


@pytest.mark.parametrize(("make_args", "digit"), [
    ((), "1"),            # make call
    (("DIGIT=",), ""),    # make call DIGIT=   (the README: presses nothing)
    (("DIGIT=3",), "3"),  # make call DIGIT=3
])
def test_make_call_passes_the_digit(tmp_path: Path, make_args: tuple[str, ...],
                                    digit: str) -> None:
    args = build_parser().parse_args(make_call_argv(tmp_path, *make_args))
    assert args.digit == digit
    assert args.run_dir == tmp_path / "run"


@pytest.mark.parametrize(("argv", "digit"), [
    (["call"], "1"), (["call", "--digit", ""], ""), (["call", "--digit="], ""),
    (["call", "--digit", "0"], "0"), (["call", "--digit", "#"], "#"),
])
def test_call_digit_accepts_one_key_or_none(argv: list[str], digit: str) -> None:
    assert build_parser().parse_args(argv).digit == digit


@pytest.mark.parametrize("bad", ["12", "a", " "])
def test_call_digit_refuses_anything_else(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["call", "--digit", bad])
    assert exited.value.code == 2
    assert "one key (0-9, * or #)" in capsys.readouterr().err
