"""Who may open a FastAGI session: the Asterisk nodes' addresses (`agi.allow`), and, when
`agi.secret` is set, only a session that proves it knows the center's FastAGI secret.

FastAGI is cleartext TCP without authentication (res_agi.c connects, sends its headers and
obeys what comes back), so the server must decide by itself whom to believe: any process
that reaches the port could otherwise write call records (docs/security.md, "FastAGI
trust"). No I/O here.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ntpd_ivr.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The global variable of the dialplan ([globals] in dialplan/extensions.conf) that holds
# the secret. The server reads it with `GET VARIABLE`: res_agi looks a name up among the
# channel's variables, then the globals (pbx_retrieve_variable). Never an AGI argument or
# a part of the AGI URL: those are written, in clear, into Asterisk's verbose log at
# every call ("Executing [s@ntpd-emergency:14] AGI(...)").
SECRET_VARIABLE = "NTPD_AGI_SECRET"
# The reasons a peer is refused, as /metrics counts them.
REFUSED_ADDRESS = "address"
REFUSED_SECRET = "secret"
REFUSED_DUPLICATE = "duplicate"
REFUSED_REASONS = (REFUSED_ADDRESS, REFUSED_SECRET, REFUSED_DUPLICATE)


def parse_allow_list(text: str, where: str) -> tuple[Network, ...]:
    """`"127.0.0.1, 10.0.0.0/24, ::1"` -> networks; an address is a network of one.
    Raises ConfigError naming `where` (the file and key) for anything else, and for an
    empty list: a FastAGI server that accepts nobody takes no call."""
    networks: list[Network] = []
    for item in text.replace(";", ",").split(","):
        entry = item.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ConfigError(f"{where}: {entry!r} is not an IP address or network "
                              "(e.g. 127.0.0.1, 10.1.2.0/24, ::1)") from None
    if not networks:
        raise ConfigError(f"{where}: empty: list the Asterisk nodes' addresses "
                          "(e.g. \"127.0.0.1\")")
    return tuple(networks)


# What the secret may hold: it is written into extensions.conf ([globals]), where ';'
# starts a comment and spaces are trimmed, and read back in a one-line AGI reply.
_SECRET = re.compile(r"[A-Za-z0-9+/=_.:-]{16,256}")


def check_secret(secret: str, where: str) -> None:
    """An empty secret (none) or one Asterisk hands back unchanged, long enough to guess
    at no better than chance. Raises ConfigError naming `where`."""
    if secret and not _SECRET.fullmatch(secret):
        raise ConfigError(f"{where}: 16-256 characters of A-Z a-z 0-9 + / = _ . : - "
                          "(e.g. `openssl rand -base64 24`); it goes into the dialplan, "
                          "where ';' or a space would cut it")


def _address(peer: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address of a socket's peername (a tuple for TCP; anything else is None)."""
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return None
    try:
        address = ipaddress.ip_address(peer[0].partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's ::ffff:127.0.0.1
    return address


@dataclass(frozen=True)
class PeerPolicy:
    """The allow-list and the optional secret, as the server applies them."""

    allowed: tuple[Network, ...]
    secret: str = ""

    @classmethod
    def from_settings(cls, allow: str, secret: str, where: str = "agi.allow") -> PeerPolicy:
        return cls(parse_allow_list(allow, where), secret)

    def allows(self, peer: object) -> bool:
        """Whether a connection from `peer` (a peername tuple) may go on."""
        address = _address(peer)
        return address is not None and any(address in network for network in self.allowed)

    def secret_ok(self, offered: str | None) -> bool:
        """Whether `offered` (the session's NTPD_AGI_SECRET, None if unset) is the secret;
        always true when no secret is configured. Constant time in the secret."""
        if not self.secret:
            return True
        return offered is not None and hmac.compare_digest(offered.encode("utf-8", "replace"),
                                                            self.secret.encode("utf-8"))


def describe(networks: Iterable[Network]) -> str:
    return ", ".join(str(n) for n in networks)
