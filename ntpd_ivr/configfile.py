"""One TOML config file: read it, and read its tables with errors that name the file and
the key (style rule 7). Used by the settings, the routing config and each domain's section
of it, and the users and call-takers files. Core: imports nothing but errors."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ntpd_ivr.errors import ConfigError


def parse_toml(text: str, origin: str | Path) -> dict[str, Any]:
    """The TOML document in `text`; ConfigError naming `origin` when it is not TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file at `path` (UTF-8). OSError as it comes: each caller says what a
    missing or unreadable file means to it."""
    return parse_toml(path.read_text(encoding="utf-8"), path)


def named_tables(path: Path, section: str,
                 validate_name: Callable[[str], object]) -> Iterator[tuple[str, str, Any]]:
    """Each ``[<section>.<name>]`` of the TOML file at `path`, as (name, where, body):
    `where` is ``<file>: <section>.<name>`` for the caller's error messages, and a name
    `validate_name` refuses is a ConfigError that starts with it. The users file and
    the call-takers file are read this way."""
    for name, body in read_toml(path).get(section, {}).items():
        where = f"{path}: {section}.{name}"
        try:
            validate_name(name)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        yield name, where, body


class ConfigReader:
    """Typed access to one TOML table that remembers where it is, for error messages:
    ``<file>: <path>.<key>: <what is wrong>``. Every config section parser reads through it
    (routing/config.py, prank/config.py), so the messages have one shape."""

    def __init__(self, origin: str, table: Mapping[str, Any], path: str) -> None:
        self.origin, self.table, self.path = origin, table, path
        self.used: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.origin}: {self.path + '.' if self.path else ''}{key}"

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where(key)}: {message}")

    def get(self, key: str, kind: type[Any], default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.table:
            if default is ...:
                raise self.fail(key, "missing")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(key, f"expected {kind.__name__}, got {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list, [])
        if not all(isinstance(v, str) for v in values):
            raise self.fail(key, f"expected a list of strings, got {values!r}")
        return tuple(values)

    def sub(self, key: str, default: Any = ...) -> ConfigReader:
        return ConfigReader(self.origin, self.get(key, dict, default),
                            self.where(key).split(": ", 1)[1])

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key")
