"""The one catalogue of screen and report text, and the one way to show a time.

gettext catalogues, read with Babel: `locale/<lang>/LC_MESSAGES/messages.po`, one per
language, Bahasa Indonesia (`id`) the default. Message ids are keys ("login.title",
"code.call.abandoned-in-queue"), not English sentences: English is a translation like any
other, and rewording it orphans nobody. `{name}` is a value the code fills in.

A language is on offer when its .po file is there: a translator adds a regional one
(`make i18n-init LANG=jv`, then translates) with no code. What a language lacks falls back
to Bahasa Indonesia.

The .po files are read once, at the first use, with Babel's pofile reader and turned into
gettext's own `GNUTranslations` in memory (plural forms included). No .mo file is built:
a few hundred messages parse in milliseconds, and no generated file can disagree with the
one translators edit. tests/unit/test_i18n.py extracts every id the code, the templates
and the scripts use (`pybabel extract`, babel.cfg) and fails on one a catalogue lacks.
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_datetime, get_month_names
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DEFAULT_LANGUAGE = "id"
LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"

# Where each kind of code has its text: every disposition, state and reason the screens
# and reports show goes through Translator.code (tests/unit/test_i18n.py checks that each
# code the domains define has its text in every catalogue).
CODE_KEYS: Mapping[str, str] = {
    "call": "code.call.",                   # calls/values.py DISPOSITIONS
    "disposition": "desk.disposition.",     # incidents/model.py DISPOSITIONS (call-taker's)
    "call-state": "desk.call.",             # the desk's call card: ringing, connected, ...
    "presence": "desk.state.",              # workspace presence: logged-out, available, ...
    "pause": "desk.reason.",                # workspace/model.py PAUSE_REASONS
    "dispatch": "dispatch.status.",         # dispatch/model.py STATUSES
    "dispatch-reason": "desk.dispatch.reason.",  # dispatch/model.py FAILURE_REASONS
    "severity": "severity.",                # incidents/model.py SEVERITIES
    "incident": "incident.status.",         # incidents/model.py INCIDENT_STATUSES
    "callback": "callback.status.",         # callbacks/model.py STATUSES and OUTCOMES
    "campaign": "warnings.status.",         # campaigns/model.py STATUSES
    "outcome": "warnings.outcome.",         # campaigns/model.py OUTCOMES
    "taker": "wall.state.",                 # wall/model.py TAKER_STATES
    "route": "code.route.",                 # routing/engine.py reasons
    # transfer/send.py REASONS, transfer/outbound.py CALL_REASONS
    "transfer-reason": "desk.transfer.reason.",
}
# Agency route reasons carry the agency's key (routing/engine.choose_agency).
_AFTER_HOURS_VIA_TAKER = "after-hours-call-taker ("
_AFTER_HOURS = "after-hours-"

# The center's zone's own short name: CLDR has WIB/WITA/WIT for Bahasa Indonesia only, and
# the center says them in every language.
ZONE_ABBREVIATIONS: Mapping[str, str] = {
    "Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT",
}


def zone_abbreviation(zone: tzinfo, when: datetime) -> str:
    name = str(getattr(zone, "key", ""))
    return ZONE_ABBREVIATIONS.get(name) or when.astimezone(zone).strftime("%Z")


class Catalogue:
    """Every language's messages, read from one directory of .po files."""

    def __init__(self, catalogs: Mapping[str, Catalog]) -> None:
        if DEFAULT_LANGUAGE not in catalogs:
            raise ValueError(f"no catalogue for the default language {DEFAULT_LANGUAGE!r}")
        self.languages: tuple[str, ...] = (
            DEFAULT_LANGUAGE, *sorted(lang for lang in catalogs if lang != DEFAULT_LANGUAGE))
        self._catalogs = catalogs
        self._plural_ids = self.plural_ids()
        self._ids = {lang: frozenset(_key(m.id) for m in c if m.id and m.string)
                     for lang, c in catalogs.items()}
        default = _translations(catalogs[DEFAULT_LANGUAGE])
        self._translations: dict[str, gettext.GNUTranslations] = {DEFAULT_LANGUAGE: default}
        for lang in self.languages[1:]:
            own = _translations(catalogs[lang])
            own.add_fallback(default)
            self._translations[lang] = own

    @classmethod
    def load(cls, directory: Path) -> Catalogue:
        catalogs: dict[str, Catalog] = {}
        for path in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            lang = path.parent.parent.name
            with path.open("rb") as fp:
                catalogs[lang] = read_po(fp, locale=lang, domain=DOMAIN)
        return cls(catalogs)

    def ids(self, lang: str) -> frozenset[str]:
        """The ids this language translates itself (without the fallback)."""
        return self._ids[lang]

    def has(self, key: str) -> bool:
        return key in self._ids[DEFAULT_LANGUAGE]

    def text(self, lang: str, key: str, **values: object) -> str:
        found = self._translations[lang].gettext(key)
        return found.format(**values) if values else found

    def plural(self, lang: str, key: str, n: int, **values: object) -> str:
        return self._translations[lang].ngettext(key, key, n).format(n=n, **values)

    def messages(self, lang: str) -> dict[str, str]:
        """Every singular message in this language (with the default's where it has
        none): what a page's script is given."""
        return {key: self.text(lang, key) for key in sorted(self._ids[DEFAULT_LANGUAGE])
                if not self._is_plural(key)}

    def by_language(self, prefix: str = "") -> dict[str, dict[str, str]]:
        """Each language's own messages under `prefix` (without it), as a table: the
        singular text, or a plural message's last form."""
        table: dict[str, dict[str, str]] = {}
        for lang, catalog in self._catalogs.items():
            own = table[lang] = {}
            for message in catalog:
                key = _key(message.id)
                if message.id and message.string and key.startswith(prefix):
                    text = message.string
                    own[key[len(prefix):]] = text if isinstance(text, str) else text[-1]
        return table

    def name_of(self, lang: str) -> str:
        """The language's own name ("lang.name"), for the language switch."""
        if "lang.name" in self._ids[lang]:
            return self.text(lang, "lang.name")
        return Locale.parse(lang).get_display_name(lang) or lang

    def plural_ids(self) -> frozenset[str]:
        return frozenset(_key(m.id) for m in self._catalogs[DEFAULT_LANGUAGE]
                         if m.id and m.pluralizable)

    def _is_plural(self, key: str) -> bool:
        return key in self._plural_ids


