"""Screen text of the supervisor's strikes page (/strikes), id (default) and en."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "id": {
        "strikes.title": "Nomor dengan strike",
        "strikes.note": "Strike dari panggilan iseng dan panggilan diam dalam jendela "
                        "kebijakan wilayahnya. Buka blokir menghapus semua strike nomor itu; "
                        "setiap buka blokir tercatat di jejak audit.",
        "strikes.none": "Tidak ada nomor dengan strike.",
        "strikes.unavailable": "Daftar strike tidak dapat dibaca sekarang (basis data). "
                               "Coba lagi.",
        "strikes.col.number": "Nomor",
        "strikes.col.region": "Wilayah",
        "strikes.col.strikes": "Strike",
        "strikes.col.level": "Tingkat",
        "strikes.col.last": "Strike terakhir",
        "strikes.col.action": "Tindakan",
        "strikes.level.struck": "tercatat",
        "strikes.level.warn": "diperingatkan",
        "strikes.level.deprioritise": "prioritas diturunkan",
        "strikes.level.block": "diblokir sampai {until}",
        "strikes.level.none": "tanpa tindakan",
        "strikes.unblock": "Buka blokir",
    },
    "en": {
        "strikes.title": "Numbers with strikes",
        "strikes.note": "Strikes from prank and silent calls within the window of their "
                        "region's policy. Unblock clears all of the number's strikes; every "
                        "unblock is in the audit trail.",
        "strikes.none": "No numbers with strikes.",
        "strikes.unavailable": "The strikes cannot be read now (database). Try again.",
        "strikes.col.number": "Number",
        "strikes.col.region": "Region",
        "strikes.col.strikes": "Strikes",
        "strikes.col.level": "Level",
        "strikes.col.last": "Last strike",
        "strikes.col.action": "Action",
        "strikes.level.struck": "recorded",
        "strikes.level.warn": "warned",
        "strikes.level.deprioritise": "deprioritised",
        "strikes.level.block": "blocked until {until}",
        "strikes.level.none": "no action",
        "strikes.unblock": "Unblock",
    },
}
