"""A second site on the same machine (docs/ha.md, "A second site"): another 112 center with
its own loopback address, its own Asterisk, controller and PostgreSQL, which the first
site's Kamailio edge overflows new calls to when every node of the first site is dead.

It is a DevStack (one node, no Kannel) bound to SITE_IP, whose routing config lists the
first site as a neighbour (the transfer work's trunk shape, docs/eido.md "Neighbours"):
trunk FIRST_SITE_TRUNK, known by the source address of the first site's edge. The edge
names the region the call was for in X-NTPD-Overflow-Region; this site reads it on that
trunk only (ntpd_ivr/ivr/overflow.py). It shares the first site's call-taker stand-ins
(the same SIPp ports at 127.0.0.3): they answer both sites' queues.

Here the first site "answers for" Musi Banyuasin (FIRST_SITE_REGION) and the second site is
the province's center (region SECOND_SITE_REGION lists the first site)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from ntpd_ivr.stack.controller import ControllerProcess
from ntpd_ivr.stack.devstack import LOOPBACK, ROUTING_CONFIG, DevStack, StackLayout
from ntpd_ivr.stack.hastack import HaStack, standins_take_many
from ntpd_ivr.stack.kamailio import Node

SITE_IP = "127.0.0.20"
SITE_NAME = "site-2"                 # its Asterisk's system name: uniqueids site-2-...
FIRST_SITE_REGION = "muba"           # the region the first site answers for
FIRST_SITE_KEY = "muba-center"       # the first site, as a neighbour in the second's config
FIRST_SITE_TRUNK = "center-muba"     # its PJSIP endpoint at the second site
SECOND_SITE_REGION = "sumsel"        # where the second site queues the overflow
SITE_PRIORITY = 10


def neighbour_section(edge_ip: str, token_file: str) -> str:
    """The first site in the second site's routing config: identified by its edge's
    address (the edge sends every overflowed INVITE from it)."""
    return f"""
# The first site (ntpd_ivr/stack/secondsite.py): its edge overflows calls here when every
# node there is dead, naming the region in X-NTPD-Overflow-Region (docs/ha.md).
[regions.{SECOND_SITE_REGION}.neighbours.{FIRST_SITE_KEY}]
name = "Musi Banyuasin Siaga 112 (first site)"
level = "kabupaten"
trunk = "{FIRST_SITE_TRUNK}"
identify_by = "address"
match = ["{edge_ip}"]
eido_url = "http://{edge_ip}:13092/eido/transfers"
token_file = "{token_file}"
"""


class SecondSite(DevStack):
    """The second center: one Asterisk on SITE_IP, its controller, its own PostgreSQL."""

    def __init__(self, run_dir: Path, name: str, taker_ports: tuple[int, int],
                 edge_ip: str = LOOPBACK) -> None:
        layout = replace(StackLayout.ephemeral(run_dir, name), taker_ports=taker_ports)
        super().__init__(layout)
        self.bind = SITE_IP
        # Calls only: no SMS gateway, no location or transfer listeners.
        self.runs_kannel = False
        self.edge_ip = edge_ip
        self.controller = ControllerProcess(layout.settings_file, layout.web_port,
                                            layout.run_dir / "controller.log")

    @property
    def node(self) -> Node:
        """This site as the first site's edge sees it (dispatcher set 2)."""
        return Node(SITE_NAME, SITE_IP, self.layout.sip_port, SITE_PRIORITY)

    def _asterisk_values(self, prompts_dir: str) -> dict[str, str]:
        values = super()._asterisk_values(prompts_dir)
        # Its unique ids name it (site-2-...), like the nodes' (asterisk.conf systemname).
        values.update({"ha": "", "system_name": SITE_NAME})
        return values

    def write_routing(self) -> None:
        """The example routing config with the first site as a neighbour (its token file
        owner-only, as the config requires)."""
        token = self.layout.run_dir / "site-secrets" / "first-site.token"
        token.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(os.urandom(24).hex() + "\n")
        self.routing_file.write_text(
            ROUTING_CONFIG.read_text(encoding="utf-8")
            + neighbour_section(self.edge_ip, "site-secrets/first-site.token"),
            encoding="utf-8")

    def up(self) -> None:
        if not self.routing_file.exists():
            self.write_routing()
        super().up()

    def start(self) -> None:
        self.up()
        self.controller.start()

    def let_standins_take_many(self) -> None:
        standins_take_many(self, SITE_NAME)

    def down(self) -> None:
        self.controller.stop()
        super().down()

    def destroy(self) -> None:
        super().destroy()
        shutil.rmtree(self.layout.run_dir, ignore_errors=True)


def kill_site(ha: HaStack) -> float:
    """SIGKILL the whole first site (both Asterisk nodes, both controllers, both PostgreSQL
    nodes of its Patroni pair: no shutdown checkpoint, recovery at the next start, as after
    a power cut; then its etcd); the edge stays (docs/ha.md: it lives outside the site's
    power). Returns when the kill began (epoch s)."""
    struck = time.time()
    for index in (0, 1):
        ha.kill_node(index)
    for controller in ha.controllers:
        controller.kill()
    for index in (0, 1):
        ha.postgres.kill_node(index)
    ha.postgres.stop()  # etcd: nothing of the site's database is left running
    return struck


def restore_site(ha: HaStack) -> None:
    """The first site back, in the order of a power return: the database first, then both
    nodes, then both controllers (each replays its spool and closes its node's cut calls)."""
    ha.postgres.start()
    for index in (0, 1):
        ha.restart_node(index)
    for controller in ha.controllers:
        controller.start()
