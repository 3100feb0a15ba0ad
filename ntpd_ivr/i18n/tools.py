"""The catalogue's tooling, for translators and tests (never at run time).

    python -m ntpd_ivr.i18n.tools pot     write messages.pot: every id, with its Bahasa
                                          Indonesia and English text as comments, the
                                          template `pybabel init` starts a language from
    python -m ntpd_ivr.i18n.tools check   every id the code uses, in every catalogue

Message ids are keys, so a translator reads the meaning from the comments the template
carries (`#. id: ...`, `#. en: ...`); `make i18n-init NEW_LANG=jv` (docs/i18n.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import write_po

from ntpd_ivr.i18n import DEFAULT_LANGUAGE, LOCALE_DIR, Catalogue

ROOT = Path(__file__).resolve().parents[2]
BABEL_CFG = ROOT / "babel.cfg"
TEMPLATE = Path(__file__).with_name("messages.pot")
# t("key", ...) in Python, the templates and the scripts; t.plural("key", n, ...).
KEYWORDS = {"t": (1,), "plural": (1,)}


def used_ids(root: Path = ROOT, config: Path = BABEL_CFG) -> dict[str, list[str]]:
    """Every literal id the code, the templates and the scripts use (`pybabel extract`
    over babel.cfg), with where; ids built at run time (codes, `${...}`) are not here."""
    with config.open() as fp:
        method_map, options_map = parse_mapping_cfg(fp)  # type: ignore[no-untyped-call]
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(root), method_map, options_map, keywords=KEYWORDS, comment_tags=()):
        key = message if isinstance(message, str) else message[0]
        if key and "${" not in key:
            found.setdefault(key, []).append(f"{filename}:{lineno}")
    return found


def missing(catalogue: Catalogue, used: dict[str, list[str]]) -> list[str]:
    """What a catalogue lacks of what the code uses: one line each."""
    return [f"{lang}: {key} (used at {', '.join(where)})"
            for lang in catalogue.languages for key, where in sorted(used.items())
            if key not in catalogue.ids(lang)]


def template(catalogue: Catalogue) -> Catalog:
    """The .pot: every id, empty, with the existing languages' text as comments."""
    pot = Catalog(project="ntpd-ivr", domain="messages", fuzzy=False)
    tables = catalogue.by_language()
    reference = tables[DEFAULT_LANGUAGE]
    for key in sorted(reference):
        comments = [f"{lang}: {tables[lang][key]}" for lang in catalogue.languages
                    if key in tables[lang]]
        plural = key in catalogue.plural_ids()
        pot.add((key, key) if plural else key, ("", "") if plural else "",
                auto_comments=comments)
    return pot


def main(argv: list[str]) -> int:
    catalogue = Catalogue.load(LOCALE_DIR)
    if argv == ["pot"]:
        with TEMPLATE.open("wb") as fp:
            write_po(fp, template(catalogue), width=100, sort_output=True)
        print(f"wrote {TEMPLATE}")
        return 0
    if argv == ["check"]:
        lacking = missing(catalogue, used_ids())
        for line in lacking:
            print(line, file=sys.stderr)
        return 1 if lacking else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
