"""The two-node center on loopback, for `make run-ha` and the failover tests: Kamailio as
the SIP edge in front of two Asterisk 22 nodes (127.0.0.10 active, 127.0.0.11 standby),
each with its own controller, a PostgreSQL pair that fails over by itself (Patroni and
etcd, stack/patroni.py), the same call-taker stand-ins.

Each node is a DevStack of its own (its Asterisk instance, controller settings, CDR file)
bound to the node's address, sharing the run folder's secrets, routing config, call-taker
accounts and database. What differs from one node (docs/ha.md):
- operators reach the nodes only through the edge, which names the trunk in
  X-NTPD-Operator; the nodes' `identify` match that header (pjsip-operators.conf);
- the edge itself is an endpoint of each node (pjsip-ha.conf), so its OPTIONS probes get
  200 and anything it sends without an operator header lands nowhere;
- registered call-takers' AORs have one static contact through the edge, which is their
  registrar (pjsip-takers.conf);
- each node's dialplan tries its own controller, then the other node's
  (NTPD_AGI_URL_PEER), then the fallback queue.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ntpd_ivr.ami.accounts import PEER, PEER_FILE, render_peer_account
from ntpd_ivr.db.migrate import upgrade
from ntpd_ivr.errors import StackError
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.routing.render import OPERATORS_NAME, render_operators
from ntpd_ivr.stack.controller import ControllerProcess
from ntpd_ivr.stack.devstack import (
    AGENCY_IP,
    LOOPBACK,
    ROUTING_CONFIG,
    SECRET_KEYS,
    TAKER_IP,
    DevStack,
    StackLayout,
    _load_or_create_secrets,
    _postgres_dir,
)
from ntpd_ivr.stack.kamailio import EdgeConfig, Kamailio, Node
from ntpd_ivr.stack.patroni import SECRET_KEYS as DB_SECRET_KEYS
from ntpd_ivr.stack.patroni import PatroniCluster, PatroniPorts
from ntpd_ivr.stack.ports import free_port
from ntpd_ivr.takers.accounts import AccountStore
from ntpd_ivr.takers.render import write_includes

NODE_IPS = ("127.0.0.10", "127.0.0.11")
NODE_NAMES = ("node-a", "node-b")
EDGE_IP = LOOPBACK
# Dispatcher priorities: the higher is tried first.
ACTIVE_PRIORITY, STANDBY_PRIORITY = 10, 5
HA_PJSIP_NAME = "pjsip-ha.conf"
# The call-taker stand-ins' static members (asterisk-conf/queues-standins.conf).
STANDIN_QUEUES = ("takers-default", "takers-palembang")
STANDIN_MEMBERS = ("PJSIP/taker-1", "PJSIP/taker-2")


def _progress(message: str) -> None:
    print(f"[ntpd-ivr] {message}", flush=True)


@dataclass(frozen=True)
class HaLayout:
    name: str
    run_dir: Path
    edge_port: int
    nodes: tuple[StackLayout, StackLayout]  # active, standby
    # How long a call-taker's registration lives at the edge (registrar max_expires): the
    # longest a phone stays unreachable after an edge restart.
    max_expires: int = 60
    # A second site the edge overflows to when both nodes are dead (stack/secondsite.py),
    # and the region this center answers for, named to it (docs/ha.md, "A second site").
    second_site: Node | None = None
    overflow_region: str = ""
    db_ports: PatroniPorts = field(default_factory=PatroniPorts.dev)
    # SIP over TLS at the edge for the call-takers' phones (0: none).
    edge_tls_port: int = 0

    @classmethod
    def dev(cls, run_dir: Path) -> HaLayout:
        """Fixed, documented ports for `make run-ha` (none shared with `make run`: the
        nodes' SIP, AMI and FastAGI listen on the nodes' own addresses)."""
        nodes = tuple(
            StackLayout(f"ha-{tag}", run_dir / name, sip_port=5060, ami_port=5038,
                        agi_port=4573, web_port=web, pg_port=5434, taker_ports=(5171, 5172),
                        agency_ports=(5181, 5182, 5183, 5184), sip_tls_port=5061)
            for tag, name, web in (("a", NODE_NAMES[0], 8121), ("b", NODE_NAMES[1], 8122)))
        return cls("ha", run_dir, edge_port=5160, nodes=(nodes[0], nodes[1]),
                   edge_tls_port=5161)

    @classmethod
    def ephemeral(cls, run_dir: Path, name: str, max_expires: int = 60) -> HaLayout:
        """Free ports, for a test beside running services."""
        first = StackLayout.ephemeral(run_dir / NODE_NAMES[0], f"{name}-a")
        second = replace(StackLayout.ephemeral(run_dir / NODE_NAMES[1], f"{name}-b"),
                         pg_port=first.pg_port, taker_ports=first.taker_ports,
                         agency_ports=first.agency_ports)
        return cls(name, run_dir, edge_port=free_port("udp"), nodes=(first, second),
                   max_expires=max_expires, db_ports=PatroniPorts.ephemeral(),
                   edge_tls_port=free_port())

    @property
    def edge_address(self) -> str:
        return f"{EDGE_IP}:{self.edge_port}"

    @property
    def edge_tls_address(self) -> str:
        """Where TLS phones register ("" when the edge takes no TLS)."""
        return f"{EDGE_IP}:{self.edge_tls_port}" if self.edge_tls_port else ""

    @property
    def state_file(self) -> Path:
        return self.run_dir / "stack.json"


def node_of(ha: HaLayout, index: int) -> Node:
    """The node as the edge's dispatcher sees it: the active one first."""
    return Node(NODE_NAMES[index], NODE_IPS[index], ha.nodes[index].sip_port,
                ACTIVE_PRIORITY if index == 0 else STANDBY_PRIORITY)


