"""The user's language, chosen per browser by cookie; the text itself is the one catalogue's
(ntpd_ivr/i18n: gettext .po files, Bahasa Indonesia the default). JSON error reasons stay in
English: they are for the people who write integrations, not for call-takers.
"""

from __future__ import annotations

from aiohttp import web

from ntpd_ivr.i18n import DEFAULT_LANGUAGE, Translator, catalogue
from ntpd_ivr.i18n import translator as translator_for

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LANG_COOKIE", "LANG_COOKIE_SECONDS", "Translator",
           "language_of", "translator"]

# Read once, at start: a broken .po file stops the service here, not on a page.
LANGUAGES = catalogue().languages
LANG_COOKIE = "ntpd_lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600


def language_of(request: web.Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def translator(request: web.Request) -> Translator:
    return translator_for(language_of(request))
