"""Recording files and the retention rule, pure: names in, decisions out.

Asterisk's MixMonitor writes `<uniqueid>.wav` for every 112 call (dialplan
ntpd-emergency.conf) into a folder outside any web root. A uniqueid is Asterisk's
`<epoch>.<sequence>`: nothing else is ever looked up or served, so a request can never
name another file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SUFFIX = ".wav"
_UNIQUEID = re.compile(r"^[0-9]{1,20}\.[0-9]{1,10}$")


def valid_uniqueid(uniqueid: str) -> bool:
    return bool(_UNIQUEID.match(uniqueid))


def file_name(uniqueid: str) -> str:
    if not valid_uniqueid(uniqueid):
        raise ValueError(f"not an Asterisk uniqueid: {uniqueid!r}")
    return uniqueid + SUFFIX


def uniqueid_of(name: str) -> str | None:
    """The uniqueid of a recording's file name, None for any other file."""
    if not name.endswith(SUFFIX):
        return None
    stem = name[:-len(SUFFIX)]
    return stem if valid_uniqueid(stem) else None


@dataclass(frozen=True)
class RecordingFile:
    name: str
    modified: float  # mtime, epoch seconds: when MixMonitor last wrote it (the call's end)
    size: int


def expired(files: Iterable[RecordingFile], now: float, retention_days: float
            ) -> list[RecordingFile]:
    """The recordings older than the retention period (by their last write, the call's
    end), oldest first; files that are not recordings are never touched."""
    cutoff = now - retention_days * 86400
    return sorted((f for f in files if uniqueid_of(f.name) is not None and f.modified < cutoff),
                  key=lambda f: (f.modified, f.name))