class HaNode(DevStack):
    """One node: a DevStack on its own address, sharing the HA stack's database, secrets,
    routing config and call-taker accounts."""

    def __init__(self, ha: HaLayout, index: int, postgres: PatroniCluster,
                 edge: EdgeConfig) -> None:
        layout = ha.nodes[index]
        layout.run_dir.mkdir(parents=True, exist_ok=True)
        # One set of secrets for the center: one database password, one AMI secret, and
        # a supervisor who logs in alike on both nodes' screens.
        shutil.copyfile(ha.run_dir / "secrets.json", layout.run_dir / "secrets.json")
        (layout.run_dir / "secrets.json").chmod(0o600)
        super().__init__(layout, bind=NODE_IPS[index])
        self.ha = ha
        self.index = index
        # No Kannel per node: the two-node stack's SMS gateway is later work (docs/sms.md).
        self.runs_kannel = False
        self.postgres = postgres
        self.edge = edge
        peer = ha.nodes[1 - index]
        self.peer_agi_url = f"agi://{NODE_IPS[1 - index]}:{peer.agi_port}"

    @property
    def takers_file(self) -> Path:
        return self.ha.run_dir / "takers.toml"

    @property
    def routing_file(self) -> Path:
        return self.ha.run_dir / "routing.toml"

    @property
    def node(self) -> Node:
        return node_of(self.ha, self.index)

    def _asterisk_values(self, prompts_dir: str) -> dict[str, str]:
        values = super()._asterisk_values(prompts_dir)
        values.update({
            "agi_url_peer": self.peer_agi_url,
            # The operator's header first; a call-taker by its From user; the edge's own
            # probes by its address last.
            "identifier_order": "header,username,ip",
            "ha": "",
            "system_name": NODE_NAMES[self.index],
        })
        return values

    def _write_controller_settings(self, prompts_dir: str) -> None:
        """And the other node's AMI, for this controller's screens (ntpd_ivr/peer/)."""
        super()._write_controller_settings(prompts_dir)
        peer = self.ha.nodes[1 - self.index]
        with self.layout.settings_file.open("a", encoding="utf-8") as out:
            out.write(f"""
[ami_peer]
host = "{NODE_IPS[1 - self.index]}"
port = {peer.ami_port}
username = "{PEER.name}"
secret = "{self.secrets['ami_peer_secret']}"
name = "{NODE_NAMES[1 - self.index]}"
local_name = "{NODE_NAMES[self.index]}"

[edge]
address = "{self.ha.edge_address}"
credentials_dir = "{self.edge.credentials_dir}"
ctl_socket = "{self.edge.ctl_socket}"
peer_settings = "{peer.settings_file}"
tls_address = "{self.ha.edge_tls_address}"
""")

    def _write_generated(self, etc: Path) -> None:
        super()._write_generated(etc)
        write_includes(AccountStore(self.takers_file).accounts.values(),
                       str(self.takers_file), etc, via_edge=self.ha.edge_address,
                       via_edge_tls=self.ha.edge_tls_address)
        config = load_routing_config(self.routing_file)
        (etc / OPERATORS_NAME).write_text(render_operators(config, edge_ip=EDGE_IP),
                                          encoding="utf-8")
        (etc / HA_PJSIP_NAME).write_text(render_edge_endpoint(EDGE_IP, (TAKER_IP, AGENCY_IP)),
                                         encoding="utf-8")
        # The other node's controller, read-only but for presence. On loopback it
        # connects from 127.0.0.1; on two machines, permit the other machine's address.
        (etc / PEER_FILE).write_text(
            render_peer_account(self.secrets["ami_peer_secret"], (LOOPBACK,)),
            encoding="utf-8")
        (etc / PEER_FILE).chmod(0o600)

    @property
    def agi_allow(self) -> str:
        """Both nodes' Asterisk (each node's dialplan tries the other's controller when
        its own gives no queue). On one machine their connections come from 127.0.0.1
        (the kernel's source for any 127.x); on two, from the nodes' addresses."""
        return ", ".join((*NODE_IPS, LOOPBACK))


