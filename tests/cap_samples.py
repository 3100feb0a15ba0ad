"""The recorded CAP samples (tests/data/cap), served as if they had just been published:
every CAP time in them moved by the same amount, so that an alert recorded on one day is
still current (not expired) on the day the tests run, and its times keep their order."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ntpd_ivr.alerts.sign import CapSigner

SAMPLES = Path(__file__).resolve().parent / "data" / "cap"
RECORDED_AT = datetime(2026, 12, 7, 12, 31, 2, tzinfo=UTC)  # the InaTEWS sample's sent
_CAP_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")


class Replay:
    """One replay: the shift is fixed when it is made (a document read twice is the same)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.shift = timedelta(seconds=int(
            ((now or datetime.now(UTC)) - RECORDED_AT).total_seconds()))

    def body(self, name: str) -> bytes:
        data = (SAMPLES / name).read_bytes()

        def moved(match: re.Match[bytes]) -> bytes:
            when = datetime.fromisoformat(match.group().decode()) + self.shift
            return when.isoformat().encode()

        return _CAP_TIME.sub(moved, data)


class CapServer:
    """The recorded samples (replayed as just published), with ETags (304 on
    If-None-Match), and one endless document."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.replay = Replay()
        self.app = web.Application()
        self.app.router.add_get("/huge.xml", self.huge)
        self.app.router.add_get("/{name}", self.sample)
        self.runner: web.AppRunner | None = None

    async def sample(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] += 1
        if not (SAMPLES / name).is_file():
            raise web.HTTPNotFound()
        body = self.replay.body(name)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/xml", headers={"ETag": etag})

    async def huge(self, request: web.Request) -> web.StreamResponse:
        self.hits["huge.xml"] += 1
        reply = web.StreamResponse()  # no Content-Length: the poller must stop reading
        await reply.prepare(request)
        for _ in range(64):
            await reply.write(b"<x>" + b"a" * 4096 + b"</x>")
        return reply

    async def start(self) -> str:
        """Listening on 127.0.0.1 (a free port); the base URL."""
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def make_signer(tmp: Path, name: str = "NTPD 112 test") -> CapSigner:
    """A throwaway RSA key and its self-signed certificate, as PEM files in `tmp`
    (`<name>-key.pem`, `<name>-cert.pem`, spaces as dashes)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    stem = tmp / name.replace(" ", "-")
    key_file, cert_file = Path(f"{stem}-key.pem"), Path(f"{stem}-cert.pem")
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    signer = CapSigner.from_files(str(key_file), str(cert_file))
    assert signer is not None
    return signer

