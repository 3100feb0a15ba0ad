"""Screen text in Bahasa Indonesia (the default) and English, chosen per browser by cookie.

One catalogue per language with the same keys; `tests/unit/test_web_pieces.py` checks that
every key and every `{placeholder}` exists in both. JSON error reasons stay in English:
they are for the people who write integrations, not for call-takers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
LANG_COOKIE = "ntpd_lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600

MESSAGES: dict[str, dict[str, str]] = {
    "id": {
        "app.name": "NTPD 112",
        "lang.name": "Bahasa Indonesia",
        "lang.switch": "English",
        "login.title": "Masuk",
        "login.user": "Nama pengguna",
        "login.password": "Kata sandi",
        "login.submit": "Masuk",
        "login.failed": "Nama pengguna atau kata sandi salah.",
        "login.limited": "Terlalu banyak percobaan gagal. Coba lagi dalam {minutes} menit.",
        "login.bad_input": "Isi nama pengguna dan kata sandi.",
        "logout": "Keluar",
        "user.signed_in": "{user} ({role})",
        "role.calltaker": "penerima panggilan",
        "role.supervisor": "supervisor",
        "role.admin": "admin",
        "role.agency": "instansi",
        "home.title": "Panggilan terakhir",
        "home.none": "Belum ada panggilan.",
        "col.arrived_at": "Masuk",
        "col.caller_number": "Nomor penelepon",
        "col.dialed": "Nomor tujuan",
        "col.category": "Kategori",
        "col.queue": "Antrean",
        "col.answered_by": "Dijawab oleh",
        "col.answered_at": "Dijawab",
        "col.ended_at": "Selesai",
        "col.hangup_cause_text": "Sebab putus",
        "live.title": "Siaran langsung",
        "live.connecting": "Menghubungkan…",
        "live.live": "Tersambung",
        "live.offline": "Terputus, menyambung ulang…",
        "live.empty": "Belum ada pesan.",
        "error.title": "Permintaan ditolak",
        "error.back": "Kembali",
        "error.csrf": "Token keamanan formulir (CSRF) tidak ada atau tidak cocok. "
                      "Muat ulang halaman lalu coba lagi.",
        "error.forbidden": "Peran Anda tidak diizinkan membuka halaman ini.",
        "error.bad-request": "Permintaan tidak sah.",
        "nav.title": "Layar",
        "nav.workspace": "Meja penerima panggilan",
        "nav.agency": "Penugasan instansi",
        "nav.commitments": "Laporan komitmen instansi",
        "nav.callbacks": "Panggilan balik",
        "nav.wall": "Dinding supervisor",
        "nav.recordings": "Rekaman panggilan",
        "nav.reports": "Laporan",
        "nav.warnings": "Peringatan dini",
        "nav.strikes": "Nomor dengan strike",
    },
    "en": {
        "app.name": "NTPD 112",
        "lang.name": "English",
        "lang.switch": "Bahasa Indonesia",
        "login.title": "Log in",
        "login.user": "User name",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.failed": "Unknown user or wrong password.",
        "login.limited": "Too many failed attempts. Try again in {minutes} minutes.",
        "login.bad_input": "Enter a user name and a password.",
        "logout": "Log out",
        "user.signed_in": "{user} ({role})",
        "role.calltaker": "call-taker",
        "role.supervisor": "supervisor",
        "role.admin": "admin",
        "role.agency": "agency",
        "home.title": "Latest calls",
        "home.none": "No calls yet.",
        "col.arrived_at": "Arrived",
        "col.caller_number": "Caller",
        "col.dialed": "Dialled",
        "col.category": "Category",
        "col.queue": "Queue",
        "col.answered_by": "Answered by",
        "col.answered_at": "Answered",
        "col.ended_at": "Ended",
        "col.hangup_cause_text": "Hang-up cause",
        "live.title": "Live messages",
        "live.connecting": "Connecting…",
        "live.live": "Connected",
        "live.offline": "Disconnected, reconnecting…",
        "live.empty": "No messages yet.",
        "error.title": "Request refused",
        "error.back": "Back",
        "error.csrf": "The form's security token (CSRF) is missing or does not match. "
                      "Reload the page and try again.",
        "error.forbidden": "Your role may not open this page.",
        "error.bad-request": "Bad request.",
        "nav.title": "Screens",
        "nav.workspace": "Call-taker's desk",
        "nav.agency": "Agency dispatches",
        "nav.commitments": "Agency commitment report",
        "nav.callbacks": "Callbacks",
        "nav.wall": "Supervisor's wall",
        "nav.recordings": "Call recordings",
        "nav.reports": "Reports",
        "nav.warnings": "Early warnings",
        "nav.strikes": "Numbers with strikes",
    },
}


def add_messages(catalogue: Mapping[str, Mapping[str, str]]) -> None:
    """A domain package's own screen text (ntpd_ivr/<domain>/messages.py), merged once:
    both languages, the same keys, no key taken from another package."""
    if set(catalogue) != set(LANGUAGES) or len({frozenset(m) for m in catalogue.values()}) != 1:
        raise ValueError(f"a catalogue has the same keys in each of {LANGUAGES}")
    for lang, messages in catalogue.items():
        for key, text in messages.items():
            if MESSAGES[lang].setdefault(key, text) != text:
                raise ValueError(f"message {key!r} is already defined otherwise")


@dataclass(frozen=True)
class Translator:
    lang: str

    def __call__(self, key: str, **values: object) -> str:
        return MESSAGES[self.lang][key].format(**values)


def language_of(request: web.Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def translator(request: web.Request) -> Translator:
    return Translator(language_of(request))
