"""The workspace screen's text, Bahasa Indonesia first (same keys in both; a test checks).
The language is the one the web app chose for this browser (ntpd_ivr/web/i18n.py)."""

from __future__ import annotations

from dataclasses import dataclass

MESSAGES: dict[str, dict[str, str]] = {
    "id": {
        "title": "Meja penerima panggilan",
        "endpoint": "Telepon SIP: {endpoint}",
        "no_endpoint": "Akun ini belum terhubung ke telepon SIP. Minta admin: "
                       "ntpd-ivr user add NAMA --sip-endpoint ENDPOINT.",
        "presence": "Status antrean",
        "state.logged-out": "Tidak masuk antrean",
        "state.available": "Siap menerima",
        "state.paused": "Jeda",
        "queue": "Antrean",
        "reason": "Alasan",
        "reason.break": "Istirahat",
        "reason.wrap-up": "Menyelesaikan catatan",
        "reason.training": "Pelatihan",
        "reason.meeting": "Rapat",
        "reason.other": "Lainnya",
        "login": "Masuk antrean",
        "logout": "Keluar antrean",
        "pause": "Jeda",
        "unpause": "Lanjut menerima",
        "call": "Panggilan",
        "call.none": "Tidak ada panggilan. Panggilan muncul di sini saat telepon Anda berdering.",
        "call.ringing": "Berdering",
        "call.connected": "Tersambung",
        "call.missed": "Tidak dijawab (dialihkan)",
        "call.ended": "Selesai",
        "caller_number": "Nomor penelepon",
        "region": "Wilayah",
        "category": "Kategori IVR",
        "wait": "Waktu tunggu",
        "seconds": "{n} detik",
        "location": "Lokasi",
        "location.none": "Tidak ada lokasi dari operator.",
        "history": "Riwayat penelepon",
        "history.none": "Belum pernah menelepon.",
        "history.incomplete": "Riwayat belum termuat (basis data lambat).",
        "history.arrived_at": "Waktu",
        "history.disposition": "Hasil",
        "unknown": "tidak diketahui",
        "error.no-endpoint": "Akun ini belum terhubung ke telepon SIP.",
        "error.not-logged-in": "Anda belum masuk antrean.",
        "error.already-member": "Anda sudah berada di antrean ini.",
        "error.static-member": "Telepon ini anggota tetap antrean (konfigurasi); "
                               "tidak bisa keluar dari layar.",
        "error.asterisk": "Asterisk menolak perubahan ini. Coba lagi.",
        "dispatch.failed": "Penugasan ke {agency} gagal: {reason}. Penelepon tetap "
                           "tersambung dengan Anda.",
        "dispatch.reason.busy": "semua saluran sibuk",
        "dispatch.reason.no-answer": "tidak dijawab",
        "dispatch.reason.unreachable": "tidak dapat dihubungi",
        "dispatch.reason.refused": "ditolak instansi",
        "dispatch.reason.no-input": "instansi tidak menekan tombol",
        "dispatch.reason.error": "kesalahan sistem",
        "dispatch.reason.interrupted": "terputus saat kontroler dimulai ulang",
        "dispatch.reason.hung-up": "instansi menutup telepon",
    },
    "en": {
        "title": "Call-taker's desk",
        "endpoint": "SIP phone: {endpoint}",
        "no_endpoint": "This account is not tied to a SIP phone. Ask an admin: "
                       "ntpd-ivr user add NAME --sip-endpoint ENDPOINT.",
        "presence": "Queue status",
        "state.logged-out": "Not in a queue",
        "state.available": "Available",
        "state.paused": "Paused",
        "queue": "Queue",
        "reason": "Reason",
        "reason.break": "Break",
        "reason.wrap-up": "Wrap-up",
        "reason.training": "Training",
        "reason.meeting": "Meeting",
        "reason.other": "Other",
        "login": "Log in to queue",
        "logout": "Log out of queue",
        "pause": "Pause",
        "unpause": "Resume",
        "call": "Call",
        "call.none": "No call. A call shows here when your phone rings.",
        "call.ringing": "Ringing",
        "call.connected": "Connected",
        "call.missed": "Not answered (moved on)",
        "call.ended": "Ended",
        "caller_number": "Caller",
        "region": "Region",
        "category": "IVR category",
        "wait": "Wait time",
        "seconds": "{n} s",
        "location": "Location",
        "location.none": "No location from the operator.",
        "history": "Caller's history",
        "history.none": "No earlier calls.",
        "history.incomplete": "History not loaded (database slow).",
        "history.arrived_at": "When",
        "history.disposition": "Outcome",
        "unknown": "unknown",
        "error.no-endpoint": "This account is not tied to a SIP phone.",
        "error.not-logged-in": "You are not logged in to a queue.",
        "error.already-member": "You are already in this queue.",
        "error.static-member": "This phone is a member of its queues by configuration; "
                               "it cannot log out from the screen.",
        "error.asterisk": "Asterisk refused this change. Try again.",
        "dispatch.failed": "Dispatch to {agency} failed: {reason}. The caller stays "
                           "connected with you.",
        "dispatch.reason.busy": "every line busy",
        "dispatch.reason.no-answer": "no answer",
        "dispatch.reason.unreachable": "unreachable",
        "dispatch.reason.refused": "refused by the agency",
        "dispatch.reason.no-input": "the agency pressed no key",
        "dispatch.reason.error": "system error",
        "dispatch.reason.interrupted": "cut off by a controller restart",
        "dispatch.reason.hung-up": "the agency hung up",
    },
}


@dataclass(frozen=True)
class WorkspaceText:
    lang: str

    def __call__(self, key: str, **values: object) -> str:
        return MESSAGES[self.lang][key].format(**values)
