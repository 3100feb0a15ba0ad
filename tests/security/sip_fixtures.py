"""A hostile SIP client for the SIP attack tests: raw requests over UDP from any loopback
address, so that a test can send exactly what an attacker would (forged From, P-Asserted-
Identity, operator header, Route, Contact: *), read every answer, and answer a digest
challenge with credentials of its choosing. SIPp plays the well-behaved parties."""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
from dataclasses import dataclass, field

SDP = ("v=0\r\no=attacker 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
       "m=audio {port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case name -> the first value
    text: str

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def _parse(data: bytes) -> Response | None:
    text = data.decode(errors="replace")
    first, _, rest = text.partition("\r\n")
    match = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", first)
    if not match:
        return None  # a request (a retransmitted BYE, an OPTIONS...), not an answer
    headers: dict[str, str] = {}
    for line in rest.split("\r\n\r\n", 1)[0].split("\r\n"):
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return Response(int(match.group(1)), match.group(2), headers, text)


def digest(username: str, password: str, method: str, uri: str, challenge: str) -> str:
    """The Authorization header's value answering a WWW-Authenticate `challenge` (RFC 2617,
    MD5, with or without qop=auth)."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    ha1 = hashlib.md5(f"{username}:{params['realm']}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    nonce = params["nonce"]
    value = (f'Digest username="{username}", realm="{params["realm"]}", nonce="{nonce}", '
             f'uri="{uri}", algorithm=MD5')
    if "auth" in params.get("qop", "").split(","):
        cnonce, nc = secrets.token_hex(8), "00000001"
        response = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        value += f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    if "opaque" in params:
        value += f', opaque="{params["opaque"]}"'
    return value + f', response="{response}"'


@dataclass
class SipClient:
    """One UDP socket at `ip` (any port) talking to `target` ("host:port")."""

    ip: str
    target: str
    sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.ip, 0))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> SipClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, uri: str, *, from_uri: str, to_uri: str,
                call_id: str | None = None, cseq: int = 1, from_tag: str | None = None,
                to_tag: str = "", extra: tuple[str, ...] = (), body: str = "",
                content_type: str = "application/sdp", contact: str | None = None) -> str:
        """Sends one request; returns its Call-ID. `contact`: the Contact header's value
        (this client's own address by default; "*" to remove every binding)."""
        call_id = call_id or f"{secrets.token_hex(8)}@{self.ip}"
        from_tag = from_tag or secrets.token_hex(4)
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.ip}:{self.port};rport;branch=z9hG4bK{secrets.token_hex(6)}",
            "Max-Forwards: 70",
            f"From: <{from_uri}>;tag={from_tag}",
            f"To: <{to_uri}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: {contact or f'<sip:attacker@{self.ip}:{self.port}>'}",
            *extra,
        ]
        if body:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body.encode())}")
        message = "\r\n".join(lines) + "\r\n\r\n" + body
        host, _, port = self.target.rpartition(":")
        self.sock.sendto(message.encode(), (host, int(port)))
        return call_id

    def responses(self, timeout: float, *, until_final: bool = True) -> list[Response]:
        """Every answer within `timeout` s (stops at the first final one if asked)."""
        found: list[Response] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                break
            response = _parse(data)
            if response is None:
                continue
            found.append(response)
            if until_final and response.status >= 200:
                break
        return found

    def final(self, timeout: float = 5.0, method: str | None = None) -> Response | None:
        """The first final answer (>= 200) within `timeout` s, or None; `method`: to that
        method's request only (not a retransmitted 200 of an earlier INVITE)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for response in self.responses(left):
                cseq_method = response.header("cseq").rpartition(" ")[2]
                if response.status >= 200 and method in (None, cseq_method):
                    return response
        return None

    def invite(self, uri: str, *, from_uri: str, extra: tuple[str, ...] = ()) -> str:
        return self.request("INVITE", uri, from_uri=from_uri, to_uri=uri, extra=extra,
                            body=SDP.format(ip=self.ip, port=self.port + 2))

    def ack_and_bye(self, response: Response, uri: str, *, from_uri: str) -> None:
        """Ends a call this client's INVITE set up (ACK the final answer, BYE a 200)."""
        call_id = response.header("call-id")
        from_tag = response.header("from").rpartition("tag=")[2]
        to_tag = response.header("to").rpartition("tag=")[2]
        self.request("ACK", uri, from_uri=from_uri, to_uri=uri, call_id=call_id,
                     from_tag=from_tag, to_tag=to_tag)
        if response.status == 200:
            self.request("BYE", uri, from_uri=from_uri, to_uri=uri, call_id=call_id,
                         cseq=2, from_tag=from_tag, to_tag=to_tag)


class UdpSink:
    """A UDP socket that only listens: "an outside address" that must never be reached."""

    def __init__(self, ip: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.address = f"{ip}:{self.sock.getsockname()[1]}"

    def received(self, within: float) -> list[bytes]:
        got: list[bytes] = []
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                got.append(self.sock.recvfrom(65535)[0])
            except TimeoutError:
                break
        return got

    def close(self) -> None:
        self.sock.close()
