"""`bench --baseline-rev`: another revision's controller exported and run as itself, and
the lines that compare it with this tree's (path a against a@REV)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ntpd_ivr.bench.baseline import BASELINE_PATH, export, resolve
from ntpd_ivr.bench.load import caller_prefix
from ntpd_ivr.bench.runner import StepResult, cpu_ratio_line, summary_lines
from ntpd_ivr.cli import build_parser
from ntpd_ivr.errors import StackError


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two revisions of a tiny `ntpd_ivr` that says which it is."""
    root = tmp_path / "repo"
    (root / "ntpd_ivr").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for version in ("old", "new"):
        (root / "ntpd_ivr" / "__init__.py").write_text(f"VERSION = {version!r}\n")
        git(root, "add", "-A")
        git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", version)
    return root


def test_a_revision_is_exported_whole_and_imports_as_itself(repo: Path, tmp_path: Path) -> None:
    baseline = export("main~1", tmp_path / "run", repo)
    assert baseline.commit == git(repo, "rev-parse", "main~1")
    assert baseline.label == "a@main~1"
    assert baseline.tree == tmp_path / "run" / f"baseline-{baseline.commit[:12]}"
    assert (baseline.tree / "ntpd_ivr" / "__init__.py").read_text() == "VERSION = 'old'\n"
    # Its `ntpd_ivr` comes first, before this venv's editable install.
    said = subprocess.run([sys.executable, "-c", "import ntpd_ivr; print(ntpd_ivr.VERSION)"],
                          cwd=baseline.tree, env=baseline.env(), capture_output=True,
                          text=True, check=True)
    assert said.stdout.strip() == "old"
    assert not (baseline.tree / ".git").exists()  # an export, not a checkout


@pytest.mark.parametrize("rev", ["no-such-branch", "", "--output=x", "main:ntpd_ivr"])
def test_what_names_no_commit_is_refused(repo: Path, rev: str) -> None:
    with pytest.raises(StackError, match="--baseline-rev"):
        resolve(rev, repo)


def test_the_option_is_parsed() -> None:
    args = build_parser().parse_args(["bench", "--paths", "ab", "--baseline-rev", "main"])
    assert (args.paths, args.baseline_rev) == ("ab", "main")
    assert build_parser().parse_args(["bench"]).baseline_rev is None


def test_a_at_rev_calls_look_like_path_as() -> None:
    # Same trunk digit, told apart by the step number: both are routed alike.
    assert caller_prefix(BASELINE_PATH, "07", 3)[:4] == caller_prefix("a", "07", 4)[:4]
    assert caller_prefix(BASELINE_PATH, "07", 3) != caller_prefix("a", "07", 4)


def step(path: str, rate: float, carried: bool, cpu_ms: float) -> StepResult:
    return StepResult(path, rate, 10, 10, 0, 1.0, 2.0, 800.0, 900.0, 1.0, 60.0, None, None,
                      carried, controller_cpu_ms_per_call=cpu_ms)


def test_cpu_per_call_is_compared_at_each_rate_both_carried() -> None:
    steps = [step("a", 5, True, 3.3), step(BASELINE_PATH, 5, True, 3.0),
             step("a", 10, True, 3.0), step(BASELINE_PATH, 10, True, 3.0),
             step("a", 20, False, 9.0), step(BASELINE_PATH, 20, True, 3.1)]
    labels = {BASELINE_PATH: "a@main"}
    assert cpu_ratio_line(steps, "a", BASELINE_PATH, labels) == (
        "a/a@main controller CPU per call: 5/s 3.30/3.00 ms = 1.10, "
        "10/s 3.00/3.00 ms = 1.00; median 1.05")
    assert cpu_ratio_line(steps[:1], "a", BASELINE_PATH, labels).endswith(
        "n/a (no rate carried by both)")
    lines = summary_lines([*steps, step("b", 5, True, 0.5), step("b", 10, False, 0.6)],
                          "a" + "b" + BASELINE_PATH, 500, 5000, labels)
    assert lines[0].endswith("a=10, b=5, a@main=20")
    assert "a/a@main = 0.50 (a=10, a@main=20; first not carried: a 20, a@main none)" in lines
    assert "a@main/b = 4.00 (a@main=20, b=5; first not carried: a@main none, b 10)" in lines
    assert any(line.startswith("a/a@main controller CPU per call") for line in lines)
    assert any(line.startswith("controller CPU per call offered, path a@main: ")
               for line in lines)
