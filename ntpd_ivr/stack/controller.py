"""The controller as a subprocess, as an operator runs it (`ntpd-ivr serve`), and its
/healthz read from outside: what the dev stacks start and the benchmarks kill."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ntpd_ivr.errors import StackError


def health(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The controller's /healthz JSON (either status), or None if it did not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            body: dict[str, Any] = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    except (OSError, ValueError):
        return None
    return body


class ControllerProcess:
    """`ntpd-ivr serve` in a subprocess, as an operator runs it; `tree` and `env` run
    another tree's controller (the bench's baseline revision, ntpd_ivr/bench/baseline.py)."""

    def __init__(self, settings_file: Path, web_port: int, log_path: Path,
                 tree: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.settings_file, self.web_port, self.log_path = settings_file, web_port, log_path
        self.tree, self.env = tree, env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None
        return self.process.pid

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/healthz"

    def healthy(self) -> bool:
        body = health(self.health_url)
        return body is not None and body.get("status") == "ok"

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ntpd_ivr", "serve", "--config",
                 str(self.settings_file), "--log-level", "INFO"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.tree, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"controller exited with {self.process.returncode}; "
                                 f"see {self.log_path}")
            if self.healthy():
                return
            time.sleep(0.2)
        raise StackError(f"controller not healthy in {timeout:.0f} s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush -- what a crash looks like."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None
