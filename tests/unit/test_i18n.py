"""The one catalogue (ntpd_ivr/i18n): what the code uses is in every .po file, every code
has its words, a translator adds a language with a file, and one way to show a time."""

from __future__ import annotations

import functools
import re
import shutil
import zoneinfo
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

from ntpd_ivr.callbacks import model as callbacks
from ntpd_ivr.calls import values as calls
from ntpd_ivr.campaigns import model as campaigns
from ntpd_ivr.dispatch import model as dispatch
from ntpd_ivr.dispatch.model import FAILURE_REASONS
from ntpd_ivr.i18n import (
    CODE_KEYS,
    DEFAULT_LANGUAGE,
    LOCALE_DIR,
    Catalogue,
    Translator,
    catalogue,
    format_time,
    script_time_config,
    translator,
)
from ntpd_ivr.i18n.tools import TEMPLATE, missing, template
from ntpd_ivr.i18n.tools import used_ids as extract_used_ids
from ntpd_ivr.incidents import model as incidents
from ntpd_ivr.ivr import surge
from ntpd_ivr.transfer.outbound import CALL_REASONS
from ntpd_ivr.transfer.send import REASONS as TRANSFER_REASONS
from ntpd_ivr.wall.model import TAKER_STATES
from ntpd_ivr.workspace.model import PAUSE_REASONS

JAKARTA = zoneinfo.ZoneInfo("Asia/Jakarta")
# The desk's caller history showed this raw (issue 20).
INSTANT = "2026-12-07T05:24:07.610593+00:00"
# Every reason routing/engine.py gives (region, category, queue, agency).
ROUTE_REASONS = ("did", "caller-prefix", "trunk", "default", "english-requested", "no-input",
                 "operator-requested", "menu", "invalid-input", "regional",
                 "live-state-unknown", "overflow-no-call-taker", "overflow-wait", "direct",
                 "no-agency",
                 # the IVR's surge-mode outcomes (ivr/surge.py)
                 surge.INFORMATION_OUTCOME, surge.INFORMATION_OPERATOR)
CODES: dict[str, tuple[str, ...]] = {
    "call": calls.DISPOSITIONS,
    "disposition": incidents.DISPOSITIONS,
    "call-state": ("ringing", "connected", "missed", "ended"),
    "presence": ("logged-out", "available", "paused"),
    "pause": PAUSE_REASONS,
    "dispatch": dispatch.STATUSES,
    "dispatch-reason": FAILURE_REASONS,
    "severity": incidents.SEVERITIES,
    "incident": incidents.INCIDENT_STATUSES,
    "callback": (*callbacks.STATUSES, *callbacks.OUTCOMES),
    "campaign": campaigns.STATUSES,
    "outcome": campaigns.OUTCOMES,
    "taker": TAKER_STATES,
    "route": ROUTE_REASONS,
    "transfer-reason": TRANSFER_REASONS + CALL_REASONS,
}


def test_every_id_the_code_templates_and_scripts_use_is_in_every_catalogue() -> None:
    used = used_ids()
    assert {"login.title", "desk.history", "wall.as_of", "reports.title"} <= used.keys()
    assert missing(catalogue(), used) == []


def test_a_catalogue_that_lacks_an_id_the_code_uses_fails(tmp_path: Path) -> None:
    broken = _copy_catalogues(tmp_path)
    po = broken / "en" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text().replace('msgid "login.title"\nmsgstr "Log in"\n', ""))
    assert missing(Catalogue.load(broken), used_ids()) == [
        f"en: login.title (used at {', '.join(used_ids()['login.title'])})"]


@pytest.mark.parametrize("kind", sorted(CODES))
def test_every_code_has_its_words_in_every_language(kind: str) -> None:
    cat = catalogue()
    for code in CODES[kind]:
        for lang in cat.languages:
            assert CODE_KEYS[kind] + code in cat.ids(lang), (kind, code, lang)


def test_codes_in_words() -> None:
    id_, en = translator("id"), translator("en")
    assert id_.code("call", "cut-by-node-failure") == "terputus karena node mati"
    assert en.code("call", "abandoned-in-queue") == "abandoned in the queue"
    assert id_.code("call", "unconfirmed") == "belum terkonfirmasi"
    assert en.code("route", "after-hours-damkar") == "after damkar's hours: another agency"
    assert id_.code("route", "after-hours-call-taker (pln)") == (
        "di luar jam kerja pln: lewat penerima panggilan")
    assert en.code("call", "something-new") == "something-new"  # never hidden
    assert en.code("call", None) == ""


def test_plural_forms_come_from_each_catalogue() -> None:
    assert translator("en").plural("login.limited", 1, minutes=1).endswith("in 1 minute.")
    assert translator("en").plural("login.limited", 5, minutes=5).endswith("in 5 minutes.")
    assert translator("id").plural("login.limited", 5, minutes=5) == (
        "Terlalu banyak percobaan gagal. Coba lagi dalam 5 menit.")