def _key(message_id: str | tuple[str, ...] | list[str]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def _translations(catalog: Catalog) -> gettext.GNUTranslations:
    """gettext's own reader over the catalogue, compiled in memory (plural forms from the
    .po header)."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@functools.cache
def catalogue() -> Catalogue:
    """The package's catalogue, read once."""
    return Catalogue.load(LOCALE_DIR)


@dataclass(frozen=True)
class Translator:
    """Text in one language: `t(key, **values)`, `t.plural(key, n)`, `t.code(kind, code)`."""

    lang: str
    catalogue: Catalogue

    def __call__(self, key: str, **values: object) -> str:
        return self.catalogue.text(self.lang, key, **values)

    def plural(self, key: str, n: int, **values: object) -> str:
        return self.catalogue.plural(self.lang, key, n, **values)

    def code(self, kind: str, code: str | None) -> str:
        """A disposition, state or reason in words; an unknown code as it is (never
        hidden), nothing as the empty string."""
        if not code:
            return ""
        key = CODE_KEYS[kind] + code
        if self.catalogue.has(key):
            return self(key)
        if kind == "route" and code.startswith(_AFTER_HOURS_VIA_TAKER):
            return self("code.route.after-hours-call-taker",
                        agency=code[len(_AFTER_HOURS_VIA_TAKER):].rstrip(")"))
        if kind == "route" and code.startswith(_AFTER_HOURS):
            return self("code.route.after-hours", agency=code[len(_AFTER_HOURS):])
        return code

    def codes(self, kind: str, codes: tuple[str, ...]) -> dict[str, str]:
        return {code: self.code(kind, code) for code in codes}


def translator(lang: str) -> Translator:
    cat = catalogue()
    return Translator(lang if lang in cat.languages else DEFAULT_LANGUAGE, cat)


# --- the one way to show a time ---------------------------------------------------------

def _instant(when: datetime | str) -> datetime:
    """A time without a zone is UTC, as everywhere in the controller (`utcnow`, the CLI's
    --from/--to): a page never fails on one."""
    moment = datetime.fromisoformat(when) if isinstance(when, str) else when
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def format_time(when: datetime | str | None, lang: str, zone: tzinfo) -> str:
    """An instant in the center's zone, to the second, in the user's language, with the
    zone's short name: "7 Des 2026 12.24.07 WIB". The pattern is the catalogue's
    `time.format` (CLDR), so a translator sets their language's."""
    if when is None or when == "":
        return ""
    moment = _instant(when).astimezone(zone)
    t = translator(lang)
    shown = format_datetime(moment, t("time.format"), tzinfo=zone,
                            locale=Locale.parse(t.lang))
    return f"{shown} {zone_abbreviation(zone, moment)}"


def time_formatter(lang: str, zone: tzinfo) -> Callable[[datetime | str | None], str]:
    """format_time for one page (a template's `when`)."""
    return functools.partial(format_time, lang=lang, zone=zone)


def script_time_config(lang: str, zone: tzinfo) -> dict[str, Any]:
    """What the screens' one JS time function (static/i18n.js) needs to show a time as
    format_time does: the zone, its short name, the pattern and the month names."""
    t = translator(lang)
    months = get_month_names("abbreviated", locale=Locale.parse(t.lang))
    return {"zone": str(getattr(zone, "key", "UTC")),
            "abbreviation": zone_abbreviation(zone, datetime.now(zone)),
            "pattern": t("time.format"), "months": [months[m] for m in range(1, 13)]}
