"""Two 112 centers on one machine, for the end-to-end tests of a transfer between them
(issue 23 item 6, docs/eido.md): center A on 127.0.0.71, center B on 127.0.0.72, each a
DevStack of its own (its Asterisk 22, controller, PostgreSQL, Kannel, call-taker stand-in
ports) bound to its address, so that the SIP requests A's Asterisk sends come from A's
address and B knows A's trunk by it, as two centers on two machines would.

Each center's routing config (a copy of the example) names the other as a neighbour of
Kota Palembang, as docs/eido.md "Neighbours" says: a trunk known by the other's source
address, a contact (the other's SIP address), the other's transfer listener as eido_url
and the pair's shared token in an owner-only token_file. Both listeners are on (the
DevStack's [transfer], bound to the center's address). Each center has two desk users, one
tied to each call-taker stand-in.

The web apps and the databases stay on 127.0.0.1 (each on its own port): nothing of a
transfer goes through them but the desk's own requests."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ntpd_ivr.stack.devstack import ROUTING_CONFIG, DevStack, StackLayout
from ntpd_ivr.web.auth import UserStore
from tests.stack_fixtures import Controller

CENTER_IPS = {"center-a": "127.0.0.71", "center-b": "127.0.0.72"}
NAMES = {"center-a": "Siaga 112 Pusat A", "center-b": "Siaga 112 Pusat B"}
REGION = "palembang"  # each center lists the other under this region (queue takers-palembang)
DESK_PASSWORD = "two-centers-desk-password"
DESKS = {"desk-1": "taker-1", "desk-2": "taker-2"}  # desk user: their phone (stand-in)
TOKEN_FILE = "transfer-secrets/pair.token"


@dataclass
class Center:
    key: str  # how the other center names this one: its neighbour key and trunk
    stack: DevStack
    controller: Controller

    @property
    def name(self) -> str:
        return NAMES[self.key]

    @property
    def ip(self) -> str:
        return self.stack.bind

    @property
    def sip(self) -> str:
        """Where this center's Asterisk takes SIP (operators' calls, the other's trunk)."""
        return f"{self.ip}:{self.stack.layout.sip_port}"

    @property
    def eido_url(self) -> str:
        return f"http://{self.ip}:{self.stack.layout.transfer_port}/eido/transfers"

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.stack.layout.web_port}"

    @property
    def token_file(self) -> Path:
        """This center's copy of the pair's token (what it sends and what it accepts)."""
        return self.stack.routing_file.parent / TOKEN_FILE


def neighbour_section(other: Center) -> str:
    """`other` as a neighbour in this center's routing config (docs/eido.md)."""
    return f"""
[regions.{REGION}.neighbours.{other.key}]
name = "{other.name}"
level = "kota"
trunk = "{other.key}"
match = ["{other.ip}"]
contact = "sip:{other.sip}"
eido_url = "{other.eido_url}"
token_file = "{TOKEN_FILE}"
"""


def write_token(path: Path, token: str) -> None:
    """One secret in an owner-only file, as config check and the sender require."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")


def _prepare(center: Center, other: Center, token: str) -> None:
    """Before its stack is up: the routing config naming the other center, the token, the
    desk users (the controller reads the users file at start)."""
    routing = center.stack.routing_file
    routing.write_text(ROUTING_CONFIG.read_text(encoding="utf-8") + neighbour_section(other),
                       encoding="utf-8")
    write_token(center.token_file, token)
    users = UserStore(center.stack.layout.run_dir / "users.toml")
    for user, endpoint in DESKS.items():
        users.put(user, "calltaker", DESK_PASSWORD, sip_endpoint=endpoint)


@contextlib.contextmanager
def two_centers(tag: str) -> Iterator[tuple[Center, Center]]:
    """Both centers up, their controllers healthy; everything stopped and removed after
    (E2E_KEEP_STACK=1 keeps the run folders and Asterisk logs for a post-mortem)."""
    run_dirs = {key: Path(tempfile.mkdtemp(prefix=f"ntpd-ivr-{key}-")) for key in CENTER_IPS}
    centers = []
    for key, ip in CENTER_IPS.items():
        layout = StackLayout.ephemeral(run_dirs[key], name=f"{tag}-{key}")
        stack = DevStack(layout, bind=ip)
        centers.append(Center(key, stack, Controller(layout)))
    a, b = centers
    token = secrets.token_urlsafe(32)  # one shared secret for the pair, as docs/eido.md says
    _prepare(a, b, token)
    _prepare(b, a, token)
    try:
        # Side by side: each stack is mostly waiting (PostgreSQL, Asterisk, Kannel booting).
        with ThreadPoolExecutor(2, thread_name_prefix="center") as pool:
            for started in [pool.submit(center.stack.up) for center in centers]:
                started.result()
            # Generous: under the shared machine's load a controller took over 30 s to start.
            for started in [pool.submit(center.controller.start, 90.0) for center in centers]:
                started.result()
        yield a, b
    finally:
        for center in centers:
            center.controller.stop()
            center.stack.down()
            if os.environ.get("E2E_KEEP_STACK") == "1":
                asterisk = center.stack.asterisk
                print(f"\nkept {center.stack.layout.run_dir} and "
                      f"{asterisk.messages_log if asterisk else ''}")
            else:
                center.stack.destroy()
                shutil.rmtree(center.stack.layout.run_dir, ignore_errors=True)
