"""Fill the places file from the package: the named regencies are added or replaced, every
other regency already in the file stays. The file is written whole to a temporary name and
renamed, so a reload or a `config check` never reads half of it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from types import MappingProxyType

from ntpd_ivr.places.model import PlacesBook, RegencyPlaces, read_places, render_places
from ntpd_ivr.places.package import AreaData


def import_regencies(data: AreaData, codes: Iterable[str], target: Path,
                     progress: Callable[[RegencyPlaces], None] = lambda _: None) -> PlacesBook:
    """The places file at `target` with `codes` (kab/kota codes) imported from `data`."""
    regencies: dict[str, RegencyPlaces] = {}
    if target.exists():
        before = read_places(target)  # a malformed file is refused, never overwritten blind
        regencies.update(before.regencies)
    for code in codes:
        regency = data.regency(code)
        regencies[code] = regency
        progress(regency)
    book = PlacesBook(str(target), data.package, data.version, MappingProxyType(regencies))
    write_places(book, target, data.integrity)
    return book


def write_places(book: PlacesBook, target: Path, integrity: str = "") -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(render_places(book, integrity))
        os.chmod(scratch, 0o644)
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
