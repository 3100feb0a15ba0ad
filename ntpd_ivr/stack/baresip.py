"""baresip (Debian package `baresip`) as a real call-taker softphone for the tests:
headless, sine tone out, received audio dropped, auto-answer, driven over its
ctrl_tcp socket (netstring-framed JSON commands)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ntpd_ivr.errors import StackError
from ntpd_ivr.stack.ports import free_port

MODULES = Path("/usr/lib/baresip/modules")


class Softphone:
    """One baresip registering `user` with `password` at `registrar` (host:port)."""

    def __init__(self, user: str, password: str, registrar: str, ip: str = "127.0.0.9",
                 tls_ca: Path | None = None) -> None:
        """`tls_ca`: register over TLS (`registrar` is then the TLS port), trusting that
        CA, with SRTP (SDES) media required."""
        binary = shutil.which("baresip")
        if not binary:
            raise StackError("baresip is missing: apt-get install baresip")
        self.user = user
        self.workdir = Path(tempfile.mkdtemp(prefix=f"ntpd-baresip-{user}-"))
        self.sip_port = free_port("udp")
        self.ctrl_port = free_port()
        (self.workdir / "config").write_text("\n".join([
            f"sip_listen {ip}:{self.sip_port}",
            # baresip 1.0.0's aufile is a source only: aubridge is the player (a sink that
            # nothing reads); without a player the auto-answer fails and the phone rings on.
            "audio_source ausine,440",
            # ausine makes 48 kHz stereo only; baresip resamples and downmixes for G.711.
            "ausrc_srate 48000",
            "ausrc_channels 2",
            "audio_player aubridge,sink",
            "audio_alert aubridge,alert",
            f"module_path {MODULES}",
            "module g711.so",
            "module aubridge.so",
            "module ausine.so",
            "module_app account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            *([f"sip_cafile {tls_ca}", "module srtp.so"] if tls_ca else []),
            "",
        ]))
        transport, media = ("tls", ";mediaenc=srtp-mand") if tls_ca else ("udp", "")
        (self.workdir / "accounts").write_text(
            f"<sip:{user}@{registrar};transport={transport}>;auth_pass={password};"
            f"answermode=auto;audio_codecs=PCMA;regint=60{media}\n")
        self.log_path = self.workdir / "baresip.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [binary, "-f", str(self.workdir)], cwd=self.workdir, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def log(self) -> str:
        """Its console output without the menu's blank lines and colour codes."""
        text = re.sub(r"\x1b\[[0-9;]*m", "", self.log_path.read_text(errors="replace"))
        return "\n".join(line for line in text.splitlines() if line.strip())

    def command(self, command: str, params: str = "") -> dict[str, object]:
        """Send one ctrl_tcp command and return its response."""
        body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
        with socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=5) as conn:
            conn.sendall(str(len(body)).encode() + b":" + body + b",")
            buffer = b""
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                buffer += conn.recv(65536)
                while b":" in buffer:
                    length, _, rest = buffer.partition(b":")
                    if len(rest) < int(length) + 1:
                        break
                    message = json.loads(rest[:int(length)])
                    buffer = rest[int(length) + 1:]
                    if message.get("response"):
                        return dict(message)
        raise StackError(f"baresip {self.user}: no reply to {command}")

    def kill(self) -> None:
        """Vanish like a phone that lost power: no un-REGISTER."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
