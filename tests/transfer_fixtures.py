"""A routing config with two neighbours (one by address, one by credentials) whose secrets
sit in owner-only files, and a valid EIDO from the first: for the transfer tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ntpd_ivr.eido import model
from ntpd_ivr.routing.config import RoutingConfig, load_routing_config
from tests.unit.test_eido_model import CENTER, incident

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "routing.example.toml"
TOKEN = "banyuasin-token-0123456789-abcdefgh"
OTHER_TOKEN = "musirawas-token-0123456789-abcdefgh"
SIP_PASSWORD = "musirawas-sip-0123456789-abcdefgh"
# Inline tables: the same keys as docs/eido.md's [regions.<r>.neighbours.<name>] tables.
NEIGHBOURS = """
[regions.muba.neighbours]
banyuasin = { name = "Banyuasin Siaga 112", level = "kabupaten", trunk = "center-banyuasin", \
match = ["127.0.0.5"], eido_url = "http://127.0.0.5:13092/eido/transfers", \
token_file = "secrets/banyuasin.token" }
musi-rawas = { name = "Musi Rawas Siaga 112", trunk = "center-musi-rawas", \
identify_by = "credentials", username = "muba-musirawas", \
password_file = "secrets/musirawas.sip", \
eido_url = "http://127.0.0.41:13092/eido/transfers", token_file = "secrets/musirawas.token" }
"""


def routing_with_neighbours(folder: Path, extra: str = NEIGHBOURS) -> RoutingConfig:
    secrets = folder / "secrets"
    secrets.mkdir(exist_ok=True)
    for name, text in (("banyuasin.token", TOKEN), ("musirawas.token", OTHER_TOKEN),
                       ("musirawas.sip", SIP_PASSWORD)):
        (secrets / name).write_text(text + "\n", encoding="utf-8")
        os.chmod(secrets / name, 0o600)
    path = folder / "routing.toml"
    path.write_text(EXAMPLE.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return load_routing_config(path)


def eido_bytes() -> bytes:
    """The sending center's EIDO: a fire in Sekayu, its first call 1795800000.1."""
    return json.dumps(model.export(incident(), CENTER)).encode()


REMOTE_CALL_ID = "urn:emergency:uid:callid:1795800000.1:" + CENTER.domain
