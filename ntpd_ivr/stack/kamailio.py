"""Kamailio (Debian 12's `kamailio`, 5.6) as the SIP edge of the two-node (HA) stack.

The config is `kamailio/kamailio.cfg` of the repository with its `{{name}}` placeholders
filled, like the Asterisk config: the listening address, the dispatcher list (active node
first), the operators by source address (from the routing config). The call-takers'
digest hashes are not in it: the edge reads them from a db_text table that `ntpd-ivr taker`
rewrites while it runs (ntpd_ivr/takers/edge.py). It runs in the foreground (`-DD -E`), as root,
from the stack's run folder; the packaged system service is never used (it stays
disabled: nothing listens by default).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ntpd_ivr.errors import StackError
from ntpd_ivr.ivr.overflow import REGION
from ntpd_ivr.routing.config import Operator
from ntpd_ivr.stack.asterisk import REPO_ROOT, fill_placeholders
from ntpd_ivr.stack.tls import ensure_local_ca
from ntpd_ivr.takers.accounts import REALM, TakerAccount
from ntpd_ivr.takers.edge import (
    TABLE,
    kamailio_binary,
    kamcmd,
    safe_name,
    write_table,
)

log = logging.getLogger(__name__)

TEMPLATE = REPO_ROOT / "kamailio" / "kamailio.cfg"
MODULE_PATH = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
DISPATCHER_SET = 1
# The second site (docs/ha.md, "A second site"): where new calls go when every node is dead.
SECOND_SITE_SET = 2
# A name that goes into the config between quotes: nothing that could close them.


@dataclass(frozen=True)
class Node:
    """One Asterisk node behind the edge; a higher priority is tried first."""

    name: str
    ip: str
    sip_port: int
    priority: int

    @property
    def uri(self) -> str:
        return f"sip:{self.ip}:{self.sip_port}"


@dataclass(frozen=True)
class EdgeConfig:
    listen_ip: str
    listen_port: int
    nodes: tuple[Node, ...]
    run_dir: Path
    # Registrations live at most this long: a phone re-registers within it, so after a
    # Kamailio restart (registrations are in memory) every phone is reachable again
    # within max_expires seconds.
    max_expires: int = 60
    children: int = 4
    log_level: int = 2
    # The second site's destinations (dispatcher set 2) and the region this center answers
    # for, named to it in X-NTPD-Overflow-Region. Empty: no second site, as before.
    second_site: tuple[Node, ...] = ()
    overflow_region: str = ""
    # SIP over TLS for the call-takers' phones (and the nodes' legs to them); 0: none.
    tls_port: int = 0

    def __post_init__(self) -> None:
        if self.second_site and not REGION.match(self.overflow_region):
            raise StackError(f"edge: overflow_region {self.overflow_region!r} is no region "
                             "key (a-z, 0-9, -; a letter first; at most 40)")

    @property
    def cfg_file(self) -> Path:
        return self.run_dir / "kamailio.cfg"

    @property
    def dispatcher_list(self) -> Path:
        return self.run_dir / "dispatcher.list"

    @property
    def credentials_dir(self) -> Path:
        """db_text's folder: the call-takers' digest hashes (ntpd_ivr/takers/edge.py)."""
        return self.run_dir / "credentials"

    @property
    def ctl_socket(self) -> Path:
        return self.run_dir / "kamailio-ctl.sock"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "kamailio.log"

    @property
    def tls_dir(self) -> Path:
        """The edge's local CA (ca.crt: what TLS phones trust) and its certificate."""
        return self.run_dir / "tls"

    @property
    def tls_config(self) -> Path:
        return self.run_dir / "tls.cfg"


def operator_matches(operators: Iterable[Operator]) -> str:
    """route[OPERATOR]'s body: the trunk named by the request's source address."""
    lines = []
    for operator in sorted(operators, key=lambda o: o.key):
        key = safe_name("operator", operator.key)
        for match in operator.match:
            if match.count(":") == 1 and "/" not in match:  # IPv4 a.b.c.d:port
                address, _, port = match.partition(":")
                test = f'$si == "{ipaddress.ip_address(address)}" && $sp == {int(port)}'
            else:
                network = ipaddress.ip_network(match, strict=False)
                test = f'is_in_subnet("$si", "{network}")'
            lines.append(f'\tif ({test}) {{ $var(operator) = "{key}"; }}')
    return "\n".join(lines) or "\t# no operators in the routing config"


def dispatcher_list(nodes: Iterable[Node], second_site: Iterable[Node] = ()) -> str:
    """The dispatcher list file: set, destination, flags, priority, attributes."""
    rows = ["# set destination flags priority attributes (active node first)"]
    for number, members in ((DISPATCHER_SET, nodes), (SECOND_SITE_SET, second_site)):
        for node in sorted(members, key=lambda n: -n.priority):
            rows.append(f"{number} {node.uri} 0 {node.priority} name={node.name}")
    return "\n".join(rows) + "\n"


def _source_is(nodes: Iterable[Node], pv: str) -> str:
    """A test that `pv` ($si, $nh(d)) is one of the nodes' addresses; "false" for none."""
    return " || ".join(f'{pv} == "{ipaddress.ip_address(n.ip)}"' for n in nodes) or "false"


