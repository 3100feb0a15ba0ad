"""The routing config's `[texts]` table: how a text session by SMS is acknowledged,
offered and bounded (docs/texts.md). Read through the shared ConfigReader, so a bad value
names the file and the key like the rest of the routing config."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ntpd_ivr.configfile import ConfigReader

DEFAULT_ACK = ("Pesan Anda diterima. Petugas 112 akan membalas. Jika bisa, telepon 112.")
MAX_SMS_CHARS = 459  # what one outgoing SMS may hold (ntpd_ivr/sms/model.MAX_BODY_CHARS)
_QUICK_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class QuickReply:
    id: str
    id_text: str  # Bahasa Indonesia
    en_text: str

    def text(self, language: str) -> str:
        return self.en_text if language == "en" else self.id_text


DEFAULT_QUICK_REPLIES = (
    QuickReply("where", "Di mana lokasi Anda?", "Where are you?"),
    QuickReply("injured", "Apakah ada yang terluka?", "Is anyone injured?"),
    QuickReply("safe", "Apakah Anda aman sekarang?", "Are you safe now?"),
    QuickReply("coming", "Petugas sedang menuju lokasi Anda.", "Help is on the way."),
)


@dataclass(frozen=True)
class TextsConfig:
    """`[texts]`, every key optional."""

    enabled: bool = True
    short_codes: tuple[str, ...] = ("112",)  # an MO SMS to one of these opens a session
    category: str = "unclassified"           # a new session's category until classified
    priority: int = 5                        # its priority among calls (QUEUE_PRIO's scale)
    ack_text: str = DEFAULT_ACK
    offer_timeout_seconds: int = 60          # not taken by then: the wall raises it
    flood_per_minute: int = 6                # a session's messages per minute, more flagged
    max_body_chars: int = 459                # a reply, and what is kept of an incoming one
    quick_replies: tuple[QuickReply, ...] = field(default=DEFAULT_QUICK_REPLIES)

    def quick(self, quick_id: str) -> QuickReply | None:
        return next((q for q in self.quick_replies if q.id == quick_id), None)


def _text(reader: ConfigReader, key: str, default: str, limit: int) -> str:
    value: str = reader.get(key, str, default)
    if not value.strip() or len(value) > limit or not value.isprintable():
        raise reader.fail(key, f"1-{limit} printable characters, got {value!r}")
    return value


def _whole(reader: ConfigReader, key: str, default: int, low: int, high: int) -> int:
    value: int = reader.get(key, int, default)
    if not low <= value <= high:
        raise reader.fail(key, f"must be {low}-{high}, got {value}")
    return value


def parse_texts(reader: ConfigReader, categories: frozenset[str] | None = None) -> TextsConfig:
    """`[texts]` of the routing config; `categories`: the config's, which `category` must
    name."""
    base = TextsConfig()
    codes = reader.strings("short_codes") if "short_codes" in reader.table else base.short_codes
    if not codes or not all(re.fullmatch(r"\+?[0-9]{1,20}", c) for c in codes):
        raise reader.fail("short_codes", f"a list of numbers, got {list(codes)!r}")
    category: str = reader.get("category", str, base.category)
    if categories is not None and category not in categories:
        raise reader.fail("category", f"no category {category!r} (known: "
                          f"{', '.join(sorted(categories))})")
    max_body = _whole(reader, "max_body_chars", base.max_body_chars, 20, MAX_SMS_CHARS)
    quick: list[QuickReply] = []
    if "quick_replies" in reader.table:
        items = reader.get("quick_replies", list)
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise reader.fail(f"quick_replies[{n}]", "expected a table {id, id_text, "
                                  "en_text}")
            sub = ConfigReader(reader.origin, item, reader.where(f"quick_replies[{n}]")
                               .split(": ", 1)[1])
            quick_id: str = sub.get("id", str)
            if not _QUICK_ID.match(quick_id) or any(q.id == quick_id for q in quick):
                raise sub.fail("id", f"a new name of a-z 0-9 -, got {quick_id!r}")
            quick.append(QuickReply(quick_id, _text(sub, "id_text", "", max_body),
                                    _text(sub, "en_text", "", max_body)))
            sub.finish()
    config = TextsConfig(
        enabled=reader.get("enabled", bool, base.enabled),
        short_codes=tuple(codes), category=category,
        priority=_whole(reader, "priority", base.priority, 0, 100),
        ack_text=_text(reader, "ack_text", base.ack_text, MAX_SMS_CHARS),
        offer_timeout_seconds=_whole(reader, "offer_timeout_seconds",
                                     base.offer_timeout_seconds, 5, 3600),
        flood_per_minute=_whole(reader, "flood_per_minute", base.flood_per_minute, 1, 600),
        max_body_chars=max_body,
        quick_replies=tuple(quick) if "quick_replies" in reader.table
        else base.quick_replies)
    reader.finish()
    return config
