"""The call-taker accounts file and its passwords.

One `[takers.<name>]` table per call-taker: region, queue, transport and the SIP digest
hash (HA1 = MD5(name:realm:password), what res_pjsip's `md5_cred` takes). The password
itself is generated, shown once and stored nowhere; the file is mode 0600 all the same,
since an HA1 lets a phone register.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ntpd_ivr.configfile import named_tables
from ntpd_ivr.errors import ConfigError

# The digest realm Asterisk challenges with (auth `realm`); part of every stored hash, so
# changing it means a new password for everyone.
REALM = "ntpd-ivr"
TRANSPORTS = ("udp", "tls")  # tls: SIP over TLS and SRTP (SDES) media
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_HA1 = re.compile(r"^[0-9a-f]{32}$")


def new_password() -> str:
    """A strong SIP password: 144 random bits, 24 URL-safe characters."""
    return secrets.token_urlsafe(18)


def digest_ha1(name: str, password: str, realm: str = REALM) -> str:
    # MD5 is what SIP digest (RFC 3261) and every softphone speak; the hash is only ever
    # compared by Asterisk, never used to store a reusable secret elsewhere.
    return hashlib.md5(f"{name}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()


def validate_taker_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"call-taker name {name!r}: 2-32 of a-z 0-9 -, starting with a "
                          "letter (it is the SIP user name and the PJSIP endpoint)")
    return name


@dataclass(frozen=True)
class TakerAccount:
    name: str        # SIP user name, PJSIP endpoint/auth/aor, queue member name
    region: str      # routing region
    queue: str       # that region's app_queue queue
    ha1: str         # MD5(name:REALM:password)
    transport: str = "udp"  # one of TRANSPORTS


class AccountStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.accounts: dict[str, TakerAccount] = self._load() if path.exists() else {}

    def _load(self) -> dict[str, TakerAccount]:
        accounts = {}
        for name, where, body in named_tables(self.path, "takers", validate_taker_name):
            if not isinstance(body, dict):
                raise ConfigError(f"{where}: expected a table")
            for key in ("region", "queue", "ha1"):
                if not isinstance(body.get(key), str) or not body[key]:
                    raise ConfigError(f"{where}.{key}: missing")
            if not _HA1.match(body["ha1"]):
                raise ConfigError(f"{where}.ha1: not a digest hash (set it with "
                                  "`ntpd-ivr taker passwd`)")
            transport = body.get("transport", "udp")
            if transport not in TRANSPORTS:
                raise ConfigError(f"{where}.transport: one of {', '.join(TRANSPORTS)}, "
                                  f"got {transport!r}")
            unknown = sorted(set(body) - {"region", "queue", "ha1", "transport"})
            if unknown:
                raise ConfigError(f"{where}.{unknown[0]}: unknown key")
            accounts[name] = TakerAccount(name, body["region"], body["queue"], body["ha1"],
                                          transport)
        return accounts

    def save(self) -> None:
        lines = ["# ntpd-ivr call-taker SIP accounts. Manage with `ntpd-ivr taker add|remove|"
                 "passwd`.\n# Digest hashes only (the passwords were shown once); mode 0600.\n"]
        for a in sorted(self.accounts.values(), key=lambda a: a.name):
            lines.append(f'\n[takers.{a.name}]\nregion = "{a.region}"\nqueue = "{a.queue}"\n'
                         f'transport = "{a.transport}"\nha1 = "{a.ha1}"\n')
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.chmod(0o600)
        tmp.write_text("".join(lines), encoding="utf-8")
        tmp.replace(self.path)

    def add(self, name: str, region: str, queue: str, transport: str = "udp") -> str:
        """Add a call-taker; returns their generated password (to be shown once)."""
        validate_taker_name(name)
        if name in self.accounts:
            raise ConfigError(f"call-taker {name!r} exists: `ntpd-ivr taker passwd {name}` "
                              "gives a new password")
        if transport not in TRANSPORTS:
            raise ConfigError(f"transport {transport!r}: one of {', '.join(TRANSPORTS)}")
        password = new_password()
        self.accounts[name] = TakerAccount(name, region, queue, digest_ha1(name, password),
                                           transport)
        return password

    def passwd(self, name: str) -> str:
        account = self._get(name)
        password = new_password()
        self.accounts[name] = TakerAccount(account.name, account.region, account.queue,
                                           digest_ha1(name, password), account.transport)
        return password

    def remove(self, name: str) -> TakerAccount:
        account = self._get(name)
        del self.accounts[name]
        return account

    def _get(self, name: str) -> TakerAccount:
        if name not in self.accounts:
            known = ", ".join(sorted(self.accounts)) or "none"
            raise ConfigError(f"no call-taker {name!r} in {self.path} (known: {known})")
        return self.accounts[name]
