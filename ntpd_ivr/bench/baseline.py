"""`ntpd-ivr bench --baseline-rev REV`: the controller of another git revision as one more
path of the same interleaved run, so that a change's CPU per call is compared with what
came before on the same machine, at the same minutes, under the same neighbours.

The path (key "r", shown as "a@REV") is path a's trunk, dialplan, Asterisk, PostgreSQL
and settings file; only the controller differs: REV's source, exported with `git archive`
into the run's folder and started with this interpreter (PYTHONPATH and working directory
the exported tree, so that its `ntpd_ivr` is imported, not this one). One controller runs
at a time: before a step of a@REV the bench stops this tree's controller and starts REV's,
on the same ports; before a step of any other path it switches back. Both see every AMI
event of every call while they run, as one controller alone does."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ntpd_ivr.errors import StackError

BASELINE_PATH = "r"  # its key among the path letters; "a@REV" in what the bench prints
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Baseline:
    rev: str      # as given (a branch, a tag, a commit)
    commit: str   # what it named when the run began
    tree: Path    # the exported source

    @property
    def label(self) -> str:
        return f"a@{self.rev}"

    def env(self) -> dict[str, str]:
        """This process's environment, with REV's tree first on the import path."""
        return {**os.environ, "PYTHONPATH": str(self.tree)}


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=120,
                          check=False)


def resolve(rev: str, repo: Path = REPO_ROOT) -> str:
    """The commit `rev` names in `repo`; StackError if none."""
    if not rev or rev.startswith("-"):
        raise StackError(f"--baseline-rev: not a revision: {rev!r}")
    done = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if done.returncode != 0:
        raise StackError(f"--baseline-rev: {rev!r} is not a commit of {repo}")
    return done.stdout.decode().strip()


def export(rev: str, into: Path, repo: Path = REPO_ROOT) -> Baseline:
    """`git archive` of `rev` into `into`/baseline-<commit>, checked to import as itself."""
    commit = resolve(rev, repo)
    tree = into / f"baseline-{commit[:12]}"
    tree.mkdir(parents=True, exist_ok=False)
    archive = subprocess.Popen(["git", "-C", str(repo), "archive", "--format=tar", commit],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert archive.stdout is not None
    untar = subprocess.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout,
                           capture_output=True, timeout=300, check=False)
    archive.stdout.close()
    archive_err = archive.communicate(timeout=60)[1]
    if archive.returncode != 0 or untar.returncode != 0:
        raise StackError(f"--baseline-rev: cannot export {rev} ({commit[:12]}): "
                         f"{(archive_err + untar.stderr).decode(errors='replace').strip()}")
    baseline = Baseline(rev, commit, tree)
    imported = subprocess.run(
        [sys.executable, "-c", "import ntpd_ivr; print(ntpd_ivr.__file__)"],
        cwd=tree, env=baseline.env(), capture_output=True, text=True, timeout=60, check=False)
    where = Path(imported.stdout.strip() or "?").resolve()
    if imported.returncode != 0 or not where.is_relative_to(tree.resolve()):
        raise StackError(f"--baseline-rev: {rev} would not run as itself: ntpd_ivr comes from "
                         f"{where} {imported.stderr.strip()}")
    return baseline
