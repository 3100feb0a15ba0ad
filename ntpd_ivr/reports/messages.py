"""Screen text of the report page, id (default) and en."""

from __future__ import annotations

_COLUMNS_ID = {
    "group": "Kelompok", "offered": "Masuk", "answered": "Dijawab", "abandoned": "Ditinggal",
    "in_progress": "Berlangsung", "answered_within_10s_pct": "≤10 d (%)",
    "answered_within_15s_pct": "≤15 d (%)", "answered_within_20s_pct": "≤20 d (%)",
    "answered_within_n_pct": "≤N d (%)", "average_answer_seconds": "Rata-rata jawab (d)",
    "slowest_10pct_average_seconds": "10 % terlambat (d)",
    "abandon_rate_pct": "Tingkat ditinggal (%)", "prank": "Iseng", "prank_pct": "Iseng (%)",
    "ghost": "Diam", "ghost_pct": "Diam (%)", "dispatches": "Penugasan",
    "dispatch_answer_within_pct": "Jawab instansi sesuai komitmen (%)",
    "dispatch_accept_p50_seconds": "Terima p50 (d)",
    "dispatch_accept_within_pct": "Terima sesuai komitmen (%)",
    "dispatch_on_scene_p50_seconds": "Tiba p50 (d)",
    "dispatch_on_scene_within_pct": "Tiba sesuai komitmen (%)",
}
_COLUMNS_EN = {
    "group": "Group", "offered": "Offered", "answered": "Answered", "abandoned": "Abandoned",
    "in_progress": "In progress", "answered_within_10s_pct": "≤10 s (%)",
    "answered_within_15s_pct": "≤15 s (%)", "answered_within_20s_pct": "≤20 s (%)",
    "answered_within_n_pct": "≤N s (%)", "average_answer_seconds": "Average answer (s)",
    "slowest_10pct_average_seconds": "Slowest 10 % (s)",
    "abandon_rate_pct": "Abandon rate (%)", "prank": "Prank", "prank_pct": "Prank (%)",
    "ghost": "Ghost", "ghost_pct": "Ghost (%)", "dispatches": "Dispatches",
    "dispatch_answer_within_pct": "Agency answer within commitment (%)",
    "dispatch_accept_p50_seconds": "Accept p50 (s)",
    "dispatch_accept_within_pct": "Accept within commitment (%)",
    "dispatch_on_scene_p50_seconds": "On scene p50 (s)",
    "dispatch_on_scene_within_pct": "On scene within commitment (%)",
}

MESSAGES: dict[str, dict[str, str]] = {
    "id": {
        "reports.title": "Laporan panggilan 112",
        "reports.period": "Periode {start} s.d. {end} ({zone}), N = {n} detik",
        "reports.from": "Dari", "reports.to": "Sampai", "reports.by": "Per",
        "reports.within": "N (detik)", "reports.region": "Wilayah", "reports.show": "Tampilkan",
        "reports.by.day": "hari", "reports.by.week": "minggu", "reports.by.month": "bulan",
        "reports.by.region": "wilayah", "reports.by.category": "kategori",
        "reports.by.agency": "instansi", "reports.by.calltaker": "penerima panggilan",
        "reports.chart.offered": "Panggilan masuk",
        "reports.chart.within": "Dijawab dalam {n} detik (% dari panggilan masuk)",
        "reports.none": "Tidak ada panggilan dalam periode ini.",
        "reports.download": "Unduh", "reports.total": "semua",
        "reports.commitments": "Komitmen layanan instansi (per penugasan)",
        **{f"reports.col.{k}": v for k, v in _COLUMNS_ID.items()},
    },
    "en": {
        "reports.title": "112 call report",
        "reports.period": "Period {start} to {end} ({zone}), N = {n} seconds",
        "reports.from": "From", "reports.to": "To", "reports.by": "By",
        "reports.within": "N (seconds)", "reports.region": "Region", "reports.show": "Show",
        "reports.by.day": "day", "reports.by.week": "week", "reports.by.month": "month",
        "reports.by.region": "region", "reports.by.category": "category",
        "reports.by.agency": "agency", "reports.by.calltaker": "call-taker",
        "reports.chart.offered": "Calls offered",
        "reports.chart.within": "Answered within {n} s (% of offered)",
        "reports.none": "No calls in this period.",
        "reports.download": "Download", "reports.total": "all",
        "reports.commitments": "Agency service commitments (per dispatch)",
        **{f"reports.col.{k}": v for k, v in _COLUMNS_EN.items()},
    },
}
