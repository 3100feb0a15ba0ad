"""Login and roles for the web app.

Users live in a TOML file a supervisor can read and diff (no passwords in it, only scrypt
hashes), managed with `ntpd-ivr user add` / `user remove`. A login opens a server-side
session (ntpd_ivr/web/sessions.py); the user's role and agency are read from this file at
every request, so a change to it applies at once.

Roles, each including the ones below it: admin > supervisor > calltaker, and
supervisor > agency. An `agency` user is scoped to one agency of the routing config
(`agency = "<region>-<agency>"` in the users file): it sees that agency's dispatches and
nothing of the call-takers' screens.

Password checks cost ~50-600 ms of CPU each (scrypt, by design); they run in a small
thread pool (`PasswordChecker`), never on the event loop that also serves FastAGI.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import logging
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from time import monotonic

from ntpd_ivr.configfile import named_tables
from ntpd_ivr.errors import ConfigError

log = logging.getLogger(__name__)

ROLES = ("calltaker", "supervisor", "admin", "agency")
AGENCY_ROLE = "agency"
# Role -> the roles whose rights it has.
_INCLUDES = {"calltaker": {"calltaker"}, "agency": {"agency"},
             "supervisor": {"calltaker", "agency", "supervisor"}, "admin": set(ROLES)}
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def role_allows(role: str, required: str) -> bool:
    return required in _INCLUDES.get(role, set())


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return "scrypt${n}${r}${p}${salt}${digest}".format(
        **_SCRYPT, salt=base64.b64encode(salt).decode(), digest=base64.b64encode(digest).decode())


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                  r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str
    agency: str = ""  # the agency an `agency` user acts for; "" for every other role
    # The call-taker's PJSIP endpoint (ntpd-ivr taker add NAME, or a stand-in): where the
    # queue rings them, so where their screen pops and whose queue presence they set.
    sip_endpoint: str | None = None


def valid_endpoint(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and set(value) <= _NAME_CHARS


def validate_name(name: str) -> str:
    if not name or not set(name) <= _NAME_CHARS or len(name) > 64:
        raise ConfigError(f"user name {name!r}: use 1-64 of a-z 0-9 - _ .")
    return name


class UserStore:
    """The users file: `[users.<name>] role = "...", password_hash = "scrypt$..."`."""

    def __init__(self, path: Path | None) -> None:
        """`path=None`: no users file, so nobody can log in."""
        self.path = path
        self.users: dict[str, User] = {}
        self._loaded_stamp: tuple[int, int, int] | None = None
        self._checked_at = float("-inf")  # monotonic time of the last stat
        if path is not None and path.exists():
            self._loaded_stamp = self._stamp(path)
            self.users = self._load(path)

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int, int] | None:
        """Checked at every web request (one stat): `put` replaces the file, so the inode
        changes even when a rewrite keeps the size within the clock's granularity."""
        try:
            stat = path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size, stat.st_ino

    def refresh(self, *, not_within: float = 0.0) -> None:
        """Read the file again if it changed since (`ntpd-ivr user add` on a running
        service): a new user can log in without a restart. A file that became unreadable
        or invalid is logged and the users read before are kept.

        `not_within`: skip the check when the last one is younger than this many seconds.
        For the AMI event path (a screen pop per call-taker event, dozens a second under
        load), never for a web request: a removed user or a changed password must hold
        at that user's very next request."""
        if self.path is None:
            return
        now = monotonic()
        if not_within and now - self._checked_at < not_within:
            return
        self._checked_at = now
        stamp = self._stamp(self.path)
        if stamp is None or stamp == self._loaded_stamp:
            return
        try:
            users = self._load(self.path)
        except (ConfigError, OSError) as exc:
            log.error("web users file changed but cannot be read; keeping the users read "
                      "before: %s", exc)
            self._loaded_stamp = stamp  # said once per change, not at every login
            return
        self._loaded_stamp = stamp
        self.users = users
        log.info("web users file %s read again: %d user(s)", self.path, len(users))

    def _load(self, path: Path) -> dict[str, User]:
        users = {}
        for name, where, body in named_tables(path, "users", validate_name):
            if not isinstance(body, dict) or body.get("role") not in ROLES:
                raise ConfigError(f"{where}.role must be one of {', '.join(ROLES)}")
            if not str(body.get("password_hash", "")).startswith("scrypt$"):
                raise ConfigError(f"{where}.password_hash must be an scrypt hash "
                                  "(set it with `ntpd-ivr user add`)")
            agency = body.get("agency", "")
            try:
                validate_scope(body["role"], agency)
            except ConfigError as exc:
                raise ConfigError(f"{where}.agency: {exc}") from None
            endpoint = body.get("sip_endpoint")
            if endpoint is not None and not valid_endpoint(endpoint):
                raise ConfigError(f"{where}.sip_endpoint must be an endpoint name "
                                  "(a-z 0-9 - _ .)")
            users[name] = User(name, body["role"], body["password_hash"], agency, endpoint)
        return users

    def authenticate(self, name: str, password: str) -> User | None:
        self.refresh()
        user = self.users.get(name)
        if user is None:
            # Same work as a real check, so timing does not tell which names exist.
            verify_password(password, _dummy_hash())
            return None
        return user if verify_password(password, user.password_hash) else None

    def put(self, name: str, role: str, password: str, agency: str = "",
            sip_endpoint: str | None = None) -> None:
        if self.path is None:
            raise ConfigError("no users file: set web.users_file")
        validate_name(name)
        if role not in ROLES:
            raise ConfigError(f"role {role!r}: must be one of {', '.join(ROLES)}")
        validate_scope(role, agency)
        if sip_endpoint is not None and not valid_endpoint(sip_endpoint):
            raise ConfigError(f"sip endpoint {sip_endpoint!r}: use a-z 0-9 - _ .")
        self.refresh()  # users another process added since are kept
        self.users[name] = User(name, role, hash_password(password), agency, sip_endpoint)
        self._save()

    def remove(self, name: str) -> User:
        """Take the user out of the file (`ntpd-ivr user remove`); returns who it was."""
        if self.path is None:
            raise ConfigError("no users file: set web.users_file")
        self.refresh()
        user = self.users.pop(name, None)
        if user is None:
            raise ConfigError(f"no user {name!r} in {self.path}")
        self._save()
        return user

    def _save(self) -> None:
        assert self.path is not None
        lines = ["# ntpd-ivr web users. Manage with `ntpd-ivr user add`; hashes only.\n"]
        for user in sorted(self.users.values(), key=lambda u: u.name):
            lines.append(f'\n[users.{user.name}]\nrole = "{user.role}"\n'
                         + (f'agency = "{user.agency}"\n' if user.agency else "")
                         + f'password_hash = "{user.password_hash}"\n'
                         + (f'sip_endpoint = "{user.sip_endpoint}"\n'
                            if user.sip_endpoint else ""))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(lines), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(self.path)
        self._loaded_stamp = self._stamp(self.path)


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def validate_scope(role: str, agency: object) -> str:
    """An agency user names its agency (a routing config key, `<region>-<agency>`); no
    other role has one."""
    if role == AGENCY_ROLE:
        if not isinstance(agency, str) or not agency or not set(agency) <= _NAME_CHARS \
                or len(agency) > 81:
            raise ConfigError("an agency user needs its agency, written <region>-<agency> "
                              "as in the routing config")
    elif agency:
        raise ConfigError(f"only an {AGENCY_ROLE} user has an agency")
    return str(agency)


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    expires: int
    agency: str = ""  # the scope of an `agency` user


