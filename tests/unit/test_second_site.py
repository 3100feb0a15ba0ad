"""The second site of the simulation (ntpd_ivr/stack/secondsite.py): its routing config
lists the first site as a neighbour trunk known by the edge's address, rendered as the
transfer work renders any neighbour (docs/ha.md, "A second site")."""

from __future__ import annotations

from pathlib import Path

from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.stack.secondsite import (
    FIRST_SITE_KEY,
    FIRST_SITE_TRUNK,
    SECOND_SITE_REGION,
    SITE_IP,
    SecondSite,
)
from ntpd_ivr.transfer.config import render_neighbours
from ntpd_ivr.transfer.model import neighbour_of


def test_the_second_site_knows_the_first_by_the_edges_address(tmp_path: Path) -> None:
    site = SecondSite(tmp_path / "site", "site-test", (5171, 5172), edge_ip="127.0.0.1")
    site.write_routing()
    token = site.layout.run_dir / "site-secrets" / "first-site.token"
    assert token.stat().st_mode & 0o077 == 0
    routing = load_routing_config(site.routing_file)
    found = neighbour_of(routing, FIRST_SITE_TRUNK)
    assert found is not None
    region, neighbour = found
    assert (region, neighbour.key, neighbour.identify_by, neighbour.match) == (
        SECOND_SITE_REGION, FIRST_SITE_KEY, "address", ("127.0.0.1",))
    rendered = render_neighbours(routing)
    assert f"[{FIRST_SITE_TRUNK}](neighbour-trunk)" in rendered
    assert "identify_by = ip" in rendered and "match = 127.0.0.1" in rendered
    # The edge's dispatcher set 2 names the site's own address and SIP port.
    assert (site.node.ip, site.node.sip_port) == (SITE_IP, site.layout.sip_port)