def render(config: EdgeConfig, operators: Iterable[Operator], template: Path = TEMPLATE) -> str:
    from_node = _source_is(config.nodes, "$si")
    # The next hop's host ($du if set, else the Request-URI's): one of the nodes.
    to_node = _source_is(config.nodes, "$nh(d)")
    # The topmost Route names the edge (its Record-Route leaves out port 5060).
    edge_ip = ipaddress.ip_address(config.listen_ip)
    ports = [f'$(route_uri{{uri.port}}) == "{port}"'
             for port in (config.listen_port, config.tls_port) if port]
    if config.listen_port == 5060:
        ports.append('$(route_uri{uri.port}) == ""')
    route_is_edge = f'$(route_uri{{uri.host}}) == "{edge_ip}" && ({" || ".join(ports)})'
    values: Mapping[str, str] = {
        "log_level": str(config.log_level),
        "children": str(config.children),
        "listen_ip": str(ipaddress.ip_address(config.listen_ip)),
        "listen_port": str(config.listen_port),
        "module_path": str(MODULE_PATH),
        "ctl_socket": str(config.ctl_socket),
        "max_expires": str(config.max_expires),
        "min_expires": str(min(5, config.max_expires)),
        "dispatcher_list": str(config.dispatcher_list),
        "from_node": from_node,
        "to_node": to_node,
        "from_site": _source_is(config.second_site, "$si"),
        "to_site": _source_is(config.second_site, "$nh(d)"),
        "overflow_region": config.overflow_region if config.second_site else "",
        "route_is_edge": route_is_edge,
        "operator_matches": operator_matches(operators),
        # db_text: a folder of tables; absolute (a relative one is taken from the config's).
        "credentials_db": f"text://{config.credentials_dir.resolve()}",
        "credentials_table": TABLE,
        "tls": "" if config.tls_port else "#",
        "disable_tcp": "no" if config.tls_port else "yes",
        "tls_port": str(config.tls_port),
        "tls_config": str(config.tls_config.resolve()),
        "realm": REALM,
    }
    return fill_placeholders(template.read_text(encoding="utf-8"), values, template)


class Kamailio:
    """One Kamailio process with its rendered config in `config.run_dir`."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    def write(self, operators: Iterable[Operator], accounts: Iterable[TakerAccount]) -> None:
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        self.config.dispatcher_list.write_text(dispatcher_list(self.config.nodes,
                                                               self.config.second_site))
        write_table(accounts, self.config.credentials_dir)
        if self.config.tls_port:
            self._write_tls()
        # Names the credentials and the control socket: private all the same.
        fd = os.open(self.config.cfg_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(render(self.config, operators))
        check = subprocess.run([kamailio_binary("kamailio"), "-c", "-f", str(self.config.cfg_file)],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            tail = "\n".join(check.stderr.splitlines()[-10:])
            raise StackError(f"{self.config.cfg_file}: kamailio -c refused it:\n{tail}")

    def _write_tls(self) -> None:
        """The edge's certificate from a local CA of its own (production: a real CA's for
        the center's SIP name), and the tls module's rules: TLS 1.2 or later; phones show
        no certificate (they prove themselves by digest)."""
        files = ensure_local_ca(self.config.tls_dir, self.config.listen_ip)
        fd = os.open(self.config.tls_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"""# GENERATED by ntpd_ivr/stack/kamailio.py
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {files.server_key.resolve()}
certificate = {files.server_cert.resolve()}

# To the nodes (their own certificates; on the private network, docs/ha.md).
[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
""")

    def start(self, timeout: float = 20.0) -> None:
        if self.process is not None and self.process.poll() is None:
            raise StackError("Kamailio already runs for this stack")
        self.config.ctl_socket.unlink(missing_ok=True)
        with self.config.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                [kamailio_binary("kamailio"), "-DD", "-E", "-f", str(self.config.cfg_file)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"Kamailio exited with {self.process.returncode}; "
                                 f"see {self.config.log_file}")
            if self.config.ctl_socket.exists() and self.rpc_ok():
                return
            time.sleep(0.2)
        self.kill()
        raise StackError(f"Kamailio not ready in {timeout:.0f} s; see {self.config.log_file}")

    def rpc(self, *command: str, timeout: float = 5.0) -> str:
        return kamcmd(self.config.ctl_socket, *command, timeout=timeout)

    def rpc_ok(self) -> bool:
        try:
            self.rpc("core.uptime")
        except StackError:
            return False
        return True

    def node_states(self) -> dict[str, str]:
        """Destination URI -> dispatcher flags ("AP" active, "IP"/"IX" inactive...)."""
        states: dict[str, str] = {}
        uri = ""
        for line in self.rpc("dispatcher.list").splitlines():
            field, _, value = line.strip().partition(":")
            if field == "URI":
                uri = value.strip()
            elif field == "FLAGS" and uri:
                states[uri] = value.strip()
        return states

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            # Kamailio forks its workers into the same (new) session: signal them all.
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None