class SecretKeys:
    """Keys derived from web.session_secret, one per use (CSRF tokens), so one secret never
    keys two kinds of thing."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(secret.encode()).digest()

    def derive(self, purpose: str) -> bytes:
        return hmac.new(self._key, f"derive|{purpose}".encode(), hashlib.sha256).digest()


class HashingBusy(Exception):
    """Every password-check thread is busy and the queue is full: refuse, do not hash."""


class PasswordChecker:
    """Checks passwords in `threads` threads, with at most `queue` more waiting.

    hashlib.scrypt releases the GIL while OpenSSL computes (CPython's _hashopenssl.c wraps
    EVP_PBE_scrypt in Py_BEGIN_ALLOW_THREADS), so a thread is enough to keep the event
    loop free; the bound keeps a login flood from queueing unbounded work and memory
    (16 MiB per scrypt)."""

    def __init__(self, threads: int = 1, queue: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads,
                                        thread_name_prefix="password-check",
                                        initializer=_lower_priority)
        self._room = threads + queue
        self._pending = 0
        self._dummy = hash_password(secrets.token_urlsafe(16))

    @property
    def pending(self) -> int:
        return self._pending

    async def verify(self, password: str, stored: str | None) -> bool:
        """`stored=None` (no such user): the same work against a dummy hash, so timing
        does not tell which names exist. Raises HashingBusy when full."""
        if self._pending >= self._room:
            raise HashingBusy(f"{self._pending} password checks already running or queued")
        self._pending += 1
        try:
            ok = await asyncio.get_running_loop().run_in_executor(
                self._pool, functools.partial(verify_password, password,
                                              stored if stored is not None else self._dummy))
        finally:
            self._pending -= 1
        return ok and stored is not None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


HASH_THREAD_NICENESS = 10


def _lower_priority() -> None:
    """On a busy machine the scheduler then gives the event loop's thread (FastAGI) the
    CPU before a password check. Linux applies a nice value per thread (setpriority on
    the thread id); raising one's own needs no privilege."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICENESS)


def password_stamp(user: User) -> str:
    """What a session remembers of the password it was opened with: a new password (a new
    salt, so even the same password) gives a new stamp and ends the older sessions."""
    return hashlib.sha256(f"stamp|{user.password_hash}".encode()).hexdigest()[:32]
