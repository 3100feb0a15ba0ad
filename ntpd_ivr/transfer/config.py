"""The 112 centers a region may hand a caller to (issue 23): its neighbours and the
province, under ``[regions.<region>.neighbours.<name>]`` of the routing config.

Each neighbour has a SIP trunk (a PJSIP endpoint, known by the source address of its
INVITEs or by the credentials it proves) and an HTTPS endpoint that takes the incident as
an EIDO document (ntpd_ivr/eido), with a bearer token. Secrets never sit in the routing
config, which is world-readable and kept in version control: the token and the SIP
password are each in a file of their own, named here, relative to the config file, and
readable by its owner only (like feed.bearer_token_file in the settings). Parsed with the
shared reader, so every error names the file and the key (docs/eido.md, "Neighbours").
"""

from __future__ import annotations

import ipaddress
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol
from urllib.parse import urlsplit

from ntpd_ivr.configfile import ConfigReader
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.numbers import NUMBER_FORMATS

_KEY = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_ENDPOINT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Where our transfer's INVITE goes: a host (name, IPv4, [IPv6]) and a port, nothing else.
_CONTACT = re.compile(r"^sip:(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252})"
                      r"(?::([0-9]{1,5}))?$")
MIN_SECRET_CHARS = 24     # a token or a SIP password shorter than this is refused
MAX_SECRET_CHARS = 512
IDENTIFY_BY = ("address", "credentials")


class HasNeighbours(Protocol):
    """The routing config as rendering sees it (routing/config.py imports this module)."""

    @property
    def source(self) -> str: ...

    @property
    def neighbours(self) -> Mapping[str, Mapping[str, Neighbour]]: ...


@dataclass(frozen=True)
class Neighbour:
    """Another 112 center this region may transfer a caller to."""

    key: str                    # [regions.<r>.neighbours.<key>]
    name: str                   # shown to the call-taker ("Palembang Siaga 112")
    level: str                  # province, kabupaten or kota
    trunk: str                  # PJSIP endpoint of the SIP trunk to it
    identify_by: str            # "address": its INVITEs' source; "credentials": it registers
                                # or authenticates with username + password
    match: tuple[str, ...]      # source addresses/networks when identify_by = "address"
    username: str               # SIP user when identify_by = "credentials"
    password_file: str          # absolute path of the file holding the SIP password
    eido_url: str               # where its center takes an EIDO document (POST)
    token_file: str             # absolute path of the file holding the bearer token
    contact: str = ""           # sip:host[:port] our transfer's INVITE goes to ('' none)
    number_format: str = ""     # how its trunk writes numbers (the caller ID we send);
                                # '' not said: +62… (numbers.E164)

    def token(self) -> str:
        """The bearer token, read when it is needed (a rotated file is picked up)."""
        return Path(self.token_file).read_text(encoding="utf-8").strip()


