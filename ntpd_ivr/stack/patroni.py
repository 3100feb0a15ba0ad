"""PostgreSQL that fails over by itself, for `make run-ha` and its tests: two PostgreSQL
nodes managed by Patroni (Debian's `patroni`), one etcd member as Patroni's store of the
leader key (Debian's `etcd-server`), all on loopback (docs/ha.md, "PostgreSQL").

We write no election of our own: Patroni holds the leader key in etcd with a time to
live; when the leader stops renewing it (its machine died) the replica takes the key and
promotes itself. Synchronous mode: a commit returns once the synchronous standby has the
WAL, so a committed incident is on both nodes. The controllers find the leader with a
libpq-style multi-host URL and `target_session_attrs=read-write` (`url`, `runtime_url`).

`PatroniCluster` stands in for `LocalPostgres` in the two-node stack (stack/hastack.py):
the same `init`/`start`/`stop`/`ensure_runtime_role`/`url`/`runtime_url`. As root, etcd,
Patroni and PostgreSQL run as the `postgres` user (PostgreSQL refuses root), so the base
folder must be reachable by it (stack/postgres.py says where). The Debian services
`etcd` and `patroni` stay disabled (`make deps`): we run our own, with our config.

Passwords (the PostgreSQL superuser, the replication user, the owner, the runtime role)
are generated into the run folder's secrets.json; the YAML files that carry them are mode
0600 and the superuser connects over TCP on loopback with its password only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL

from ntpd_ivr.errors import StackError
from ntpd_ivr.stack.ports import free_port
from ntpd_ivr.stack.postgres import (
    RUNTIME_ROLE_LIMITS,
    SERVER_USER,
    _bindir,
    _quote_ident,
    _quote_literal,
    ensure_role_script,
)

log = logging.getLogger(__name__)

PATRONI = "/usr/bin/patroni"
PATRONICTL = "/usr/bin/patronictl"
ETCD = "/usr/bin/etcd"
SCOPE = "ntpd"
NODE_NAMES = ("pg1", "pg2")
# The secrets this cluster adds to the run folder's secrets.json.
SECRET_KEYS = ("db_superuser_password", "db_replication_password", "db_patroni_rest_password")
# Patroni's timing (checked: `loop_wait + 2 * retry_timeout <= ttl`). The leader key lives
# `ttl` seconds: a dead leader is replaced about that long after its last renewal. Lower
# is faster and, on a loaded machine, risks a failover nobody wanted: measured in
# `make bench-failover` (docs/ha.md).
TTL_S, LOOP_WAIT_S, RETRY_TIMEOUT_S = 10, 2, 4
HTTP_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class PatroniPorts:
    etcd_client: int
    etcd_peer: int
    postgres: tuple[int, int]
    rest: tuple[int, int]   # each Patroni's REST API (role checks, patronictl)

    @classmethod
    def dev(cls) -> PatroniPorts:
        """Fixed, documented ports for `make run-ha` (PostgreSQL 5434 as before, 5435)."""
        return cls(2389, 2390, (5434, 5435), (8131, 8132))

    @classmethod
    def ephemeral(cls) -> PatroniPorts:
        return cls(free_port(), free_port(), (free_port(), free_port()),
                   (free_port(), free_port()))


class PatroniCluster:
    """etcd, and two Patroni-managed PostgreSQL nodes, in `base_dir`."""

    def __init__(self, base_dir: Path, ports: PatroniPorts, secrets: dict[str, str], *,
                 user: str = "ntpd", database: str = "ntpd",
                 runtime_user: str = "ntpd_app", host: str = "127.0.0.1") -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise StackError(f"PatroniCluster listens on loopback only, not {host!r}")
        self.base_dir = Path(base_dir).absolute()
        self.ports, self.host = ports, host
        self.user, self.database, self.runtime_user = user, database, runtime_user
        self.password = secrets["db_password"]
        self.runtime_password = secrets["db_runtime_password"]
        self.superuser_password = secrets["db_superuser_password"]
        self.replication_password = secrets["db_replication_password"]
        # Patroni's REST API: reading the state is open (loopback), changing it
        # (switchover, restart, reinitialise) needs this password; patronictl reads it
        # from the same YAML.
        self.rest_password = secrets["db_patroni_rest_password"]
        self._bin = _bindir()
        self._as_root = os.geteuid() == 0
        self.etcd: subprocess.Popen[bytes] | None = None
        self.patroni: list[subprocess.Popen[bytes] | None] = [None, None]

    # -- what LocalPostgres offers ------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The first node's data folder; its parent is everything (`destroy` removes it)."""
        return self.base_dir / "data1"

    @property
    def port(self) -> int:
        return self.ports.postgres[0]

    def _url(self, user: str, password: str) -> str:
        # SQLAlchemy's asyncpg dialect takes several `host=h:p` (2.0.18+) and passes the
        # rest of the query (target_session_attrs) to asyncpg.connect, which tries each
        # host in turn and keeps the first that is writable.
        return URL.create(
            "postgresql+asyncpg", username=user, password=password, database=self.database,
            query={"host": [f"{self.host}:{p}" for p in self.ports.postgres],
                   "target_session_attrs": "read-write"}).render_as_string(hide_password=False)

    @property
    def url(self) -> str:
        return self._url(self.user, self.password)

    @property
    def runtime_url(self) -> str:
        return self._url(self.runtime_user, self.runtime_password)

    @property
    def initialized(self) -> bool:
        return all((self.base_dir / f"data{i}" / "PG_VERSION").is_file() for i in (1, 2))

    def init(self) -> None:
        """Nothing to do before start: Patroni bootstraps the first node (initdb) and
        clones the second from it (pg_basebackup) when they first start."""

    def start(self, timeout: float = 90) -> None:
        """etcd, then both nodes, until one leads and the other is its synchronous
        standby; then the owner role and its database."""
        if self.etcd is not None and self.etcd.poll() is None:
            return
        self._prepare()
        self._start_etcd()
        # Both at once: on the first start one wins the initialize key and bootstraps,
        # the other waits and clones it; later, the one with the newest WAL leads.
        self.start_node(0)
        self.start_node(1)
        leader = self.wait_leader(timeout)
        self.wait_sync_standby(timeout)
        self._ensure_owner()
        self._wait_replayed(1 - leader, timeout)
        log.info("PostgreSQL pair running: leader %s, synchronous standby %s",
                 NODE_NAMES[leader], NODE_NAMES[1 - leader])

    def ensure_runtime_role(self) -> None:
        self.psql(ensure_role_script(self.runtime_user, self.runtime_password,
                                     alter=RUNTIME_ROLE_LIMITS))

    def running(self) -> bool:
        return any(self._alive(i) for i in (0, 1))

    def stop(self, mode: str = "fast") -> None:
        """Both Patroni at once (each stops its PostgreSQL in fast mode and exits), then
        etcd."""
        del mode
        for started in self.patroni:
            if started is not None and started.poll() is None:
                started.terminate()
        for index, process in enumerate(self.patroni):
            if process is not None and process.poll() is None:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.kill_node(index)
        self.patroni = [None, None]
        if self.etcd is not None and self.etcd.poll() is None:
            self.etcd.terminate()
            try:
                self.etcd.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
                self.etcd.wait(timeout=10)
        self.etcd = None

    # -- the pair ------------------------------------------------------------------------

    def role(self, index: int) -> str | None:
        """"primary", "replica", or None (no answer, or not running yet), from the node's
        Patroni REST API."""
        body = self._rest(index, "patroni")
        if body is None or body.get("state") != "running":
            return None
        role = str(body.get("role", ""))
        return "primary" if role in ("master", "primary") else role or None

    def leader(self) -> int | None:
        return next((i for i in (0, 1) if self.role(i) == "primary"), None)

    def wait_leader(self, timeout: float, *, not_index: int | None = None) -> int:
        """The index of the node that leads (not `not_index`), once one does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in (0, 1):
                if index != not_index and self.role(index) == "primary":
                    return index
            time.sleep(0.1)
        raise StackError(f"no PostgreSQL leader within {timeout:g} s; see "
                         f"{self.base_dir}/patroni-*.log")

    def wait_sync_standby(self, timeout: float) -> int:
        """The index of the synchronous standby, once the leader names one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in (0, 1):
                body = self._rest(index, "cluster")
                for member in (body or {}).get("members", []):
                    if member.get("role") == "sync_standby" and member.get("state") in (
                            "running", "streaming"):
                        return NODE_NAMES.index(member["name"])
            time.sleep(0.2)
        raise StackError(f"no synchronous standby within {timeout:g} s; see "
                         f"{self.base_dir}/patroni-*.log")

    def start_node(self, index: int) -> None:
        if self._alive(index):
            return
        log_path = self.base_dir / f"patroni-{NODE_NAMES[index]}.log"
        self.patroni[index] = self._spawn([PATRONI, str(self._config(index))], log_path)

    def stop_node(self, index: int, timeout: float = 30) -> None:
        process = self.patroni[index]
        if process is not None and process.poll() is None:
            process.terminate()  # Patroni stops its PostgreSQL, then exits
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill_node(index)
        self.patroni[index] = None

    def kill_node(self, index: int) -> float:
        """SIGKILL the node's Patroni and its whole PostgreSQL (the postmaster and its
        backends), as a power cut would; returns when (epoch s). Patroni starts the
        postmaster in a session of its own, so both are killed."""
        postmaster = self._postmaster_pid(index)
        killed_at = time.time()
        process = self.patroni[index]
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        if postmaster is not None:
            try:
                os.killpg(os.getpgid(postmaster), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if process is not None:
            process.wait(timeout=10)
        self.patroni[index] = None
        return killed_at

    def switchover(self, timeout: float = 60) -> tuple[int, float]:
        """A planned switchover (`patronictl switchover --force`) to the synchronous
        standby; returns the new leader and when the command was given (epoch s)."""
        old = self.leader()
        if old is None:
            raise StackError("switchover: no leader")
        asked_at = time.time()
        self._run([PATRONICTL, "-c", str(self._config(old)), "switchover", SCOPE,
                   "--leader", NODE_NAMES[old], "--candidate", NODE_NAMES[1 - old],
                   "--force"], timeout=timeout)
        return self.wait_leader(timeout, not_index=old), asked_at

    def psql(self, script: str, *, database: str = "postgres",
             node: int | None = None) -> str:
        """Run `script` on the leader (or on `node`) as the PostgreSQL superuser (TCP, its
        password)."""
        leader = self.leader() if node is None else node
        if leader is None:
            raise StackError("psql: no PostgreSQL leader")
        env = {"PGPASSWORD": self.superuser_password, "PATH": "/usr/bin:/bin",
               "PGCONNECT_TIMEOUT": "5"}
        done = subprocess.run(
            [str(self._bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", self.host, "-p", str(self.ports.postgres[leader]), "-U", "postgres",
             "-d", database], input=script, env=env, capture_output=True, text=True,
            timeout=60, check=False)
        if done.returncode != 0:
            raise StackError(f"psql on {NODE_NAMES[leader]} failed (exit "
                             f"{done.returncode}): {(done.stderr or done.stdout).strip()}")
        return done.stdout

    def describe(self) -> str:
        leader = self.leader()
        nodes = ", ".join(
            f"{name} tcp {self.host}:{port}"
            f"{' (leader)' if leader == i else ''}"
            for i, (name, port) in enumerate(zip(NODE_NAMES, self.ports.postgres,
                                                 strict=True)))
        return (f"  PostgreSQL (Patroni, synchronous)  {nodes}; etcd {self.host}:"
                f"{self.ports.etcd_client}\n"
                f"    `patronictl -c {self._config(0)} list`; logs {self.base_dir}/"
                "patroni-*.log")

    # -- inside ----------------------------------------------------------------------------

    def _alive(self, index: int) -> bool:
        process = self.patroni[index]
        return process is not None and process.poll() is None

    def _postmaster_pid(self, index: int) -> int | None:
        try:
            first = (self.base_dir / f"data{index + 1}" / "postmaster.pid").read_text()
        except OSError:
            return None
        line = first.split("\n", 1)[0].strip()
        return int(line) if line.isdigit() else None

    def _rest(self, index: int, path: str) -> dict[str, Any] | None:
        url = f"http://{self.host}:{self.ports.rest[index]}/{path}"
        try:
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as reply:
                body = json.loads(reply.read())
        except urllib.error.HTTPError as exc:  # 503: a running node that is not asked for
            try:
                body = json.loads(exc.read())
            except ValueError:
                return None
        except (OSError, ValueError):
            return None
        return body if isinstance(body, dict) else None

    def _config(self, index: int) -> Path:
        return self.base_dir / f"{NODE_NAMES[index]}.yml"

    def _prepare(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._give_to_server(self.base_dir)
        for index in (0, 1):
            path = self._config(index)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(self._render(index))
            self._give_to_server(path)

    def _render(self, index: int) -> str:
        """The node's Patroni YAML (JSON is YAML: no YAML writer needed)."""
        name, host = NODE_NAMES[index], self.host
        pg_port, rest_port = self.ports.postgres[index], self.ports.rest[index]
        config = {
            "scope": SCOPE, "name": name,
            "log": {"level": "INFO"},
            "restapi": {"listen": f"{host}:{rest_port}", "connect_address":
                        f"{host}:{rest_port}",
                        "authentication": {"username": "patroni",
                                           "password": self.rest_password}},
            "ctl": {"authentication": {"username": "patroni",
                                       "password": self.rest_password}},
            "etcd3": {"hosts": f"{host}:{self.ports.etcd_client}"},
            "bootstrap": {
                "dcs": {"ttl": TTL_S, "loop_wait": LOOP_WAIT_S,
                        "retry_timeout": RETRY_TIMEOUT_S,
                        "maximum_lag_on_failover": 1048576,
                        "synchronous_mode": True,
                        "postgresql": {"use_pg_rewind": True,
                                       "parameters": {"wal_log_hints": "on"}}},
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums"],
                "pg_hba": [f"host replication replicator {host}/32 scram-sha-256",
                           f"host all all {host}/32 scram-sha-256"],
            },
            "postgresql": {
                "listen": f"{host}:{pg_port}", "connect_address": f"{host}:{pg_port}",
                "data_dir": str(self.base_dir / f"data{index + 1}"),
                "bin_dir": str(self._bin),
                "pgpass": str(self.base_dir / f"pgpass{index + 1}"),
                "authentication": {
                    "replication": {"username": "replicator",
                                    "password": self.replication_password},
                    "superuser": {"username": "postgres",
                                  "password": self.superuser_password}},
                "parameters": {"unix_socket_directories": str(self.base_dir),
                               "password_encryption": "scram-sha-256"},
                "remove_data_directory_on_rewind_failure": True,
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
        }
        return json.dumps(config, indent=2) + "\n"

    def _start_etcd(self) -> None:
        data = self.base_dir / "etcd"
        data.mkdir(exist_ok=True, mode=0o700)
        self._give_to_server(data)
        client = f"http://{self.host}:{self.ports.etcd_client}"
        peer = f"http://{self.host}:{self.ports.etcd_peer}"
        self.etcd = self._spawn(
            [ETCD, "--name", "e1", "--data-dir", str(data), "--listen-client-urls", client,
             "--advertise-client-urls", client, "--listen-peer-urls", peer,
             "--initial-advertise-peer-urls", peer, "--initial-cluster", f"e1={peer}",
             "--log-level", "warn"],
            self.base_dir / "etcd.log")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.etcd.poll() is not None:
                raise StackError(f"etcd exited with {self.etcd.returncode}; see "
                                 f"{self.base_dir / 'etcd.log'}")
            try:
                with urllib.request.urlopen(f"{client}/health", timeout=HTTP_TIMEOUT_S) as r:
                    if json.loads(r.read()).get("health") == "true":
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise StackError(f"etcd not healthy within 30 s; see {self.base_dir / 'etcd.log'}")

    def _ensure_owner(self) -> None:
        role = _quote_ident(self.user)
        self.psql(ensure_role_script(self.user, self.password)
                  + f"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = "
                  f"{_quote_literal(self.database)}) AS found \\gset\n"
                  f"\\if :found\n\\else\nCREATE DATABASE {_quote_ident(self.database)} "
                  f"OWNER {role};\n\\endif\n")

    def _wait_replayed(self, standby: int, timeout: float) -> None:
        """Until the standby has replayed the database's creation. Synchronous replication
        waits for the standby's flush, not its replay; and asyncpg, given both hosts, stops
        at the first one that answers "database does not exist" instead of trying the
        next: a client whose first host is a fresh standby would fail at bootstrap."""
        deadline = time.monotonic() + timeout
        probe = (f"SELECT count(*) FROM pg_database WHERE datname = "
                 f"{_quote_literal(self.database)}")
        while True:
            try:
                if self.psql(probe, node=standby).strip() == "1":
                    return
            except StackError:
                pass
            if time.monotonic() > deadline:
                raise StackError(f"{NODE_NAMES[standby]} did not replay the database "
                                 f"{self.database!r} within {timeout:g} s")
            time.sleep(0.2)

    def _spawn(self, command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        """A process of its own group (killed as a whole), as the server user when root."""
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        entry = pwd.getpwnam(SERVER_USER) if self._as_root else None
        if entry is not None:
            env["HOME"] = entry.pw_dir
        with log_path.open("ab") as log_file:
            self._give_to_server(log_path)
            return subprocess.Popen(
                command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.base_dir, env=env, start_new_session=True,
                user=entry.pw_uid if entry else None, group=entry.pw_gid if entry else None,
                extra_groups=[] if entry else None)

    def _run(self, command: list[str], timeout: float) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  check=False, env={"PATH": "/usr/bin:/bin",
                                                    "LANG": "C.UTF-8"})
        except subprocess.TimeoutExpired:
            raise StackError(f"{command[0]}: no answer in {timeout:g} s") from None
        if done.returncode != 0:
            raise StackError(f"{' '.join(command[:4])}... failed (exit {done.returncode}): "
                             f"{(done.stderr or done.stdout).strip()[-500:]}")
        return done.stdout

    def _give_to_server(self, path: Path) -> None:
        if self._as_root:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def destroy(self) -> None:
        """Remove the cluster's folder, and its parent if that is left empty (tests)."""
        shutil.rmtree(self.base_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.base_dir.parent.rmdir()
