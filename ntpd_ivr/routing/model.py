"""The routing config's values: categories, regions, agencies, operators, the IVR's time
budget. Pure data with no imports of ours, below routing/config.py (which parses them) so
that each domain's section parser (prank/config.py) can use them without a circle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time as dtime
from types import MappingProxyType

from ntpd_ivr.location.model import Boundary

UNCLASSIFIED = "unclassified"
MODES = ("direct", "via-call-taker")
# Where res_pjsip takes the caller's number from (res_pjsip_caller_id.c): with
# trust_id_inbound=yes, P-Asserted-Identity, else Remote-Party-ID, else From; with
# trust_id_inbound=no, the From header only (what the operator's PAI says is ignored).
CALLER_ID_SOURCES = ("asserted", "from")
# Codecs Asterisk 22 ships and an operator trunk may offer; G.711 (alaw for Indonesia's
# E1 networks, then ulaw) needs no transcoding of the prompts.
KNOWN_CODECS = ("alaw", "ulaw", "g722", "g729", "gsm", "ilbc", "opus", "speex", "slin")


@dataclass(frozen=True)
class Hours:
    """Opening hours in the config's time zone; ``start > end`` wraps past midnight."""

    start_minute: int = 0
    end_minute: int = 24 * 60

    def open_at(self, at: dtime) -> bool:
        minute = at.hour * 60 + at.minute
        if self.start_minute <= self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute

    @property
    def label(self) -> str:
        """As the routing config writes it: "07:30-16:00"."""
        (h1, m1), (h2, m2) = divmod(self.start_minute, 60), divmod(self.end_minute, 60)
        return f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"


@dataclass(frozen=True)
class Category:
    name: str
    priority: int
    life_threatening: bool = False


@dataclass(frozen=True)
class Commitment:
    """What an agency signed ("komitmen pelayanan"): how fast it answers the center's call,
    accepts a dispatch and is on scene. None: no commitment on that step."""

    answer_seconds: int | None = None
    accept_seconds: int | None = None
    on_scene_seconds: int | None = None


COMMITMENT_KEYS = {"answer_seconds": 1, "accept_seconds": 1, "on_scene_minutes": 60}


@dataclass(frozen=True)
class Agency:
    key: str              # "<region>-<agency>": the extension in [ntpd-agency-dispatch]
    region: str
    name: str
    categories: tuple[str, ...]
    mode: str             # "direct": bridge to its trunk; "via-call-taker": queue
    primary_trunk: str    # PJSIP endpoint
    backup_trunk: str     # PJSIP endpoint, "" when none
    hours: Hours
    after_hours_agency: str  # agency key to try outside hours, "" = call-taker
    ring_seconds: int
    commitment: Commitment = field(default_factory=Commitment)
    # How numbers are written on its trunks (ntpd_ivr/numbers.py NUMBER_FORMATS); "": not
    # said, each use keeps its own default
    number_format: str = ""


@dataclass(frozen=True)
class Region:
    key: str
    name: str
    level: str            # province, kabupaten, kota
    queue: str            # app_queue name of its call-takers
    overflow_to: str      # region key, "" when none
    max_wait_seconds: float
    trunks: tuple[str, ...]
    dids: tuple[str, ...]
    caller_prefixes: tuple[str, ...]
    # kecamatan -> its desa/kelurahan, for the call-taker's location pick lists
    places: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    # Kemendagri kab/kota code ("16.06"), "" when none; its places come from the places file
    code: str = ""
    # its outline and kecamatan/desa polygons (`boundary`, a GeoJSON file), for the maps,
    # the incident form's reverse look-up and the wrong-regency warning; None: not given
    boundary: Boundary | None = None


@dataclass(frozen=True)
class Operator:
    """One operator's SIP trunk into the center: a PJSIP endpoint + identify (rendered into
    asterisk-conf/pjsip-operators.conf), matched by the source address of its INVITEs."""

    key: str                   # PJSIP endpoint name; what regions.<r>.trunks names
    name: str
    match: tuple[str, ...]     # source addresses or networks (identify `match`)
    caller_id: str             # one of CALLER_ID_SOURCES
    codecs: tuple[str, ...]    # in order of preference
    # How numbers are written on it when we dial out through it (ntpd_ivr/numbers.py
    # NUMBER_FORMATS: e164, international, national); "": not said, each use's default
    number_format: str = ""


@dataclass(frozen=True)
class IvrBudget:
    language: str = "id"
    prompt_timeout_ms: int = 3000
    max_seconds_in_ivr: float = 10.0
    menu_seconds: float = 8.0
    english_key: str = "9"
    english_menu_seconds: float = 4.5
    live_state_timeout_ms: int = 300
    live_state_cache_seconds: float = 1.0
