"""The routing config: regions, agencies, menu, legacy numbers and time budgets, in one TOML
file that telecom engineers edit (see config/routing.example.toml).

Loaded and validated once at start-up; every error names the file and the key, e.g.
``config/routing.toml: regions.muba.overflow_to: no region 'sumse' (known: ...)``.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ntpd_ivr.alerts.config import AlertsConfig, parse_alerts
from ntpd_ivr.configfile import ConfigReader, parse_toml
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.location.config import BoundaryError, load_boundary
from ntpd_ivr.location.model import Boundary
from ntpd_ivr.numbers import NUMBER_FORMATS, canonical_prefix
from ntpd_ivr.places.model import (
    DEFAULT_PLACES_FILE,
    REGENCY_CODE,
    PlacesBook,
    place_name_problem,
    places_path,
    read_places,
)
from ntpd_ivr.prank.config import PrankConfig, parse_prank
from ntpd_ivr.routing.model import (
    CALLER_ID_SOURCES,
    COMMITMENT_KEYS,
    KNOWN_CODECS,
    MODES,
    UNCLASSIFIED,
    Agency,
    Category,
    Commitment,
    Hours,
    IvrBudget,
    Operator,
    Region,
)
from ntpd_ivr.texts.config import TextsConfig, parse_texts
from ntpd_ivr.transfer.config import Neighbour, check_neighbours, parse_neighbours
from ntpd_ivr.workspace.config import parse_workspace

# The values live in routing/model.py; importing them from here still works.
__all__ = ["CALLER_ID_SOURCES", "COMMITMENT_KEYS", "KNOWN_CODECS", "MODES", "UNCLASSIFIED",
           "Agency", "Category", "Commitment", "Hours", "IvrBudget", "Operator", "Region",
           "RoutingConfig", "load_routing_config", "parse_routing_config"]

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_ASTERISK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_DIGITS = re.compile(r"^\+?[0-9]{1,20}$")
_HOURS = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")


@dataclass(frozen=True)
class RoutingConfig:
    source: str
    timezone: str
    default_region: str
    ivr: IvrBudget
    categories: Mapping[str, Category]
    menu: Mapping[str, str]             # digit -> category
    legacy_numbers: Mapping[str, str]   # dialled number -> category
    regions: Mapping[str, Region]
    agencies: Mapping[str, Agency] = field(default_factory=lambda: MappingProxyType({}))
    operators: Mapping[str, Operator] = field(default_factory=lambda: MappingProxyType({}))
    # [workspace]: how long a call-taker stays paused in wrap-up without a disposition
    # (ntpd_ivr/workspace/config.py)
    wrapup_limit_seconds: int = 120
    prank: PrankConfig = field(default_factory=PrankConfig)  # ntpd_ivr/prank
    texts: TextsConfig = field(default_factory=TextsConfig)  # ntpd_ivr/texts: 112 by SMS
    alerts: AlertsConfig = field(default_factory=AlertsConfig)  # [alerts]: ntpd_ivr/alerts
    # The places file the regions with a code read (docs/places.md), and the package and
    # version it was imported from ("idn-area-data 4.0.1"); "" when no region has a code.
    places_file: str = ""
    places_package: str = ""
    # [regions.<r>.neighbours.<n>]: region -> the 112 centers it may transfer a caller to
    # (ntpd_ivr/transfer/config.py, issue 23)
    neighbours: Mapping[str, Mapping[str, Neighbour]] = field(
        default_factory=lambda: MappingProxyType({}))
    # [outbound_trunks.<endpoint>]: lines we only dial out on (the callback line, the
    # warning trunks) -> how numbers are written on them
    outbound_trunks: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def number_format_of(self, endpoint: str, default: str) -> str:
        """How numbers are written on this PJSIP endpoint: what the operator, agency or
        outbound trunk of that name says, else `default` (the use's behaviour before
        trunks said it)."""
        operator = self.operators.get(endpoint)
        if operator is not None and operator.number_format:
            return operator.number_format
        if self.outbound_trunks.get(endpoint):
            return self.outbound_trunks[endpoint]
        for agency in self.agencies.values():
            if agency.number_format and endpoint in (agency.primary_trunk, agency.backup_trunk):
                return agency.number_format
        for neighbours in self.neighbours.values():  # a transfer's caller ID (issue 23)
            for neighbour in neighbours.values():
                if neighbour.number_format and neighbour.trunk == endpoint:
                    return neighbour.number_format
        return default

    def stated_number_formats(self) -> dict[str, str]:
        """Every trunk that says how numbers are written on it: endpoint -> format."""
        stated = {t: a.number_format for a in self.agencies.values() if a.number_format
                  for t in (a.primary_trunk, a.backup_trunk) if t}
        stated.update({n.trunk: n.number_format for neighbours in self.neighbours.values()
                       for n in neighbours.values() if n.number_format})
        stated.update(self.outbound_trunks)
        stated.update({k: o.number_format for k, o in self.operators.items() if o.number_format})
        return dict(sorted(stated.items()))

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @classmethod
    def minimal(cls, queue: str) -> RoutingConfig:
        """One region, the built-in menu: what runs when no routing config is set."""
        cats = {"ambulance": Category("ambulance", 10, True), "fire": Category("fire", 10, True),
                "police": Category("police", 8), "disaster": Category("disaster", 8),
                UNCLASSIFIED: Category(UNCLASSIFIED, 5)}
        region = Region("default", "default", "kota", queue, "", 0.0, (), (), ())
        return cls(source="built-in", timezone="Asia/Jakarta", default_region="default",
                   ivr=IvrBudget(), categories=MappingProxyType(cats),
                   menu=MappingProxyType({"1": "ambulance", "2": "fire", "3": "police",
                                          "4": "disaster"}),
                   legacy_numbers=MappingProxyType({}),
                   regions=MappingProxyType({"default": region}))


def _hours(reader: ConfigReader, key: str) -> Hours:
    text = reader.get(key, str, "00:00-24:00")
    match = _HOURS.match(text)
    if not match:
        raise reader.fail(key, f"expected HH:MM-HH:MM, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60 or start == end:
        raise reader.fail(key, f"not a time range: {text!r}")
    return Hours(start, end)


def _number_format(reader: ConfigReader) -> str:
    """`number_format`: how a trunk writes the numbers we dial on it; "" when not said."""
    value: str = reader.get("number_format", str, "")
    if value and value not in NUMBER_FORMATS:
        raise reader.fail("number_format", f"one of {', '.join(NUMBER_FORMATS)} (+62812…, "
                          f"62812…, 0812…), got {value!r}")
    return value


def _outbound_trunks(table: ConfigReader) -> dict[str, str]:
    formats: dict[str, str] = {}
    for key in table.table:
        _name(table, key, _ASTERISK_NAME, "PJSIP endpoint name", key)
        t = table.sub(key)
        formats[key] = _number_format(t)
        if not formats[key]:
            raise t.fail("number_format", "missing: the table says how numbers are written")
        t.get("name", str, key)
        t.finish()
    return formats


def _commitment(reader: ConfigReader) -> Commitment:
    seconds: dict[str, int] = {}
    for key, unit in COMMITMENT_KEYS.items():
        value = reader.get(key, int, None)
        if value is not None:
            if not 1 <= value <= 24 * 3600 // unit:
                raise reader.fail(key, f"must be 1-{24 * 3600 // unit}")
            seconds[key.replace("_minutes", "_seconds")] = value * unit
    reader.finish()
    return Commitment(**seconds)


def _name(reader: ConfigReader, key: str, pattern: re.Pattern[str], what: str, value: str) -> str:
    if not pattern.match(value):
        raise reader.fail(key, f"{value!r} is not a valid {what}")
    return value


def parse_routing_config(text: str, origin: str) -> RoutingConfig:
    raw = parse_toml(text, origin)
    top = ConfigReader(origin, raw, "")
    timezone = top.get("timezone", str, "Asia/Jakarta")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise top.fail("timezone", f"unknown time zone {timezone!r}") from None

    ivr_r = top.sub("ivr", {})
    ivr = IvrBudget(**{f: ivr_r.get(f, type(getattr(IvrBudget(), f)), getattr(IvrBudget(), f))
                       for f in IvrBudget.__dataclass_fields__})
    ivr_r.finish()
    if ivr.max_seconds_in_ivr <= 1:
        raise ivr_r.fail("max_seconds_in_ivr", "must be more than 1 second")
    if ivr.menu_seconds + 1 > ivr.max_seconds_in_ivr:
        raise ivr_r.fail("menu_seconds", f"the menu ({ivr.menu_seconds:g} s) leaves under "
                         f"1 s to press a key within max_seconds_in_ivr "
                         f"({ivr.max_seconds_in_ivr:g} s): shorten prompts/{ivr.language}/menu")
    if ivr.prompt_timeout_ms < 500:
        raise ivr_r.fail("prompt_timeout_ms", "must be at least 500")
    if not ((len(ivr.english_key) == 1 and ivr.english_key in "0123456789*#") or
            ivr.english_key == ""):
        raise ivr_r.fail("english_key", f"one key or \"\", got {ivr.english_key!r}")
    if not 50 <= ivr.live_state_timeout_ms <= 2000:
        raise ivr_r.fail("live_state_timeout_ms", "must be 50-2000: a caller waits for it")

    cats_r = top.sub("categories")
    categories: dict[str, Category] = {}
    for name in cats_r.table:
        c = cats_r.sub(name)
        _name(cats_r, name, _NAME, "category name", name)
        prio = c.get("priority", int)
        if not 0 <= prio <= 100:
            raise c.fail("priority", "must be 0-100")
        categories[name] = Category(name, prio, c.get("life_threatening", bool, False))
        c.finish()
    if UNCLASSIFIED not in categories:
        raise cats_r.fail(UNCLASSIFIED, "missing: callers who press 0, nothing or a wrong "
                          "key are queued in this category")
    urgent = [c for c in categories.values() if c.life_threatening]
    other = [c for c in categories.values() if not c.life_threatening]
    if urgent and other:
        low = min(urgent, key=lambda c: c.priority)
        high = max(other, key=lambda c: c.priority)
        if low.priority <= high.priority:
            raise cats_r.fail(f"{low.name}.priority", f"life-threatening {low.name} "
                              f"({low.priority}) must outrank {high.name} ({high.priority})")

    def category_map(key: str, key_pattern: re.Pattern[str], what: str) -> dict[str, str]:
        table = top.sub(key, {})
        result = {}
        for k, v in table.table.items():
            _name(table, k, key_pattern, what, k)
            if not isinstance(v, str) or v not in categories:
                raise table.fail(k, f"no category {v!r} (known: {', '.join(sorted(categories))})")
            result[k] = v
        return result

    menu = category_map("menu", re.compile(r"^[1-8]$"), "menu key (1-8; 0 is the call-taker, "
                        "9 English)")
    if ivr.english_key in menu:
        raise ConfigError(f"{origin}: menu.{ivr.english_key}: key is ivr.english_key")
    legacy = category_map("legacy_numbers", _DIGITS, "number")

    operators = _operators(top.sub("operators", {}))
    outbound_trunks = _outbound_trunks(top.sub("outbound_trunks", {}))
    for key in outbound_trunks.keys() & operators.keys():
        raise ConfigError(f"{origin}: outbound_trunks.{key}: already operators.{key}: say "
                          "its number_format there")

    places_file = top.get("places_file", str, DEFAULT_PLACES_FILE)
    books: list[PlacesBook] = []  # read once, and only when a region names a code

    def imported(r: ConfigReader) -> tuple[str, Mapping[str, tuple[str, ...]], str]:
        """A region's Kemendagri code, the places imported for it, its name there."""
        code: str = r.get("code", str)
        if not REGENCY_CODE.match(code):
            raise r.fail("code", f"a Kemendagri kab/kota code is NN.NN (e.g. \"16.06\", "
                         f"Musi Banyuasin), got {code!r}")
        if "places" in r.table:
            raise r.fail("places", f"the region has code {code}: its places come from "
                         "`ntpd-ivr places import`; remove one of the two")
        if not books:
            try:
                books.append(read_places(places_path(origin, places_file)))
            except ConfigError as exc:
                raise r.fail("code", f"{exc} (run `ntpd-ivr places import --regency "
                             f"{code}`)") from None
        book = books[0]
        if code not in book.regencies:
            raise r.fail("code", f"kab/kota {code} is not in {book.source} (imported: "
                         f"{', '.join(sorted(book.regencies)) or 'none'}): run `ntpd-ivr "
                         f"places import --regency {code}`")
        regency = book.regencies[code]
        return code, regency.pick_lists(), regency.name

    regions_r = top.sub("regions")
    regions: dict[str, Region] = {}
    by_code: dict[str, str] = {}
    agencies: dict[str, Agency] = {}
    pending_after_hours: list[tuple[ConfigReader, str]] = []
    prank_readers: dict[str, ConfigReader] = {}
    neighbours: dict[str, Mapping[str, Neighbour]] = {}
    for key in regions_r.table:
        _name(regions_r, key, _NAME, "region name", key)
        r = regions_r.sub(key)
        level = r.get("level", str, "kota")
        if level not in ("province", "kabupaten", "kota"):
            raise r.fail("level", f"province, kabupaten or kota, got {level!r}")
        dids = r.strings("dids")
        for v in dids:
            if not _DIGITS.match(v):
                raise r.fail("dids", f"{v!r} is not a number")
        # Callers arrive in canonical form (+62711...): prefixes are compared in that form.
        try:
            prefixes = tuple(canonical_prefix(v) for v in r.strings("caller_prefixes"))
        except ValueError as exc:
            raise r.fail("caller_prefixes", str(exc)) from None
        code, places, default_name = "", None, key
        if "code" in r.table:
            code, places, default_name = imported(r)
            if code in by_code:
                raise r.fail("code", f"{code} is already regions.{by_code[code]}.code")
            by_code[code] = key
        trunks = r.strings("trunks")
        for t in trunks:
            _name(r, "trunks", _ASTERISK_NAME, "PJSIP endpoint name", t)
            if operators and t not in operators:
                raise r.fail("trunks", f"no operator {t!r} (known: "
                             f"{', '.join(sorted(operators))}; see [operators.<name>])")
        region = Region(
            key=key, name=r.get("name", str, default_name), level=level,
            queue=_name(r, "queue", _ASTERISK_NAME, "queue name", r.get("queue", str)),
            overflow_to=r.get("overflow_to", str, ""),
            max_wait_seconds=r.get("max_wait_seconds", float, 20.0),
            trunks=trunks, dids=dids, caller_prefixes=prefixes,
            places=places if places is not None else _places(r.sub("places", {})), code=code,
            boundary=_boundary(r, origin))
        if region.max_wait_seconds <= 0:
            raise r.fail("max_wait_seconds", "must be positive")
        ag_r = r.sub("agencies", {})
        for akey in ag_r.table:
            _name(ag_r, akey, _NAME, "agency name", akey)
            a = ag_r.sub(akey)
            cats = a.strings("categories")
            for cat in cats:
                if cat not in categories:
                    raise a.fail("categories", f"no category {cat!r}")
            mode = a.get("mode", str, "via-call-taker")
            if mode not in MODES:
                raise a.fail("mode", f"one of {', '.join(MODES)}, got {mode!r}")
            primary = a.get("primary_trunk", str, "")
            backup = a.get("backup_trunk", str, "")
            for tk, tv in (("primary_trunk", primary), ("backup_trunk", backup)):
                if tv:
                    _name(a, tk, _ASTERISK_NAME, "PJSIP endpoint name", tv)
            if mode == "direct" and not primary:
                raise a.fail("primary_trunk", "a direct agency needs a trunk")
            ring = a.get("ring_seconds", int, 15)
            if not 5 <= ring <= 60:
                raise a.fail("ring_seconds", "must be 5-60")
            full = f"{key}-{akey}"
            agencies[full] = Agency(full, key, a.get("name", str, akey), cats, mode, primary,
                                    backup, _hours(a, "hours"),
                                    a.get("after_hours_agency", str, ""), ring,
                                    _commitment(a.sub("commitment", {})),
                                    _number_format(a))
            if agencies[full].after_hours_agency:
                pending_after_hours.append((a, agencies[full].after_hours_agency))
            a.finish()
        prank_readers[key] = r.sub("prank", {})
        neighbours[key] = parse_neighbours(r.sub("neighbours", {}), origin)
        r.finish()
        regions[key] = region
    if not regions:
        raise regions_r.fail("", "at least one region is needed")
    for region in regions.values():
        if region.overflow_to and region.overflow_to not in regions:
            raise ConfigError(f"{origin}: regions.{region.key}.overflow_to: no region "
                              f"{region.overflow_to!r} (known: {', '.join(sorted(regions))})")
        if region.overflow_to == region.key:
            raise ConfigError(f"{origin}: regions.{region.key}.overflow_to: itself")
    for reader, target in pending_after_hours:
        if target not in agencies:
            raise reader.fail("after_hours_agency", f"no agency {target!r} (known: "
                              f"{', '.join(sorted(agencies))}; written <region>-<agency>)")
    seen: dict[tuple[str, str], str] = {}
    for region in regions.values():
        for kind, values in (("dids", region.dids), ("caller_prefixes", region.caller_prefixes),
                             ("trunks", region.trunks)):
            for v in values:
                if (kind, v) in seen:
                    raise ConfigError(f"{origin}: regions.{region.key}.{kind}: {v!r} is "
                                      f"already regions.{seen[kind, v]}.{kind}")
                seen[kind, v] = region.key
    check_neighbours(neighbours, {k: o.match for k, o in operators.items()}, origin)
    default_region = top.get("default_region", str)
    if default_region not in regions:
        raise top.fail("default_region", f"no region {default_region!r}")
    wrapup_limit = parse_workspace(top.sub("workspace", {}))
    prank = parse_prank(top.sub("prank", {}), prank_readers, categories)
    texts = parse_texts(top.sub("texts", {}), frozenset(categories))
    alerts = parse_alerts(top.sub("alerts", {}), regions)
    top.finish()
    return RoutingConfig(
        source=origin, timezone=timezone, default_region=default_region, ivr=ivr,
        categories=MappingProxyType(categories), menu=MappingProxyType(menu),
        legacy_numbers=MappingProxyType(legacy), regions=MappingProxyType(regions),
        agencies=MappingProxyType(agencies), operators=MappingProxyType(operators),
        outbound_trunks=MappingProxyType(outbound_trunks),
        wrapup_limit_seconds=wrapup_limit,
        prank=prank, texts=texts, alerts=alerts,
        places_file=books[0].source if books else "",
        places_package=f"{books[0].package} {books[0].version}" if books else "",
        neighbours=MappingProxyType({k: v for k, v in neighbours.items() if v}))


