"""A small cut of the real idn-area-data 4.0.1 (ODbL, docs/places.md): the provinces Riau
(14) and Sumatera Selatan (16) with all their kab/kota, and the kecamatan and desa/kelurahan
of three: 16.06 Musi Banyuasin, 16.71 Kota Palembang and 14.07 Rokan Hilir (which has a
desa and a kelurahan of one name in one kecamatan). `fixture_package` packs it as npm does."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSION = "4.0.1-fixture"


def fixture_package(dest: Path, *, replace: dict[str, str] | None = None) -> Path:
    """An npm-style tarball of these CSV files at dest/idn-area-data-fixture.tgz;
    `replace`: file name -> other text, for a malformed package."""
    path = dest / "idn-area-data-fixture.tgz"
    files = {f"package/data/{p.name}": p.read_text(encoding="utf-8")
             for p in sorted(HERE.glob("*.csv"))}
    files["package/package.json"] = json.dumps({"name": "idn-area-data", "version": VERSION})
    for name, text in (replace or {}).items():
        files[f"package/data/{name}"] = text
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            blob = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path
