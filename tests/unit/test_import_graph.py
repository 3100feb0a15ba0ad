"""The import graph of ntpd_ivr, read with `ast` (no code runs): no circles, arrows point down.

Layers, top to bottom (a module may import its own layer's modules and anything below):

    root     ntpd_ivr/app.py, cli.py, __main__.py, core.py (the shared parts, built once),
             every <domain>/plugin.py and the tables registry (ntpd_ivr/tables.py): they wire
             the whole product and may import anything. Only root imports root.
    tools    bench/ over stack/: the dev stacks and benchmarks that drive the product from
             outside. stack/ never imports bench/.
    domains  every other package (calls, routing, ivr, incidents, prank, workspace, ...).
    core     the top-level modules (settings, errors, clock, jsontext, background, period,
             configfile, core, bus, ...) and the packages agi, ami, audit, db, i18n and web. Core
             imports no domain, tool or root module.

A domain may use another domain's public surface only. Its internals are:
    - any name that starts with "_" (in another top-level package: applies to every layer);
    - any module outside PUBLIC_MODULES (plus PUBLIC_EXTRA): a domain's service, store,
      http, ami, commands... are its own; others reach it through its model, events,
      tables, repository, config, exceptions, schemas or messages, or through the bus.
KNOWN_INTERNAL lists the cross-domain arrows to internals that main had when this test came
(issue 20), each to be removed by moving what is shared into a public module; it may only
shrink: an entry that no longer occurs fails the test too, so the list stays true.

Imports inside functions and under TYPE_CHECKING count: they are arrows all the same.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ntpd_ivr"

CORE_PACKAGES = frozenset({"agi", "ami", "audit", "db", "i18n", "web"})
TOOL_PACKAGES = ("bench", "stack")  # higher first
ROOT_MODULES = frozenset({"ntpd_ivr.app", "ntpd_ivr.cli", "ntpd_ivr.__main__",
                          "ntpd_ivr.core", "ntpd_ivr.tables"})
PUBLIC_MODULES = frozenset({"model", "events", "tables", "repository", "config",
                            "exceptions", "schemas", "messages", "plugin"})
PUBLIC_EXTRA = frozenset({
    "ntpd_ivr.calls.values",      # the calls domain's model (CallStep, CallUpdate, ...)
    "ntpd_ivr.routing.engine",    # the pure routing decision every call goes through
    "ntpd_ivr.location.aml",      # pure parsers of the AML SMS and the ELS POST formats
    "ntpd_ivr.location.pidf",     # the pure PIDF-LO parser (EIDO locations are PIDF-LO)
    "ntpd_ivr.api.http",          # /api/v1's token, role and agency-scope check (api_route),
                                  # for every domain's /api/v1 routes (eido)
    "ntpd_ivr.api.params",        # /api/v1's typed parameters, stated in its OpenAPI
})
KNOWN_INTERNAL = frozenset({
    ("ntpd_ivr.dispatch.model", "ntpd_ivr.ivr.prompts"),
    ("ntpd_ivr.ivr.emergency", "ntpd_ivr.location.service"),
    ("ntpd_ivr.reports.commands", "ntpd_ivr.incidents.commitments"),
    ("ntpd_ivr.reports.grouped", "ntpd_ivr.incidents.commitments"),
    ("ntpd_ivr.reports.report", "ntpd_ivr.incidents.commitments"),
})


@dataclass(frozen=True)
class Arrow:
    source: str   # importing module, dotted
    line: int
    target: str   # imported module, dotted
    name: str     # the name taken from it, "" for a whole module

    def __str__(self) -> str:
        what = f"{self.target}.{self.name}" if self.name else self.target
        return f"{self.source}:{self.line} -> {what}"


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def arrows(found: dict[str, Path]) -> Iterator[Arrow]:
    for module, path in found.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "ntpd_ivr":
                        yield Arrow(module, node.lineno, _known(alias.name, found), "")
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                if target.split(".")[0] != "ntpd_ivr":
                    continue
                for alias in node.names:
                    if f"{target}.{alias.name}" in found:   # a module: from pkg import mod
                        yield Arrow(module, node.lineno, f"{target}.{alias.name}", "")
                    else:
                        yield Arrow(module, node.lineno, _known(target, found), alias.name)


def _known(target: str, found: dict[str, Path]) -> str:
    while target not in found and "." in target:
        target = target.rpartition(".")[0]
    return target


def top(module: str) -> str:
    """The top-level package or module under ntpd_ivr: 'calls' for ntpd_ivr.calls.keeper."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(module: str, found: dict[str, Path]) -> str:
    if module in ROOT_MODULES or module.endswith(".plugin") or module == "ntpd_ivr":
        return "root"
    package = top(module)
    if package in TOOL_PACKAGES:
        return "tools"
    if package in CORE_PACKAGES or (module.count(".") == 1
                                    and found[module].name != "__init__.py"):
        return "core"
    return "domain"