def _secret_file(reader: ConfigReader, key: str, origin: str) -> str:
    """A file next to the config holding one secret: present, owner-only, long enough."""
    name = reader.get(key, str)
    path = (Path(origin).parent / name).resolve()
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise reader.fail(key, f"{path} does not exist (generate one: "
                          f"`umask 077; openssl rand -base64 32 > {name}`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise reader.fail(key, f"{path} cannot be read: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise reader.fail(key, f"{path} is readable by others (mode {stat.S_IMODE(mode):o}): "
                          f"chmod 600 {name}")
    if not MIN_SECRET_CHARS <= len(text) <= MAX_SECRET_CHARS or not text.isprintable() \
            or any(c.isspace() for c in text):
        raise reader.fail(key, f"{path}: one secret of {MIN_SECRET_CHARS}-{MAX_SECRET_CHARS} "
                          "printable characters without spaces")
    return str(path)


def url_problem(url: str) -> str | None:
    """Why `url` may not carry an incident to another center, else None: https://, or
    plain http:// only to a loopback address; a host, no user or fragment. The rule of
    eido_url, and of the url a neighbour answers with (transfer/send.py)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        return f"not a URL: {url!r}"
    if not host or parts.username or parts.password or parts.fragment:
        return (f"an https:// URL with a host, no user or fragment, got {url!r} (the token "
                "is in token_file)")
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _loopback(host):
        # Two centers on one machine (the tests' two stacks): no network to cross.
        return None
    return (f"must be https:// (plain http only to a loopback address), got {url!r}: the "
            "incident is personal data")


def _eido_url(reader: ConfigReader) -> str:
    url: str = reader.get("eido_url", str)
    problem = url_problem(url)
    if problem is not None:
        raise reader.fail("eido_url", problem)
    return url


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _contact(reader: ConfigReader) -> str:
    """The optional `contact`: where a transfer's INVITE to this center goes (the AOR of
    its trunk); without it, calls can come from the center but none go to it."""
    contact: str = reader.get("contact", str, "")
    if not contact:
        return ""
    found = _CONTACT.match(contact)
    if found is None or (found.group(2) is not None
                         and not 0 < int(found.group(2)) <= 65535):
        raise reader.fail("contact", f"a SIP URI of a host and a port, sip:host[:port], got "
                          f"{contact!r}")
    return contact


def _networks(reader: ConfigReader) -> tuple[str, ...]:
    match = reader.strings("match")
    if not match:
        raise reader.fail("match", "at least one source address: the trunk is identified "
                          "by it (or identify_by = \"credentials\")")
    for value in match:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise reader.fail("match", f"{value!r} is not an IP address or network") from None
    return match


def parse_neighbour(reader: ConfigReader, key: str, origin: str) -> Neighbour:
    if not _KEY.match(key):
        raise reader.fail("", f"{key!r} is not a valid neighbour name (a-z, 0-9, -)")
    level = reader.get("level", str, "kota")
    if level not in ("province", "kabupaten", "kota"):
        raise reader.fail("level", f"province, kabupaten or kota, got {level!r}")
    trunk = reader.get("trunk", str)
    if not _ENDPOINT.match(trunk):
        raise reader.fail("trunk", f"{trunk!r} is not a valid PJSIP endpoint name")
    identify_by = reader.get("identify_by", str, "address")
    match: tuple[str, ...] = ()
    username = password_file = ""
    if identify_by == "address":
        match = _networks(reader)
        for extra in ("username", "password_file"):
            if extra in reader.table:
                raise reader.fail(extra, "only with identify_by = \"credentials\"")
    elif identify_by == "credentials":
        if "match" in reader.table:
            raise reader.fail("match", "only with identify_by = \"address\"")
        username = reader.get("username", str)
        if not _USERNAME.match(username):
            raise reader.fail("username", f"a SIP user name (A-Z, a-z, 0-9, _.-), got "
                              f"{username!r}")
        password_file = _secret_file(reader, "password_file", origin)
    else:
        raise reader.fail("identify_by", f"one of {', '.join(IDENTIFY_BY)}, got "
                          f"{identify_by!r}")
    name = reader.get("name", str, key)
    if not name.isprintable() or not name.strip() or len(name) > 80:
        raise reader.fail("name", f"one line of at most 80 characters, got {name!r}")
    number_format = reader.get("number_format", str, "")
    if number_format and number_format not in NUMBER_FORMATS:
        raise reader.fail("number_format", f"one of {', '.join(NUMBER_FORMATS)} (+62812…, "
                          f"62812…, 0812…), got {number_format!r}")
    neighbour = Neighbour(key, name, level, trunk, identify_by, match, username,
                          password_file, _eido_url(reader),
                          _secret_file(reader, "token_file", origin), _contact(reader),
                          number_format)
    reader.finish()
    return neighbour


def parse_neighbours(reader: ConfigReader, origin: str) -> Mapping[str, Neighbour]:
    """``[regions.<r>.neighbours]``: name -> Neighbour, in the file's order."""
    found: dict[str, Neighbour] = {}
    for key in reader.table:
        found[key] = parse_neighbour(reader.sub(key), key, origin)
    return MappingProxyType(found)


