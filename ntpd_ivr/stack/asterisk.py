"""A real Asterisk 22 for `make run` and the end-to-end tests.

Debian 12 has no asterisk package, so unless the machine already has one we build a
Debian sid root with debootstrap once (cached, ~1 min) and run Asterisk chrooted in it,
as root, with our own configuration rendered into an instance folder inside that root.
Several instances (the dev service, a test session) can share one root.

Configuration comes from `asterisk-conf/` and `dialplan/`: files are copied as they are,
with `{{name}}` placeholders filled from `AsteriskInstance.values`. An unknown placeholder
is an error that names the file and the placeholder.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ntpd_ivr.errors import ConfigError, StackError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_SOURCES = (REPO_ROOT / "asterisk-conf", REPO_ROOT / "dialplan")
DEFAULT_ROOT = Path(os.environ.get("NTPD_IVR_ASTERISK_ROOT", "/var/cache/ntpd-ivr/asterisk-sid"))
ROOT_MARKER = ".ntpd-ivr-root-v1"
# python3 + six: pyst2's classic process-per-call AGI (the benchmark baseline) runs where
# Asterisk runs, so inside the root.
ROOT_PACKAGES = ("asterisk", "asterisk-core-sounds-en-gsm", "python3", "python3-six")
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


def _progress(message: str) -> None:
    print(f"[ntpd-ivr] {message}", flush=True)


@dataclass(frozen=True)
class AsteriskInstall:
    """Where the asterisk binary lives: on the host (root=None) or in a chroot."""

    root: Path | None

    def command(self, *args: str) -> list[str]:
        return ["chroot", str(self.root), "asterisk", *args] if self.root else ["asterisk", *args]

    def host_path(self, inside: str) -> Path:
        """A path as Asterisk sees it, turned into the path on this host."""
        return self.root / inside.lstrip("/") if self.root else Path(inside)

    def version(self) -> str:
        out = subprocess.run(self.command("-V"), capture_output=True, text=True, timeout=30)
        return out.stdout.strip()


def find_or_build_asterisk(root: Path = DEFAULT_ROOT) -> AsteriskInstall:
    """The system Asterisk if there is one, else the cached sid root (built if missing)."""
    system = shutil.which("asterisk")
    if system and os.environ.get("NTPD_IVR_USE_SYSTEM_ASTERISK", "1") != "0":
        install = AsteriskInstall(root=None)
        _progress(f"using the system Asterisk: {install.version()}")
        return install
    install = AsteriskInstall(root=root)
    if not (root / ROOT_MARKER).exists():
        _build_root(root)
    _fix_root_hosts(root)
    return install


def _build_root(root: Path) -> None:
    if os.geteuid() != 0:
        raise StackError(
            "No asterisk on this machine and building one needs root. Either install "
            "Asterisk 22 yourself, or run `make run` / `make test` as root (it builds a "
            f"Debian sid root with debootstrap in {root})."
        )
    if not shutil.which("debootstrap"):
        raise StackError("debootstrap is missing: apt-get install debootstrap")
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    _progress(f"building Asterisk 22 in a Debian sid root at {root} (once, about a minute)...")
    started = time.monotonic()
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(ROOT_PACKAGES)}",
           "sid", str(partial)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise StackError(f"debootstrap failed ({proc.returncode}):\n{tail}")
    (partial / ROOT_MARKER).write_text(" ".join(ROOT_PACKAGES) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    version = AsteriskInstall(root).version()
    _progress(f"built {version} in {time.monotonic() - started:.0f} s")


def _fix_root_hosts(root: Path) -> None:
    # Without the host name in the root's /etc/hosts every call makes DNS look-ups that
    # stall (no network here), and a third of the calls fail under load.
    hosts = root / "etc" / "hosts"
    name = socket.gethostname()
    text = hosts.read_text() if hosts.exists() else ""
    if not any(name in line.split() for line in text.splitlines()):
        hosts.write_text(f"127.0.0.1 localhost\n127.0.1.1 {name}\n::1 localhost\n{text}")


def fill_placeholders(text: str, values: Mapping[str, str], path: Path) -> str:
    """`text` (read from `path`) with its `{{name}}` placeholders filled from `values`."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ConfigError(f"{path}: unknown placeholder {{{{{key}}}}}")
        return str(values[key])

    return PLACEHOLDER.sub(fill, text)


