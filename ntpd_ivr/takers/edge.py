"""The call-takers' digest hashes at the Kamailio edge of the two-node stack (docs/ha.md).

The edge reads them from a db_text table, `takers` in its credentials folder (one row per
call-taker: user name, HA1), through auth_db's `is_subscriber` (kamailio/kamailio.cfg,
route[TAKER_HA1]). db_text runs in non-caching mode (`db_mode 1`): at each lookup it
stats the file and reads it again when its modification time, in whole seconds, is later
than that of the copy it holds. So rewriting the file is the reload: a call-taker added,
re-keyed or removed by `ntpd-ivr taker` is known, re-keyed or refused at the next
REGISTER, with no Kamailio restart and no RPC.

Because db_text compares whole seconds, a file rewritten within the second of the one it
replaces would be missed: each new version is stamped at least one second later than the
old one (`write_table`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from ntpd_ivr.errors import ConfigError, StackError
from ntpd_ivr.takers.accounts import TakerAccount, validate_taker_name

TABLE = "takers"
# db_text's header line: column name(type). auth_db queries `username` (its user_column)
# and loads `ha1` (load_credentials in kamailio.cfg).
HEADER = "username(str) ha1(str)\n"
_HA1 = re.compile(r"^[0-9a-f]{32}$")


def render_table(accounts: Iterable[TakerAccount]) -> str:
    """The db_text table: `name:ha1` rows, sorted. Names are a-z 0-9 - and hashes hex, so
    nothing needs db_text's escapes (a ':' or a newline would)."""
    rows = [HEADER]
    for account in sorted(accounts, key=lambda a: a.name):
        validate_taker_name(account.name)
        if not _HA1.match(account.ha1):
            raise ConfigError(f"call-taker {account.name}: ha1 is not a digest hash")
        rows.append(f"{account.name}:{account.ha1}\n")
    return "".join(rows)


def write_table(accounts: Iterable[TakerAccount], credentials_dir: Path) -> Path:
    """Write the table atomically, private (mode 0600 in a 0700 folder: a hash lets a phone
    register), stamped later than the version it replaces so that db_text reloads it."""
    text = render_table(accounts)
    credentials_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    credentials_dir.chmod(0o700)
    path = credentials_dir / TABLE
    tmp = path.with_name(f".{TABLE}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o600)
    stamp = int(time.time())
    try:
        stamp = max(stamp, int(path.stat().st_mtime) + 1)
    except FileNotFoundError:
        pass
    os.utime(tmp, (stamp, stamp))
    tmp.replace(path)
    return path


# What Kamailio is asked at run time (kamcmd over its control socket): the nodes' own
# `ntpd-ivr taker` drops a registration with it, and the dev stack (stack/kamailio.py)
# drives its edge with it.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def safe_name(kind: str, value: str) -> str:
    if not SAFE_NAME.match(value):
        raise ConfigError(f"{kind} {value!r}: only letters, digits, '.', '_' and '-' can "
                          "go into the Kamailio config")
    return value


def kamailio_binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not path:
        raise StackError(f"{name} is missing: apt-get install kamailio")
    return path


def kamcmd(ctl_socket: Path, *command: str, timeout: float = 5.0) -> str:
    """One RPC over the edge's control socket; its output. StackError if it failed."""
    try:
        proc = subprocess.run(
            [kamailio_binary("kamcmd"), "-s", f"unix:{ctl_socket}", *command],
            capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise StackError(f"kamcmd {' '.join(command)}: no answer within {timeout:g} s "
                         f"on {ctl_socket}") from None
    # An RPC fault ("error: 404 - AOR not found") is printed, and kamcmd still exits 0.
    if proc.returncode != 0 or proc.stdout.startswith("error: "):
        raise StackError(f"kamcmd {' '.join(command)}: "
                         f"{(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def forget_registration(ctl_socket: Path, aor: str) -> bool:
    """Drop a call-taker's registration at the edge (usrloc, in memory); False if it had
    none. An edge that is not running has none."""
    if not ctl_socket.exists():
        return False
    try:
        kamcmd(ctl_socket, "ul.rm", "location", safe_name("call-taker", aor))
    except StackError as exc:
        if "AOR not found" in str(exc):
            return False
        raise
    return True
