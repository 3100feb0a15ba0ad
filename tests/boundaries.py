"""The example routing config with its example boundaries switched on (config/boundaries/,
illustrative polygons): the keys are commented out in config/routing.example.toml because
the dev stacks and the tests copy that file without its folder; here they are uncommented
with absolute paths, so the copy works wherever it is written."""

from __future__ import annotations

import re
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "config"
EXAMPLE = CONFIG / "routing.example.toml"


def with_boundaries(text: str) -> str:
    found = re.subn(r'^# boundary = "boundaries/', f'boundary = "{CONFIG}/boundaries/', text,
                    flags=re.MULTILINE)
    assert found[1] == 3, "config/routing.example.toml names three example boundaries"
    return found[0]


def example_with_boundaries(folder: Path) -> Path:
    """The example config, boundaries on, written into `folder`; its path."""
    path = folder / "routing-with-boundaries.toml"
    path.write_text(with_boundaries(EXAMPLE.read_text(encoding="utf-8")), encoding="utf-8")
    return path