def test_a_translator_adds_a_regional_language_with_a_po_file_and_no_code(
        tmp_path: Path) -> None:
    locale = _copy_catalogues(tmp_path)
    jv = locale / "jv" / "LC_MESSAGES"
    jv.mkdir(parents=True)
    (jv / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: jv\\n"\n'
        '"Content-Type: text/plain; charset=utf-8\\n"\n'
        '"Plural-Forms: nplurals=1; plural=0;\\n"\n\n'
        'msgid "lang.name"\nmsgstr "Basa Jawa"\n\n'
        'msgid "login.title"\nmsgstr "Mlebu"\n\n'
        'msgid "code.call.abandoned-in-queue"\nmsgstr "ditinggal ing antrean"\n')
    cat = Catalogue.load(locale)
    assert cat.languages == ("id", "en", "jv")
    jv_text = Translator("jv", cat)
    assert jv_text("login.title") == "Mlebu"
    assert jv_text.code("call", "abandoned-in-queue") == "ditinggal ing antrean"
    assert jv_text("login.password") == "Kata sandi"  # not yet translated: Bahasa Indonesia
    assert cat.name_of("jv") == "Basa Jawa"


def test_pybabel_init_starts_a_language_from_the_template(tmp_path: Path) -> None:
    """The documented step (docs/i18n.md: make i18n-init NEW_LANG=jv) gives a file the
    catalogue reads, every id with the existing text beside it for the translator."""
    locale = _copy_catalogues(tmp_path)
    pot = tmp_path / "messages.pot"
    with pot.open("wb") as fp:
        write_po(fp, template(catalogue()))
    CommandLineInterface().run(["pybabel", "-q", "init", "-i", str(pot), "-d", str(locale),
                                "-l", "jv"])
    po = locale / "jv" / "LC_MESSAGES" / "messages.po"
    text = po.read_text()
    assert '#. id: Masuk\n#. en: Log in\nmsgid "login.title"\nmsgstr ""' in text
    po.write_text(text.replace('msgid "login.title"\nmsgstr ""', 'msgid "login.title"\n'
                               'msgstr "Mlebu"'))
    cat = Catalogue.load(locale)
    assert Translator("jv", cat)("login.title") == "Mlebu"
    assert Translator("jv", cat)("logout") == "Keluar"


def test_one_way_to_show_a_time_in_the_centers_zone_and_the_users_language() -> None:
    assert format_time(INSTANT, "id", JAKARTA) == "7 Des 2026 12.24.07 WIB"
    assert format_time(INSTANT, "en", JAKARTA) == "7 Dec 2026 12:24:07 WIB"
    when = datetime(2026, 12, 7, 16, 59, 59, tzinfo=UTC)
    assert format_time(when, "id", zoneinfo.ZoneInfo("Asia/Makassar")) == (
        "8 Des 2026 00.59.59 WITA")
    assert format_time(when, "id", zoneinfo.ZoneInfo("Asia/Jayapura")) == (
        "8 Des 2026 01.59.59 WIT")
    assert format_time(None, "id", JAKARTA) == ""
    assert format_time("2026-12-07T05:24:07", "id", JAKARTA) == "7 Des 2026 12.24.07 WIB"


def test_the_scripts_time_function_gets_what_it_needs() -> None:
    config = script_time_config("id", JAKARTA)
    assert config["zone"] == "Asia/Jakarta" and config["abbreviation"] == "WIB"
    assert config["months"][11] == "Des" and config["pattern"] == "d MMM y HH.mm.ss"


def test_every_time_pattern_uses_only_what_the_scripts_function_knows() -> None:
    """static/i18n.js fills d, dd, M, MM, MMM, y, yyyy, H, HH, mm, ss; nothing else."""
    known = {"d", "dd", "M", "MM", "MMM", "y", "yyyy", "H", "HH", "mm", "ss"}
    cat = catalogue()
    for lang in cat.languages:
        pattern = cat.text(lang, "time.format")
        assert set(re.findall(r"[A-Za-z]+", pattern)) <= known, (lang, pattern)


def test_the_default_language_is_bahasa_indonesia_and_comes_first() -> None:
    assert DEFAULT_LANGUAGE == "id" and catalogue().languages[0] == "id"
    assert translator("xx").lang == "id"
    assert catalogue() is catalogue()  # read once


@functools.cache
def used_ids() -> dict[str, list[str]]:
    """pybabel extract over babel.cfg, once for this module (it reads every source)."""
    return extract_used_ids()


def _copy_catalogues(tmp_path: Path) -> Path:
    locale = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, locale)
    return locale


def test_the_template_translators_start_from_is_up_to_date() -> None:
    """messages.pot is what `make i18n-pot` writes: every id of the catalogue, no other."""
    with TEMPLATE.open("rb") as fp:
        pot = read_po(fp)
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in pot if m.id}
    assert ids == set(catalogue().by_language()[DEFAULT_LANGUAGE]), "run make i18n-pot"
