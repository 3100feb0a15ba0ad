"""A local certificate authority and SIP server certificate for `make run` and the tests
(openssl), so call-takers' phones can register over TLS on loopback. Production uses a
certificate from a real CA instead: see the README, "TLS and SRTP for call-takers"."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ntpd_ivr.errors import StackError

CA_DAYS = 3650
SERVER_DAYS = 825  # the most a server certificate may be valid for, per CA/B rules


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path      # what a phone trusts
    server_cert: Path  # what Asterisk presents
    server_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise StackError(f"openssl {args[0]} failed: {proc.stderr.strip()[-500:]}")


def ensure_local_ca(folder: Path, server_ip: str) -> TlsFiles:
    """The CA and a certificate for `server_ip`, made once in `folder` (keys mode 0600)."""
    files = TlsFiles(folder / "ca.crt", folder / "sip-server.crt", folder / "sip-server.key")
    if all(path.exists() for path in (files.ca_cert, files.server_cert, files.server_key)):
        return files
    if not shutil.which("openssl"):
        raise StackError("openssl is missing: apt-get install openssl")
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", str(CA_DAYS), "-subj", "/CN=ntpd-ivr local CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "sip-server.key",
             "-out", "sip-server.csr", "-subj", f"/CN={server_ip}", cwd=folder)
    (folder / "server.ext").write_text(
        f"subjectAltName=IP:{server_ip},DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "sip-server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "sip-server.crt", "-days", str(SERVER_DAYS),
             "-extfile", "server.ext", cwd=folder)
    for key in ("ca.key", "sip-server.key"):
        (folder / key).chmod(0o600)
    return files