def render_config(values: Mapping[str, str], target: Path,
                  sources: tuple[Path, ...] = CONFIG_SOURCES) -> list[Path]:
    """Copy every *.conf of `sources` into `target`, filling `{{name}}` placeholders."""
    target.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for source in sources:
        for path in sorted(source.glob("*.conf")):
            if path.name in written:
                raise ConfigError(f"{path}: same file name as {written[path.name]}")
            text = fill_placeholders(path.read_text(encoding="utf-8"), values, path)
            (target / path.name).write_text(text, encoding="utf-8")
            written[path.name] = path
    return [target / name for name in written]


class AsteriskInstance:
    """One running Asterisk with its own config, run, log and spool folders."""

    def __init__(self, install: AsteriskInstall, name: str, values: Mapping[str, str]) -> None:
        self.install = install
        self.name = name
        # Paths as Asterisk sees them (inside the root when chrooted).
        self.base = f"/srv/ntpd-ivr/{name}"
        self.etc = f"{self.base}/etc"
        self.values = {
            "ast_etc": self.etc,
            "ast_var": self.base,
            **values,
        }
        self.process: subprocess.Popen[bytes] | None = None
        # Writes the files that are generated from state rather than from the repository
        # (the call-takers' accounts) into the freshly rendered config folder.
        self.after_render: Callable[[Path], object] | None = None

    def host_path(self, inside: str) -> Path:
        return self.install.host_path(inside)

    @property
    def console_log(self) -> Path:
        return self.host_path(f"{self.base}/log/console.out")

    def prepare(self) -> None:
        for sub in ("etc", "lib", "lib/keys", "run", "log", "spool", "cache", "log/cdr-csv",
                    "log/cdr-custom", "log/cel-custom"):
            self.host_path(f"{self.base}/{sub}").mkdir(parents=True, exist_ok=True)
        etc = self.host_path(self.etc)
        for old in etc.glob("*.conf"):
            old.unlink()
        render_config(self.values, etc)
        if self.after_render is not None:
            self.after_render(etc)

    def start(self, timeout: float = 60.0) -> None:
        self.prepare()
        if self.cli_ok():
            raise StackError(f"an Asterisk already runs for instance {self.name}; stop it first")
        out = self.console_log.open("ab")
        _progress(f"starting Asterisk ({self.name})")
        self.process = subprocess.Popen(
            self.install.command("-C", f"{self.etc}/asterisk.conf", "-f", "-n", "-q"),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"Asterisk exited with {self.process.returncode}; "
                                 f"see {self.console_log} and {self.messages_log}")
            if self.cli_ok("core waitfullybooted"):
                return
            time.sleep(0.3)
        self.stop()
        raise StackError(f"Asterisk did not finish booting in {timeout:.0f} s; "
                         f"see {self.messages_log}")

    @property
    def messages_log(self) -> Path:
        return self.host_path(f"{self.base}/log/messages.log")

    def cli(self, command: str, timeout: float = 15.0) -> str:
        proc = subprocess.run(
            self.install.command("-C", f"{self.etc}/asterisk.conf", "-rx", command),
            capture_output=True, text=True, timeout=timeout,
        )
        if proc.returncode != 0:
            raise StackError(f"asterisk -rx {command!r} failed: {proc.stderr.strip()}")
        return proc.stdout

    def cli_ok(self, command: str = "core show uptime") -> bool:
        try:
            self.cli(command, timeout=10)
        except (StackError, subprocess.TimeoutExpired):
            return False
        return True

    def stop(self, timeout: float = 20.0) -> None:
        if self.cli_ok():
            try:
                self.cli("core stop now", timeout=timeout)
            except (StackError, subprocess.TimeoutExpired):
                pass
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
            self.process = None