def standins_take_many(stack: DevStack, name: str) -> None:
    """One stack's Asterisk: each call-taker stand-in may take many calls at once."""
    assert stack.asterisk is not None
    for queue in STANDIN_QUEUES:
        for member in STANDIN_MEMBERS:
            out = stack.asterisk.cli(f"queue set ringinuse yes on {member} in {queue}")
            if "Set ringinuse" not in out:  # the CLI exits 0 on "no such member"
                raise StackError(f"{name}: ringinuse on {member} in {queue}: {out.strip()}")


def render_edge_endpoint(edge_ip: str, also_permit: tuple[str, ...] = ()) -> str:
    """pjsip-ha.conf: the edge as an endpoint of the node. Its OPTIONS probes are answered
    200 (an unknown source would be challenged, and the edge would take the node for
    dead); a request it sends with no operator header and no call-taker name goes to a
    context that does not exist, and is refused. And an ACL: a node takes SIP requests
    only from the edge (it trusts the edge's X-NTPD-Operator header) and from
    `also_permit` (the dev/test stacks' call-taker and agency stand-ins, which the node
    calls at their static contacts and which hang up with a BYE of their own)."""
    permits = "".join(f"permit = {address}\n" for address in (edge_ip, *also_permit))
    return (f"; GENERATED by ntpd_ivr/stack/hastack.py: the Kamailio edge ({edge_ip}).\n"
            "[ntpd-edge]\n"
            "type = endpoint\n"
            "context = ntpd-edge-refused\n"
            "identify_by = ip\n"
            "disallow = all\n"
            "allow = alaw,ulaw\n"
            "\n[ntpd-edge]\n"
            "type = identify\n"
            "endpoint = ntpd-edge\n"
            f"match = {edge_ip}\n"
            "\n[only-from-the-edge]\n"
            "type = acl\n"
            "deny = 0.0.0.0/0.0.0.0\n"
            f"{permits}")