def check_neighbours(regions: Mapping[str, Mapping[str, Neighbour]],
                     operators: Mapping[str, tuple[str, ...]], origin: str) -> None:
    """Across regions: one trunk is one center (the same name everywhere it is listed), a
    trunk is not an operator's, and no source address belongs to two trunks (a call would
    belong to either). `operators`: operator key -> its `match`. Raises ConfigError."""
    trunks: dict[str, tuple[str, Neighbour]] = {}
    claimed: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = [
        (ipaddress.ip_network(v.partition(":")[0] if v.count(":") == 1 else v, strict=False),
         f"operators.{k}.match")
        for k, values in operators.items() for v in values]
    for region, neighbours in regions.items():
        for neighbour in neighbours.values():
            where = f"{origin}: regions.{region}.neighbours.{neighbour.key}"
            if neighbour.trunk in operators:
                raise ConfigError(f"{where}.trunk: {neighbour.trunk!r} is an operator's trunk")
            seen = trunks.get(neighbour.trunk)
            if seen is not None:
                other_region, other = seen
                if (other.key, other.match, other.username, other.eido_url,
                        other.contact, other.number_format) != (
                            neighbour.key, neighbour.match, neighbour.username,
                            neighbour.eido_url, neighbour.contact, neighbour.number_format):
                    raise ConfigError(f"{where}.trunk: {neighbour.trunk!r} is already "
                                      f"regions.{other_region}.neighbours.{other.key}, "
                                      "with other settings: one trunk is one center")
                continue
            trunks[neighbour.trunk] = (region, neighbour)
            for value in neighbour.match:
                network = ipaddress.ip_network(value, strict=False)
                for other_network, other_where in claimed:
                    if network.overlaps(other_network):
                        raise ConfigError(f"{where}.match: {value!r} overlaps {other_where}: "
                                          "a call would belong to either")
                claimed.append((network, f"regions.{region}.neighbours.{neighbour.key}.match"))

# --- The Asterisk side: asterisk-conf/pjsip-neighbours.conf ------------------------------
# Rendered like the operators' trunks (ntpd_ivr/routing/render.py, which writes it). Each
# neighbour is an endpoint on the [neighbour-trunk] template (pjsip.conf: context
# [from-neighbour], which can only queue the caller) known by what it proves: the source
# address of its INVITEs (an identify), or its digest credentials (an auth whose password
# is read from password_file at render time). The file then holds a secret: it is written
# owner-only (routing/render.py write_generated).
NEIGHBOURS_NAME = "pjsip-neighbours.conf"   # in asterisk-conf/
TEMPLATE = "neighbour-trunk"


def unique_trunks(config: HasNeighbours) -> list[Neighbour]:
    """Each neighbour trunk once (one trunk is one center wherever it is listed)."""
    found: dict[str, Neighbour] = {}
    for neighbours in config.neighbours.values():
        for neighbour in neighbours.values():
            found.setdefault(neighbour.trunk, neighbour)
    return [found[t] for t in sorted(found)]


def render_neighbours(config: HasNeighbours) -> str:
    lines = [
        f"; GENERATED by `ntpd-ivr config render` from {Path(config.source).name}: do not edit.",
        "; Edit [regions.<r>.neighbours.<name>] in the routing config, then `ntpd-ivr config",
        "; check`, `ntpd-ivr config render` and `ntpd-ivr config reload`. Each neighbouring",
        f"; 112 center is a PJSIP endpoint from the [{TEMPLATE}] template (pjsip.conf),",
        "; known by its source address (identify) or by the credentials it proves (auth),",
        "; never by a name it sends. Owner-only: it may hold a password.",
    ]
    for neighbour in unique_trunks(config):
        trunk = neighbour.trunk
        lines += ["", f"; {neighbour.name} ({neighbour.level})", f"[{trunk}]({TEMPLATE})"]
        # The outgoing leg of a transfer (PJSIP/<number>@<trunk>) goes to its contact; a
        # center that authenticates to us is answered with the same credentials.
        outgoing = [f"aors = {trunk}"] if neighbour.contact else []
        if neighbour.identify_by == "address":
            lines += ["identify_by = ip", *outgoing, "", f"[{trunk}]", "type = identify",
                      f"endpoint = {trunk}", *(f"match = {value}" for value in neighbour.match)]
        else:
            password = Path(neighbour.password_file).read_text(encoding="utf-8").strip()
            if outgoing:
                outgoing.append(f"outbound_auth = {trunk}-auth")
            lines += ["identify_by = auth_username", f"auth = {trunk}-auth", *outgoing, "",
                      f"[{trunk}-auth]", "type = auth", "auth_type = userpass",
                      f"username = {neighbour.username}", f"password = {password}"]
        if neighbour.contact:
            lines += ["", f"[{trunk}]", "type = aor", f"contact = {neighbour.contact}"]
    return "\n".join(lines) + "\n"
