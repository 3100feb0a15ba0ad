"""The outgoing leg of a transfer (issue 23 item 2): a neighbour's optional `contact`, where
our INVITE goes, checked by config check and rendered as its trunk's AOR."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntpd_ivr.errors import ConfigError
from ntpd_ivr.transfer.config import render_neighbours
from tests.transfer_fixtures import NEIGHBOURS, routing_with_neighbours

WITH_CONTACTS = NEIGHBOURS.replace(
    'match = ["127.0.0.5"],', 'match = ["127.0.0.5"], contact = "sip:127.0.0.5:5060",'
).replace('username = "muba-musirawas",',
          'username = "muba-musirawas", contact = "sip:sip.musirawas.example",')


def section(text: str, header: str) -> str:
    return text.split(header, 1)[1].split("\n\n", 1)[0]


def test_a_contact_is_the_trunks_aor_and_a_credentials_center_is_answered_in_kind(
        tmp_path: Path) -> None:
    routing = routing_with_neighbours(tmp_path, WITH_CONTACTS)
    banyuasin = routing.neighbours["muba"]["banyuasin"]
    assert banyuasin.contact == "sip:127.0.0.5:5060"
    text = render_neighbours(routing)
    assert "identify_by = ip\naors = center-banyuasin" in section(
        text, "[center-banyuasin](neighbour-trunk)")
    assert "[center-banyuasin]\ntype = aor\ncontact = sip:127.0.0.5:5060" in text
    musi = section(text, "[center-musi-rawas](neighbour-trunk)")
    assert "aors = center-musi-rawas\noutbound_auth = center-musi-rawas-auth" in musi
    assert "[center-musi-rawas]\ntype = aor\ncontact = sip:sip.musirawas.example" in text


def test_without_a_contact_no_aor_is_rendered(tmp_path: Path) -> None:
    text = render_neighbours(routing_with_neighbours(tmp_path))
    assert "type = aor" not in text and "aors" not in text and "outbound_auth" not in text


@pytest.mark.parametrize("contact", [
    "sip:user@127.0.0.5", "sips:127.0.0.5", "127.0.0.5", "sip:127.0.0.5:70000",
    "sip:127.0.0.5;transport=tcp", "sip:host\\nx", "sip:-bad", "sip:127.0.0.5:0",
])
def test_a_contact_that_is_not_a_host_and_port_is_refused(tmp_path: Path,
                                                           contact: str) -> None:
    extra = NEIGHBOURS.replace('match = ["127.0.0.5"],',
                               f'match = ["127.0.0.5"], contact = "{contact}",')
    with pytest.raises(ConfigError, match=r"banyuasin\.contact"):
        routing_with_neighbours(tmp_path, extra)