class HaStack:
    def __init__(self, layout: HaLayout) -> None:
        self.layout = layout
        layout.run_dir.mkdir(parents=True, exist_ok=True)
        self.secrets = _load_or_create_secrets(layout.run_dir / "secrets.json",
                                               SECRET_KEYS + DB_SECRET_KEYS)
        self.postgres = PatroniCluster(_postgres_dir(layout.nodes[0]), layout.db_ports,
                                       self.secrets)
        edge = EdgeConfig(EDGE_IP, layout.edge_port, (node_of(layout, 0), node_of(layout, 1)),
                          layout.run_dir / "edge", max_expires=layout.max_expires,
                          second_site=(layout.second_site,) if layout.second_site else (),
                          overflow_region=layout.overflow_region,
                          tls_port=layout.edge_tls_port)
        self.nodes = (HaNode(layout, 0, self.postgres, edge),
                      HaNode(layout, 1, self.postgres, edge))
        self.edge = Kamailio(edge)
        # Each node's controller, `ntpd-ivr serve` in a subprocess (a test or the bench
        # kills it as a crash would).
        self.controllers = tuple(
            ControllerProcess(node.layout.settings_file, node.layout.web_port,
                              node.layout.run_dir / "controller.log") for node in self.nodes)

    def write_edge(self) -> None:
        """Render the edge's config from the routing config, and its table of call-takers'
        hashes from the accounts (`ntpd-ivr taker` rewrites the table while it runs)."""
        self.edge.write(load_routing_config(self.nodes[0].routing_file).operators.values(),
                        AccountStore(self.nodes[0].takers_file).accounts.values())

    def up(self) -> None:
        routing = self.nodes[0].routing_file
        if not routing.exists():
            shutil.copyfile(ROUTING_CONFIG, routing)
        _progress(f"PostgreSQL pair (Patroni, etcd) on {LOOPBACK}:"
                  f"{','.join(map(str, self.layout.db_ports.postgres))} (both nodes)")
        self.postgres.init()
        self.postgres.start()
        upgrade(self.postgres.url)
        for node in self.nodes:
            _progress(f"node {node.node.name} on {node.bind}")
            node.up()
        _progress(f"Kamailio edge on {self.layout.edge_address}")
        self.write_edge()
        self.edge.start()
        self.layout.state_file.write_text(json.dumps({
            "edge": self.layout.edge_address,
            "nodes": [{"name": node.node.name, "ip": node.bind,
                       "sip_port": node.layout.sip_port, "web_port": node.layout.web_port,
                       "settings_file": str(node.layout.settings_file)}
                      for node in self.nodes],
            "taker_ports": list(self.layout.nodes[0].taker_ports)}, indent=2))

    def start_controllers(self) -> None:
        for controller in self.controllers:
            controller.start()

    def let_standins_take_many(self) -> None:
        """Let each call-taker stand-in take many calls at once on both nodes (runtime only:
        tests and bench measure the nodes and the edge, not two humans' capacity)."""
        for node in self.nodes:
            standins_take_many(node, node.node.name)

    def kill_node(self, index: int) -> float:
        """SIGKILL a node's Asterisk, as a power cut would; returns when (epoch s)."""
        asterisk = self.nodes[index].asterisk
        assert asterisk is not None and asterisk.process is not None
        killed_at = time.time()
        os.killpg(asterisk.process.pid, signal.SIGKILL)
        asterisk.process.wait(timeout=10)
        asterisk.process = None
        return killed_at

    def restart_node(self, index: int) -> None:
        asterisk = self.nodes[index].asterisk
        assert asterisk is not None
        asterisk.start()

    def node_active(self, index: int) -> bool:
        """Whether the edge's dispatcher has the node active (probed alive)."""
        flags = self.edge.node_states().get(self.nodes[index].node.uri, "")
        return flags.startswith("A")

    def wait_node_active(self, index: int, active: bool, timeout: float) -> float:
        """Wait until the edge sees the node so; returns when (epoch s)."""
        deadline = time.monotonic() + timeout
        while self.node_active(index) != active:
            if time.monotonic() > deadline:
                raise StackError(f"edge: {self.nodes[index].node.name} not "
                                 f"{'active' if active else 'inactive'} within {timeout} s")
            time.sleep(0.05)
        return time.time()

    def restart_edge(self) -> float:
        """Restart Kamailio (registrations are in memory: forgotten); returns when it
        answers again (epoch s)."""
        self.edge.stop()
        self.edge.start()
        return time.time()

    def down(self) -> None:
        for controller in self.controllers:
            controller.stop()
        self.edge.stop()
        for node in self.nodes:
            if node.asterisk is not None:
                node.asterisk.stop()
        self.postgres.stop()

    def destroy(self) -> None:
        """Remove both nodes' Asterisk instance folders and the database (tests only)."""
        for node in self.nodes:
            if node.asterisk is not None:
                shutil.rmtree(node.asterisk.host_path(node.asterisk.base), ignore_errors=True)
        self.postgres.destroy()

    def describe(self) -> str:
        a, b = self.nodes
        lines = [
            f"  SIP edge (Kamailio: operators, call-takers register here)  udp "
            f"{self.layout.edge_address}",
            *([f"  SIP over TLS at the edge (TLS call-takers)  tls "
               f"{self.layout.edge_tls_address} (phones trust "
               f"{self.edge.config.tls_dir / 'ca.crt'})"] if self.layout.edge_tls_port else []),
        ]
        for node, role in ((a, "active"), (b, "standby")):
            lines += [
                f"  {node.node.name} ({role})  SIP udp {node.bind}:{node.layout.sip_port}, "
                f"AMI {node.bind}:{node.layout.ami_port}, FastAGI {node.bind}:"
                f"{node.layout.agi_port}, web http://{LOOPBACK}:{node.layout.web_port}/",
                f"    settings {node.layout.settings_file}; Asterisk log "
                f"{node.asterisk.messages_log if node.asterisk else '-'}",
            ]
        lines += [
            f"  call-taker stand-ins  127.0.0.3:{a.layout.taker_ports[0]}, "
            f"127.0.0.3:{a.layout.taker_ports[1]}",
            self.postgres.describe(),
            f"  Kamailio log {self.edge.config.log_file}; "
            f"`kamcmd -s unix:{self.edge.config.ctl_socket} dispatcher.list`",
            f"  web login  user supervisor, password web_supervisor_password in "
            f"{self.layout.run_dir / 'secrets.json'}",
        ]
        return "\n".join(lines)
