"""SIPp, driven from Python: callers from the operator trunk's address, call-taker stand-ins
at their static contacts. Used by `ntpd-ivr call` and the end-to-end tests."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ntpd_ivr.errors import StackError

SCENARIOS = Path(__file__).resolve().parents[2] / "sipp-scenarios"


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if not path:
        raise StackError("sipp is missing: apt-get install sip-tester")
    return path


@dataclass(frozen=True)
class SippResult:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _key_args(keys: Mapping[str, str] | None) -> list[str]:
    """SIPp `-key name value` for each of `keys` (a scenario's [name])."""
    return [arg for name, value in (keys or {}).items() for arg in ("-key", name, value)]


class Taker:
    """A call-taker (or agency trunk) stand-in answering `calls` calls, each talking
    `talk_ms`; `keys` for a scenario that wants them (agency-accept.xml: `digit`).

    Every stand-in sits at a static contact that Asterisk qualifies (OPTIONS): its scenario
    answers them, and counts only INVITEs toward `calls` (`-set calls N`; SIPp's own -m
    would count each OPTIONS as a call). Asterisk marks the contact reachable at the first
    OPTIONS answered: the constructor waits for it (at most `wait_qualified` seconds), so
    that a call placed next is not refused as "unreachable"."""

    def __init__(self, ip: str, port: int, talk_ms: int = 1500, calls: int = 1,
                 scenario: str = "taker-answer.xml",
                 keys: Mapping[str, str] | None = None, extra: tuple[str, ...] = (),
                 trace_messages: bool = False, wait_qualified: float = 3.0) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="ntpd-sipp-taker-"))
        self.process = subprocess.Popen(
            [sipp_binary(), "-sf", str(SCENARIOS / scenario), "-i", ip, "-p", str(port),
             "-d", str(talk_ms), "-set", "calls", str(calls), "-nostdin", "-trace_err",
             "-trace_logs", *_key_args(keys), *extra,
             *(["-trace_msg"] if trace_messages else [])],
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.wait_qualified(wait_qualified)

    def qualified(self) -> bool:
        """Whether this stand-in has answered an OPTIONS of Asterisk's qualify yet."""
        return any("qualified" in log.read_text(errors="replace")
                   for log in self.workdir.glob("*_logs.log"))

    def wait_qualified(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.qualified():
            if self.process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def wait(self, timeout: float) -> SippResult:
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
            return SippResult(-1, out.decode(errors="replace") + "\n(timed out)"
                              + self.logs())
        return SippResult(self.process.returncode, out.decode(errors="replace") + self.logs())

    def logs(self) -> str:
        """SIPp's error log, then its message log (with trace_messages): what was sent
        and received, headers and all."""
        return "".join(p.read_text(errors="replace") for name in ("*_errors.log",
                                                                  "*_messages.log")
                       for p in sorted(self.workdir.glob(name)))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        # A taker that already finished still holds its output pipe open until read.
        if self.process.stdout is not None and not self.process.stdout.closed:
            self.process.communicate()
        shutil.rmtree(self.workdir, ignore_errors=True)


def place_call(target: str, source_ip: str, source_port: int, *, dialed: str = "112",
               digit: str | None = "1", caller: str = "081234567890", digit_delay_ms: int = 1500,
               timeout: float = 60.0, pai: str | None = None, scenario: str | None = None,
               keys: Mapping[str, str] | None = None) -> SippResult:
    """One call from the operator trunk; `digit=None` presses nothing; `pai` adds a
    P-Asserted-Identity with that user (and needs a digit). `scenario` and `keys`
    (-key name value) for a caller that sends more, e.g. caller-location.xml."""
    if pai is not None and digit is None:
        raise ValueError("a P-Asserted-Identity caller presses a digit (caller-pai.xml)")
    if scenario is None:
        scenario = ("caller-pai.xml" if pai is not None else
                    "caller-info-dtmf.xml" if digit is not None else "caller-no-input.xml")
    args = [sipp_binary(), target, "-sf", str(SCENARIOS / scenario), "-i", source_ip,
            "-p", str(source_port), "-s", dialed, "-key", "caller", caller,
            "-d", str(digit_delay_ms), "-m", "1", "-nostdin", "-trace_err"]
    if digit is not None:
        args += ["-key", "digit", digit]
    if pai is not None:
        args += ["-key", "pai", pai]
    args += _key_args(keys)
    with tempfile.TemporaryDirectory(prefix="ntpd-sipp-caller-") as workdir:
        try:
            proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
            return SippResult(-1, f"{partial}\n(timed out after {timeout} s)")
        errors = "".join(p.read_text(errors="replace") for p in Path(workdir).glob("*errors*"))
        return SippResult(proc.returncode, proc.stdout + proc.stderr + errors)