def _place_name(reader: ConfigReader, key: str, value: object) -> str:
    problem = place_name_problem(value)
    if problem:
        raise reader.fail(key, problem)
    assert isinstance(value, str)
    return value


def _places(reader: ConfigReader) -> Mapping[str, tuple[str, ...]]:
    """[regions.<r>.places]: "Kecamatan" = ["Desa", ...], for the call-taker's pick lists.
    Names are compared without case (incidents match kecamatan that way)."""
    places: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for kecamatan in reader.table:
        _place_name(reader, kecamatan, kecamatan)
        if kecamatan.casefold() in seen:
            raise reader.fail(kecamatan, f"the same kecamatan as {seen[kecamatan.casefold()]!r}")
        seen[kecamatan.casefold()] = kecamatan
        desa = reader.strings(kecamatan)
        for name in desa:
            _place_name(reader, kecamatan, name)
        if len({d.casefold() for d in desa}) != len(desa):
            raise reader.fail(kecamatan, f"a desa twice in {list(desa)}")
        places[kecamatan] = desa
    return MappingProxyType(places)


def _boundary(reader: ConfigReader, origin: str) -> Boundary | None:
    """`boundary = "boundaries/muba.geojson"`: a GeoJSON file, relative to the config file."""
    name = reader.get("boundary", str, "")
    if not name:
        return None
    try:
        return load_boundary(Path(origin).parent / name)
    except BoundaryError as exc:
        raise reader.fail("boundary", str(exc)) from None


