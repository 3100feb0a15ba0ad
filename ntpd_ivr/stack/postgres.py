"""A private PostgreSQL cluster for the controller (and its tests), on loopback only.

Layout, all beside each other in ``data_dir``'s parent::

    <data_dir>/          the cluster, owned by the server's OS user
    <data_dir>.sock/     its Unix socket (local peer authentication only)
    <data_dir>.log       the server log

``initdb`` and ``pg_ctl`` refuse to run as root. As root we run them as the ``postgres``
user, so ``data_dir``'s parent must be reachable (every directory above it searchable) by
that user: ``/var/lib/ntpd-ivr/pg`` or a directory under ``/tmp`` is, anything under
``/root`` or pytest's ``/tmp/pytest-of-root`` (mode 0700) is not. We check rather than
loosen permissions on directories we do not own.

TCP connections use SCRAM passwords; the OS superuser gets a random password that is
thrown away, so the only way in as superuser is the Unix socket, e.g.
``runuser -u postgres -- psql -h <data_dir>.sock -p <port> -d postgres``.

Two roles when given a runtime password: ``user`` (``ntpd``) owns the database and its
tables and runs the migrations (``url``); ``runtime_user`` (``ntpd_app``) is what the
controller connects as (``runtime_url``), with only the rights that
``ntpd_ivr.db.migrate.grant_runtime`` gives it: no DDL, and on ``audit_events`` only
INSERT and SELECT (docs/security.md).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import pwd
import re
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import URL

from ntpd_ivr.errors import StackError

log = logging.getLogger(__name__)

SERVER_USER = "postgres"  # the Debian/Ubuntu package's OS user
PACKAGE_ROOT = Path("/usr/lib/postgresql")  # one <major version>/bin per installed server
_UNIX_SOCKET_MAX = 107  # sun_path is 108 bytes with its terminating NUL


def _bindir() -> Path:
    """The newest PostgreSQL server binaries installed the Debian way."""
    found = []
    for candidate in PACKAGE_ROOT.glob("*/bin"):
        if re.fullmatch(r"\d+", candidate.parent.name) and (candidate / "pg_ctl").is_file():
            found.append((int(candidate.parent.name), candidate))
    if not found:
        raise StackError(f"no PostgreSQL server binaries in {PACKAGE_ROOT}/*/bin; "
                         "apt-get install postgresql")
    return max(found)[1]


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    # standard_conforming_strings is on (the default since 9.1): only quotes need doubling.
    return "'" + value.replace("'", "''") + "'"


def ensure_role_script(name: str, password: str, *, alter: str = "") -> str:
    """psql: create the login role `name` with `password`, or set its password again (and
    `alter`'s attributes, e.g. "NOSUPERUSER NOCREATEDB NOCREATEROLE") when it exists."""
    role, secret = _quote_ident(name), _quote_literal(password)
    attributes = f" {alter}" if alter else ""
    return (f"SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
            f"{_quote_literal(name)}) AS found \\gset\n"
            f"\\if :found\nALTER ROLE {role} LOGIN{attributes} PASSWORD {secret};\n"
            f"\\else\nCREATE ROLE {role} LOGIN PASSWORD {secret};\n\\endif\n")


# The runtime role may read and write rows, nothing more (its table rights come after the
# migrations).
RUNTIME_ROLE_LIMITS = "NOSUPERUSER NOCREATEDB NOCREATEROLE"


class LocalPostgres:
    def __init__(self, data_dir: Path, port: int, password: str, host: str = "127.0.0.1",
                 user: str = "ntpd", database: str = "ntpd", *,
                 runtime_password: str | None = None,
                 runtime_user: str = "ntpd_app") -> None:
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise StackError(f"LocalPostgres listens on loopback only, not {host!r}")
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.password = password
        self.host = host
        self.user = user
        self.database = database
        self.runtime_password = runtime_password
        self.runtime_user = runtime_user if runtime_password else None
        self.socket_dir = self.data_dir.with_name(self.data_dir.name + ".sock")
        self.log_file = self.data_dir.with_name(self.data_dir.name + ".log")
        self._bin = _bindir()
        self._as_root = os.geteuid() == 0
        socket_path = self.socket_dir / f".s.PGSQL.{port}"
        if len(os.fsencode(socket_path)) > _UNIX_SOCKET_MAX:
            raise StackError(f"{socket_path}: path too long for a Unix socket; "
                             "use a shorter data directory path")

    @property
    def url(self) -> str:
        return URL.create("postgresql+asyncpg", username=self.user, password=self.password,
                          host=self.host, port=self.port, database=self.database,
                          ).render_as_string(hide_password=False)

    @property
    def runtime_url(self) -> str | None:
        """The controller's URL (the runtime role), or None when there is one role only."""
        if self.runtime_user is None:
            return None
        return URL.create("postgresql+asyncpg", username=self.runtime_user,
                          password=self.runtime_password, host=self.host, port=self.port,
                          database=self.database).render_as_string(hide_password=False)

    def ensure_runtime_role(self) -> None:
        """Create the runtime role, or set its password again (a cluster made before it
        existed gets it too); the server must run. Its table rights come from
        `ntpd_ivr.db.migrate.grant_runtime`, after the migrations."""
        if self.runtime_user is None or self.runtime_password is None:
            return
        self._psql_as_superuser(ensure_role_script(
            self.runtime_user, self.runtime_password, alter=RUNTIME_ROLE_LIMITS))

    def _psql_as_superuser(self, script: str) -> None:
        """Run `script` in the `postgres` database over the Unix socket (peer auth)."""
        self._run(self._bin / "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                  "-h", self.socket_dir, "-p", str(self.port), "-d", "postgres",
                  stdin=script)

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def init(self) -> None:
        """Create the cluster, the role and its database. A no-op when already done.

        The cluster is built in a staging directory and renamed into place last, so a
        crash half-way leaves nothing that `initialized` would mistake for a finished one.
        """
        if self.initialized:
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise StackError(f"{self.data_dir}: exists, is not empty and is not a "
                             "PostgreSQL data directory")
        self._prepare_dirs()
        staging = self.data_dir.with_name(self.data_dir.name + ".initdb")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)  # made here: the server user may not write to the parent
        self._give_to_server(staging)
        pwfile = self.socket_dir / "superuser.pw"
        pwfile.write_text(secrets.token_urlsafe(24) + "\n")
        pwfile.chmod(0o600)
        self._give_to_server(pwfile)
        try:
            self._run(self._bin / "initdb", "-D", staging, "--auth-host=scram-sha-256",
                      "--auth-local=peer", f"--pwfile={pwfile}", "--encoding=UTF8",
                      "--no-locale", "--no-instructions", timeout=120)
        finally:
            pwfile.unlink()
        # Provision over the Unix socket only (no TCP listener) before any password exists.
        self._pg_ctl("start", "-w", "-t", "60", "-D", staging, "-l", self.log_file,
                     "-o", f"-h '' -p {self.port} -k {shlex.quote(str(self.socket_dir))}")
        try:
            script = (f"CREATE ROLE {_quote_ident(self.user)} LOGIN "
                      f"PASSWORD {_quote_literal(self.password)};\n"
                      f"CREATE DATABASE {_quote_ident(self.database)} "
                      f"OWNER {_quote_ident(self.user)};\n")
            self._psql_as_superuser(script)
        finally:
            self._pg_ctl("stop", "-w", "-t", "60", "-m", "fast", "-D", staging)
        if self.data_dir.exists():
            self.data_dir.rmdir()
        staging.rename(self.data_dir)
        log.info("PostgreSQL cluster initialised in %s (role %s, database %s)",
                 self.data_dir, self.user, self.database)

    def start(self, timeout: float = 30) -> None:
        if not self.initialized:
            raise StackError(f"{self.data_dir}: no PostgreSQL cluster; call init() first")
        if self.running():
            return
        self._prepare_dirs()
        options = f"-h {self.host} -p {self.port} -k {shlex.quote(str(self.socket_dir))}"
        self._pg_ctl("start", "-w", "-t", str(int(timeout)), "-D", self.data_dir,
                     "-l", self.log_file, "-o", options, timeout=timeout + 10)
        log.info("PostgreSQL running on %s:%d (log %s)", self.host, self.port, self.log_file)

    def stop(self, mode: str = "fast") -> None:
        if mode not in {"smart", "fast", "immediate"}:
            raise ValueError(f"pg_ctl stop mode must be smart, fast or immediate, not {mode!r}")
        if not self.running():
            return
        self._pg_ctl("stop", "-w", "-t", "60", "-m", mode, "-D", self.data_dir)
        log.info("PostgreSQL on port %d stopped (%s)", self.port, mode)

    def running(self) -> bool:
        if not self.initialized:
            return False
        # pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
        return self._run(self._bin / "pg_ctl", "status", "-D", self.data_dir,
                         check=False).returncode == 0

    def _prepare_dirs(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._check_reachable(self.data_dir.parent)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        self.log_file.touch(mode=0o600, exist_ok=True)
        # The server (not root) opens the log, so it must own it; the parent may stay root's.
        self._give_to_server(self.socket_dir)
        self._give_to_server(self.log_file)

    def _check_reachable(self, directory: Path) -> None:
        if not self._as_root or self._run("test", "-x", directory, check=False).returncode == 0:
            return
        blocking = next((d for d in [*reversed(directory.parents), directory]
                         if self._run("test", "-x", d, check=False).returncode != 0), directory)
        raise StackError(f"{blocking}: not searchable by the {SERVER_USER} user, so it cannot "
                         f"reach {self.data_dir}; put the data directory elsewhere "
                         f"(e.g. /var/lib/ntpd-ivr) or chmod o+x {blocking}")

    def _give_to_server(self, path: Path) -> None:
        if self._as_root:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _pg_ctl(self, *args: str | Path, timeout: float = 90) -> None:
        try:
            self._run(self._bin / "pg_ctl", *args, timeout=timeout)
        except StackError as exc:
            raise StackError(f"{exc}\n--- last lines of {self.log_file} ---\n"
                             f"{self._log_tail()}") from None

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(unreadable: {exc})"

    def _run(self, *args: str | Path, stdin: str | None = None, timeout: float = 60,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        if self._as_root:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise StackError(f"running as root needs the {SERVER_USER} OS user to run "
                                 "PostgreSQL; apt-get install postgresql creates it") from None
        command = [*(["runuser", "-u", SERVER_USER, "--"] if self._as_root else []),
                   *map(str, args)]
        try:
            # cwd=/ : the server user may not be allowed into our working directory, and
            # initdb/pg_ctl fail when they cannot resolve it.
            done = subprocess.run(command, input=stdin, capture_output=True, text=True,
                                  timeout=timeout, cwd="/", check=False)
        except subprocess.TimeoutExpired:
            raise StackError(f"{shlex.join(command)}: no answer in {timeout:g} s") from None
        if check and done.returncode != 0:
            raise StackError(f"{shlex.join(command)} failed (exit {done.returncode}): "
                             f"{(done.stderr or done.stdout).strip()}")
        return done