def is_public(module: str) -> bool:
    return module.rpartition(".")[2] in PUBLIC_MODULES or module in PUBLIC_EXTRA


def circles(found: dict[str, Path], all_arrows: list[Arrow]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = {m: set() for m in found}
    for arrow in all_arrows:
        if arrow.target != arrow.source and arrow.target in graph:
            graph[arrow.source].add(arrow.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        result.append(sorted(component))
    return result


def wrong_arrows(found: dict[str, Path], all_arrows: list[Arrow]) -> list[str]:
    wrong = []
    for arrow in all_arrows:
        source, target = arrow.source, arrow.target
        if top(source) == top(target):
            continue
        src, dst = layer(source, found), layer(target, found)
        if arrow.name.startswith("_"):
            wrong.append(f"{arrow}: another package's private name")
        if dst == "root" and src != "root":
            wrong.append(f"{arrow}: only the composition root imports the root")
        elif src == "core" and dst != "core":
            wrong.append(f"{arrow}: core imports a {dst} module")
        elif src == "domain" and dst == "tools":
            wrong.append(f"{arrow}: a domain imports the dev tools")
        elif src == dst == "tools" and TOOL_PACKAGES.index(top(source)) > \
                TOOL_PACKAGES.index(top(target)):
            wrong.append(f"{arrow}: {top(source)}/ sits below {top(target)}/")
        elif src == dst == "domain" and not is_public(target) \
                and (source, target) not in KNOWN_INTERNAL:
            wrong.append(f"{arrow}: another domain's internal module (use its public "
                         f"{'/'.join(sorted(PUBLIC_MODULES))}, or the bus)")
    return sorted(set(wrong))


def test_the_import_graph_has_no_circles() -> None:
    found = modules()
    found_circles = circles(found, list(arrows(found)))
    assert not found_circles, "import circles:\n" + "\n".join(map(" <-> ".join, found_circles))


def test_arrows_point_down_and_stay_out_of_other_domains_internals() -> None:
    found = modules()
    wrong = wrong_arrows(found, list(arrows(found)))
    assert not wrong, "arrows that point the wrong way:\n" + "\n".join(wrong)


def test_known_internal_arrows_only_shrink() -> None:
    found = modules()
    present = {(a.source, a.target) for a in arrows(found)}
    assert sorted(KNOWN_INTERNAL - present) == [], "fixed: remove them from KNOWN_INTERNAL"
    allowed_anyway = [(source, target) for source, target in KNOWN_INTERNAL
                      if is_public(target) or top(source) == top(target)]
    assert allowed_anyway == [], "allowed without KNOWN_INTERNAL: remove them from it"


def test_the_graph_reader_sees_what_it_must(tmp_path: Path) -> None:
    """The checks above pass on a graph they can read: prove they catch each fault."""
    package = tmp_path / "ntpd_ivr"
    files = {
        "settings.py": "from ntpd_ivr.calls import store\n",
        "calls/__init__.py": "",
        "calls/store.py": "from ntpd_ivr.calls.tables import Call\nimport ntpd_ivr.settings\n",
        "calls/tables.py": "from . import store\n",
        "wall/__init__.py": "",
        "wall/service.py": "from ntpd_ivr.calls.store import _query\n"
                           "from ntpd_ivr.calls.tables import Call\n"
                           "from ntpd_ivr.stack import sipp\n",
        "stack/__init__.py": "",
        "stack/sipp.py": "from ntpd_ivr.bench.load import run\n",
        "bench/__init__.py": "",
        "bench/load.py": "from ntpd_ivr.app import main\n",
        "app.py": "",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    found = modules(package)
    all_arrows = list(arrows(found))
    assert circles(found, all_arrows) == [
        ["ntpd_ivr.calls.store", "ntpd_ivr.calls.tables", "ntpd_ivr.settings"]]
    wrong = wrong_arrows(found, all_arrows)
    assert wrong == sorted([
        "ntpd_ivr.bench.load:1 -> ntpd_ivr.app.main: only the composition root imports "
        "the root",
        "ntpd_ivr.settings:1 -> ntpd_ivr.calls.store: core imports a domain module",
        "ntpd_ivr.stack.sipp:1 -> ntpd_ivr.bench.load.run: stack/ sits below bench/",
        "ntpd_ivr.wall.service:1 -> ntpd_ivr.calls.store._query: another domain's internal "
        "module (use its public config/events/exceptions/messages/model/plugin/repository/"
        "schemas/tables, or the bus)",
        "ntpd_ivr.wall.service:1 -> ntpd_ivr.calls.store._query: another package's private "
        "name",
        "ntpd_ivr.wall.service:3 -> ntpd_ivr.stack.sipp: a domain imports the dev tools",
    ])