def _match(reader: ConfigReader, value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An identify `match` entry: an address, a network, or an IPv4 address with a port."""
    address = value
    if value.count(":") == 1 and "/" not in value:  # IPv4 "a.b.c.d:port"
        address, _, port = value.partition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise reader.fail("match", f"{value!r}: not a port")
    try:
        return ipaddress.ip_network(address, strict=False)
    except ValueError:
        # Host names are refused: Asterisk resolves them once at load, and a look-up on a
        # closed network stalls the reload.
        raise reader.fail("match", f"{value!r} is not an IP address or network "
                          "(a.b.c.d, a.b.c.d/nn, a.b.c.d:port)") from None


def _operators(table: ConfigReader) -> dict[str, Operator]:
    operators: dict[str, Operator] = {}
    claimed: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str, str]] = []
    for key in table.table:
        _name(table, key, _NAME, "operator name (it is the PJSIP endpoint)", key)
        o = table.sub(key)
        match = o.strings("match")
        if not match:
            raise o.fail("match", "at least one source address: the trunk is identified by it")
        for value in match:
            network = _match(o, value)
            for other, other_key, other_value in claimed:
                if network.overlaps(other):
                    raise o.fail("match", f"{value!r} overlaps operators.{other_key}.match "
                                 f"{other_value!r}: a call would belong to either")
            claimed.append((network, key, value))
        caller_id = o.get("caller_id", str, "asserted")
        if caller_id not in CALLER_ID_SOURCES:
            raise o.fail("caller_id", f"one of {', '.join(CALLER_ID_SOURCES)}, got {caller_id!r}")
        codecs = o.strings("codecs") or ("alaw", "ulaw")
        for codec in codecs:
            if codec not in KNOWN_CODECS:
                raise o.fail("codecs", f"unknown codec {codec!r} (known: "
                             f"{', '.join(KNOWN_CODECS)})")
        if len(set(codecs)) != len(codecs):
            raise o.fail("codecs", f"a codec twice: {list(codecs)}")
        if not {"alaw", "ulaw"} & set(codecs):
            raise o.fail("codecs", "needs alaw or ulaw: the prompts and the call-takers' "
                         "phones speak G.711")
        name = o.get("name", str, key)
        if not name.isprintable() or ";" in name:
            # It becomes a comment line of the rendered pjsip-operators.conf.
            raise o.fail("name", f"one line without ';', got {name!r}")
        operators[key] = Operator(key, name, match, caller_id, codecs, _number_format(o))
        o.finish()
    return operators


def load_routing_config(path: str | Path) -> RoutingConfig:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: routing config not found") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    return parse_routing_config(text, str(file))
